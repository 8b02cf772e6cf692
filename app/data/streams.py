"""Cluster mode's durable log: ingest appends to Redis streams, and every process tails
every stream into its own store.

``StreamLog`` is the ``IngestLog`` of cluster mode (``app.data.log``). A batch is checked
against the dataset's schema as Redis holds it (a dataset created at another process a
moment ago included), appended by ``RedisLog`` in one atomic step, and acknowledged with
the version and epoch Redis gave it. Nothing is applied to the store by the ingest
itself: one reader (``run``, a green thread) applies every stream in stream order, at
every process, so a dataset's version is the entry's version everywhere. The ingest waits
until its own process has applied the batch (one XREAD round trip, ~1 ms), so what it
acknowledged is what that process shows next.

Names: CSV files in a process's data folder stay datasets of that process. A name that
is a file here is never taken over by a stream of that name (the stream is skipped here,
with a warning, until the file goes away), and ingest to it answers 409: give streams
names no file has.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import Conflict, Unavailable
from .ingest import DecodedBody, validate
from .log import Receipt
from .redislog import (
    Broken,
    Created,
    Cursors,
    Dropped,
    Event,
    LogCorrupt,
    LogUnavailable,
    RedisLog,
    RetentionMismatch,
    SchemaMismatch,
    StreamBatch,
)
from .schema import Batch, Schema
from .store import Store

log = logging.getLogger("dash.streams")
SOURCE = "stream"  # Dataset.source of a dataset that comes from the shared log
BLOCK_MS = 1000  # the reader's XREAD waits this long for news before looking around
APPLIED_WAIT = 2.0  # seconds an ingest waits for its own process to apply its batch
BACKOFF = (0.05, 2.0)  # seconds the reader waits after a failed read: first, at most
TRIM_EVERY = 10.0  # seconds between passes trimming the streams to what memory keeps
# Seconds between readings of Redis's durability settings (one CONFIG GET): a
# `CONFIG SET appendfsync no` made at run time is refused within this time.
DURABILITY_EVERY = 5.0
RETRY_AFTER = 1  # seconds a client should wait after the log was unreachable


def schema_json(schema: Schema) -> str:
    """``schema`` as the JSON the log keeps (``RedisLog`` sorts its keys)."""
    return json.dumps(asdict(schema))


def parse_schema(text: str) -> Schema:
    """The schema the log keeps as ``text``."""
    return Schema.from_fields(json.loads(text))


def merge(batches: list[Batch]) -> Batch:
    """One batch holding ``batches`` one after the other (labels missing from some: None)."""
    if len(batches) == 1:
        return batches[0]
    names = dict.fromkeys(name for batch in batches for name in batch.labels)
    labels = {name: np.concatenate([batch.labels[name] if name in batch.labels
                                    else np.full(len(batch), None, dtype=object)
                                    for batch in batches]) for name in names}
    return Batch(ts=np.concatenate([batch.ts for batch in batches]),
                 metric=np.concatenate([batch.metric for batch in batches]),
                 value=np.concatenate([batch.value for batch in batches]),
                 labels=labels, skipped=sum(batch.skipped for batch in batches),
                 rows=sum(len(batch) if batch.rows is None else batch.rows
                          for batch in batches))


@dataclass
class Link:
    """How this process's reader stands with Redis (``/healthz``, ``/metrics``)."""

    up: bool = True
    since: float = 0.0  # time.time() of the last change of ``up``
    error: str | None = None
    lag: float = 0.0  # seconds from Redis storing the newest entry applied to applying it
    applied: int = 0  # entries applied since start
    retention_error: str | None = None  # why this process no longer trims (None: it does)


class StreamLog:
    """Ingest into Redis streams, and the one reader that applies them to the store."""

    def __init__(self, redis_log: RedisLog, store: Store,
                 offload: Callable[..., Any] | None = None,
                 is_file: Callable[[str], bool] = lambda name: False,
                 strict: bool = True) -> None:
        self.log = redis_log
        self.strict = strict  # refuse ingest while Redis could lose it (not relaxed)
        self.store = store
        self.offload = offload or (lambda fn, *args: fn(*args))
        self.is_file = is_file  # True for a name that is a CSV file of this process
        self.reserved: dict[str, str] = {}  # name -> why ingest may not write it (the demo)
        self.link = Link(since=time.time())
        self.on_applied: Callable[[float], None] | None = None  # gets each entry's lag (s)
        self.on_error: Callable[[str], None] | None = None  # a stream newly unreadable
        self.on_link: Callable[[bool], None] | None = None  # the reader lost (False) or
        # regained (True) Redis: pages say "reconnecting" meanwhile
        self.cursors = Cursors()
        # A reader runs in the background (set before it starts, so that no request reads
        # the log itself meanwhile: two readers would apply the same events twice).
        self.following = False
        self._changed = threading.Condition()
        self._skipped: set[str] = set()  # streams named like a file here (warned once)
        self._trimmed: dict[str, int] = {}  # name -> oldest point kept at its last trim
        self._trim_due = 0.0
        self._durability_due = 0.0

    # -- ingest ---------------------------------------------------------------

    def append(self, name: str, points: DecodedBody) -> Receipt:
        """Validate ``points`` against dataset ``name``'s schema in Redis (inferred from
        them for a new dataset), append them, and return Redis's version and epoch.

        ``Rejected`` for bad points, ``Conflict`` for a name that is a file of this
        process or the demo, ``Unavailable`` when Redis cannot store them: nothing stored.
        """
        if self.is_file(name):
            raise Conflict(f"{name!r} is a data file of this process ({name}.csv); in cluster "
                           "mode ingest writes to Redis streams, which a file cannot take: "
                           "send points to another name")
        if name in self.reserved:
            raise Conflict(self.reserved[name])
        if self.strict and self.log.problems:
            raise Unavailable("Redis could lose acknowledged points now ("
                              + "; ".join(self.log.problems) + "): the batch was not stored; "
                              "send it again once Redis is configured safely", RETRY_AFTER)
        for _ in range(2):  # a second time if another process created it meanwhile
            stored = self._unavailable(self.log.schema, name)
            validated = self.offload(validate, points,
                                     None if stored is None else parse_schema(stored))
            local = self.store.find(name)
            if local is not None and local.source == SOURCE and local.schema == validated.schema:
                local.admit(validated.batch)
            else:
                self.store.admit(validated.schema, validated.batch)
            try:
                version, epoch = self._unavailable(self.log.append, name,
                                                   schema_json(validated.schema),
                                                   validated.batch)
            except SchemaMismatch:
                continue  # created meanwhile with other columns: check against those
            self.wait_applied(name, version, epoch, APPLIED_WAIT)
            return Receipt(version, epoch)
        raise Conflict(f"dataset {name!r} was created again with other columns while this "
                       "batch was checked; send it again")

    def _unavailable(self, method: Callable[..., Any], *args: Any) -> Any:
        """``method(*args)``, with ``LogUnavailable`` as the ``Unavailable`` clients see
        (without the Redis URL, which may hold a password)."""
        try:
            return method(*args)
        except LogUnavailable as exc:
            log.warning("redis unavailable for ingest", extra={"event": "redis",
                                                               "error": str(exc)})
            raise Unavailable("the shared log (Redis) cannot store points right now: the "
                              "batch was not stored; send it again", RETRY_AFTER) from None

    def wait_applied(self, name: str, version: int, epoch: str, timeout: float) -> bool:
        """Wait until this process shows ``name`` at ``version`` of ``epoch`` or later;
        False after ``timeout`` s (e.g. Redis went away just after the append). Without a
        reader in the background (tests, tools) the stream is read here."""
        def applied() -> bool:
            dataset = self.store.find(name)
            return dataset is not None and dataset.epoch == epoch and dataset.version >= version

        deadline = time.monotonic() + timeout
        if not self.following:
            while not applied() and time.monotonic() < deadline:
                if not self.poll(0):
                    break
            return applied()
        with self._changed:
            while not applied():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    # -- reading --------------------------------------------------------------

    def start(self) -> list[str]:
        """Read every dataset the log has now into the store (each from its first entry
        kept); the names. ``LogUnavailable`` if Redis cannot be reached."""
        self.cursors, created = self.log.start()
        names = []
        for event in created:
            if not self._create(event):
                continue
            try:
                entries = self.log.replay(event.dataset, event.epoch)
            except LogCorrupt:
                continue  # the reader meets the entry again and reports it
            if entries:
                self._apply(event.dataset, entries)
                self.cursors.streams[event.dataset] = entries[-1].id
            names.append(event.dataset)
        for name in names:
            self.store.changed(name)
        return names

    def poll(self, block_ms: int) -> int:
        """Apply what the log has after the cursors, waiting up to ``block_ms`` ms for it
        (0: not at all); the number of events. ``LogUnavailable`` if Redis is unreachable."""
        events = self.log.read(self.cursors, block_ms)
        changed = self._handle(events)
        for name in [n for n in self._skipped if not self.is_file(n)]:
            if self._adopt(name):  # its file went away: the stream shows here now
                changed.add(name)
        for name in changed:
            self.store.changed(name)
        if changed:
            with self._changed:
                self._changed.notify_all()
        return len(events)

    def run(self, sleep: Callable[[float], object]) -> None:
        """Tail every stream forever (the one reader green thread): ``tick`` after tick;
        while Redis is away, retry with a growing pause."""
        self.following = True
        delay = BACKOFF[0]
        while True:
            try:
                if self.tick():
                    delay = BACKOFF[0]
                    continue
            except Exception:  # the reader must outlive anything one entry does
                log.exception("stream reader failed", extra={"event": "error"})
                delay = BACKOFF[1]
            sleep(delay)
            delay = min(delay * 2, BACKOFF[1])

    def tick(self) -> bool:
        """One step of the reader: block on XREAD (``BLOCK_MS``), apply, trim and check
        Redis's durability now and then. False when Redis could not be reached: the link
        is marked down (pages are told), within ``BLOCK_MS`` + ``READ_MARGIN`` of a hang."""
        try:
            self.poll(BLOCK_MS)
            if not self.link.up:
                log.warning("redis reachable again", extra={"event": "redis", "up": True})
                self.link.up, self.link.since, self.link.error = True, time.time(), None
                if self.on_link is not None:
                    self.on_link(True)
            self.trim()
            self.check_durability()
        except LogUnavailable as exc:
            if self.link.up:
                log.warning("redis unreachable; retrying", extra={
                    "event": "redis", "up": False, "error": str(exc)})
                self.link.up, self.link.since = False, time.time()
                if self.on_link is not None:
                    self.on_link(False)
            self.link.error = str(exc)
            return False
        return True

    def trim(self, now: float | None = None) -> int:
        """At most every ``TRIM_EVERY`` s: drop from each stream the entries whose points
        memory no longer keeps (retention); how many. Every process may do it: trimming
        to the same point twice removes nothing more."""
        now = time.monotonic() if now is None else now
        if now < self._trim_due or not (self.store.retention or self.store.max_age_ns):
            return 0
        self._trim_due = now + TRIM_EVERY
        removed = 0
        try:
            for name in list(self.cursors.epochs):
                dataset = self.store.find(name)
                start = (dataset.start if dataset is not None and dataset.source == SOURCE
                         else None)
                if start is None or self._trimmed.get(name) == start:
                    continue
                removed += self.log.trim(name, start)
                self._trimmed[name] = start
        except RetentionMismatch as exc:
            if self.link.retention_error != str(exc):
                log.error("not trimming: the cluster's retention changed", extra={
                    "event": "retention", "error": str(exc)})
            self.link.retention_error = str(exc)
            return removed
        self.link.retention_error = None
        return removed

    def check_durability(self, now: float | None = None) -> list[str]:
        """At most every ``DURABILITY_EVERY`` s: read Redis's settings again (one may have
        been changed at run time); what could lose acknowledged points now. While that
        is not empty and durability is strict, ``append`` refuses (503).
        ``LogUnavailable`` if Redis cannot be reached."""
        now = time.monotonic() if now is None else now
        if now < self._durability_due:
            return self.log.problems
        self._durability_due = now + DURABILITY_EVERY
        before = self.log.problems
        problems = self.log.check_durability(relaxed=True)
        if problems and problems != before:
            log.warning("redis may lose acknowledged points" + (
                "; ingest refused until it is safe again" if self.strict else ""),
                extra={"event": "redis_durability", "problems": problems})
        elif before and not problems:
            log.warning("redis keeps acknowledged points safely again",
                        extra={"event": "redis_durability", "problems": []})
        return problems

    def _handle(self, events: list[Event]) -> set[str]:
        """Apply ``events`` in order (each dataset's run of entries at once); the names."""
        changed: set[str] = set()
        runs: dict[str, list[StreamBatch]] = {}
        for event in events:
            if isinstance(event, StreamBatch):
                runs.setdefault(event.dataset, []).append(event)
                continue
            name = event.dataset
            if name in runs:  # entries read before this event come first
                self._apply(name, runs.pop(name))
            if isinstance(event, Created):
                if self._create(event):
                    changed.add(name)
            elif isinstance(event, Dropped):
                if self._mine(name):
                    self.store.remove(name)
                    changed.add(name)
            elif isinstance(event, Broken):
                log.error("cannot read a dataset's stream", extra={
                    "event": "load_error", "dataset": name, "error": event.error})
                if self._mine(name):
                    self.store.fail(name, f"the shared log has an entry this version cannot "
                                          f"read ({event.error}); the data before it is shown")
                    changed.add(name)
                if self.on_error is not None:
                    self.on_error(name)
        for name, entries in runs.items():
            if self._apply(name, entries):
                changed.add(name)
        return changed

    def _mine(self, name: str) -> bool:
        dataset = self.store.find(name)
        return dataset is not None and dataset.source == SOURCE

    def _create(self, created: Created) -> bool:
        """Start dataset ``created`` empty under its epoch; False if a file has its name."""
        name = created.dataset
        existing = self.store.find(name)
        if self.is_file(name) or (existing is not None and existing.source != SOURCE):
            if name not in self._skipped:
                self._skipped.add(name)
                log.warning("a stream is named like a data file of this process; the file "
                            "is shown here", extra={"event": "skip_stream", "dataset": name})
            return False
        self._skipped.discard(name)
        if existing is not None and existing.epoch == created.epoch:
            return True  # already here: its entries go on from where they were
        self.store.create(name, parse_schema(created.schema), source=SOURCE,
                          epoch=created.epoch)
        self._trimmed.pop(name, None)
        return True

    def _adopt(self, name: str) -> bool:
        """Read a stream that a file of this process kept out, now that the file is gone;
        False if the log no longer has it."""
        epoch, schema = self.cursors.epochs.get(name), self.log.schema(name)
        if epoch is None or schema is None:
            self._skipped.discard(name)
            return False
        if not self._create(Created(name, epoch, schema)):
            return False
        entries = self.log.replay(name, epoch)
        if entries:
            self._apply(name, entries)
            self.cursors.streams[name] = entries[-1].id
        return True

    def _apply(self, name: str, entries: list[StreamBatch]) -> bool:
        """Apply one dataset's entries (in stream order) as one batch at the last one's
        version; False if they are not for the dataset the store has."""
        dataset = self.store.find(name)
        if dataset is None or dataset.source != SOURCE:
            return False
        fresh = [e for e in entries if e.epoch == dataset.epoch and e.version > dataset.version]
        if not fresh:
            return False
        dataset.apply(merge([e.batch for e in fresh]), fresh[-1].version)
        now = time.time()
        self.link.lag = max(0.0, now - fresh[-1].written_at)
        self.link.applied += len(fresh)
        if self.on_applied is not None:
            for entry in fresh:
                self.on_applied(max(0.0, now - entry.written_at))
        return True

    def status(self) -> dict[str, Any]:
        """The link to Redis as ``/healthz`` shows it."""
        return {"connected": self.link.up, "since": round(self.link.since, 3),
                "error": self.link.error, "lag_s": round(self.link.lag, 4),
                "applied": self.link.applied, "streams": len(self.cursors.epochs),
                "durability": "strict" if self.strict else "relaxed",
                "unsafe": self.log.problems, "retention": self.log.retention,
                "retention_error": self.link.retention_error}
