"""The durable log of cluster mode: one Redis stream per dataset, versions assigned by Redis.

Keys, under a prefix (``dash:`` by default) shared by every process of one product:

- ``<p>datasets``        HASH   dataset name -> epoch, for every dataset in the log
- ``<p>meta:<name>``     HASH   ``schema`` (canonical JSON), ``epoch``, ``version`` (last assigned)
- ``<p>stream:<name>``   STREAM one entry per batch: ``v`` version, ``e`` epoch, ``h`` header
  JSON, ``d`` the columns (see ``encode_batch``)
- ``<p>trim:<name>``     LIST   ``"<newest ts, biased> <entry id>"`` per entry, in stream order:
  what ``trim`` reads instead of the entries' megabytes
- ``<p>registry``        STREAM ``event`` create|drop, ``name``, ``epoch``, ``schema``: how
  readers learn of datasets created (or re-created: a new epoch) at other processes
- ``<p>retention``       STRING the cluster's ``DASH_RETENTION``, recorded by its first process:
  one retention for every process, so that no process trims what another still keeps

Every entry carries its version, so a process that starts after older entries were trimmed
still derives the versions every other process has. An epoch is made when a dataset is
created and changes only when it is dropped and created again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import orjson
import pandas as pd
import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .schema import Batch
from .store import new_epoch

DEFAULT_PREFIX = "dash:"
FORMAT = 1  # the entry layout below; a reader refuses entries of a format it does not know
REGISTRY_MAXLEN = 10_000  # create/drop events kept; readers that fall further behind resync
PAGE = 500  # entries per XRANGE page while replaying
READ_COUNT = 64  # entries per stream per XREAD: bounds one reply at 64 batches
TS_BIAS = 2**63  # int64 ns + 2**63, zero-padded to 20 digits, compares as text in Lua
RETRY_AFTER = 1  # seconds a client should wait after LogUnavailable
# Seconds a command may take before Redis counts as away. Writes wait for Redis's fsync
# (~1-5 ms on an idle disk); 2 s leaves room for a busy one, and bounds what a hung Redis
# (SIGSTOP, a frozen VM) costs each ingest: a 503 after 2.0 s, not 5.
TIMEOUT = 2.0
# A blocking XREAD may take its block and this much more before the reader gives up on
# Redis: with the reader's 1 s blocks, a hung Redis shows as down ~2 s after it hung.
READ_MARGIN = 1.0
# Redis answers these while it cannot take writes safely (out of memory, AOF write errors,
# a replica, loading its data at start, a busy script): the batch was not stored.
UNAVAILABLE_REPLIES = ("OOM", "MISCONF", "READONLY", "LOADING", "BUSY", "NOREPLICAS",
                       "MASTERDOWN", "TRYAGAIN")
TRANSPORT_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)

# The whole batch in one atomic step. Every check comes before the first write, because a
# Lua error does not roll back writes already made; `#!lua` (Redis >= 7) makes Redis refuse
# the script up front, before any write, when it is out of memory.
APPEND = """#!lua
local stored = redis.call('HMGET', KEYS[1], 'schema', 'epoch')
local epoch = stored[2]
if stored[1] then
  if stored[1] ~= ARGV[2] then
    return redis.error_reply('SCHEMA ' .. stored[1])
  end
else
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2], KEYS[5])
  redis.call('HSET', KEYS[1], 'schema', ARGV[2], 'epoch', epoch, 'version', 0)
  redis.call('HSET', KEYS[3], ARGV[1], epoch)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'event', 'create',
             'name', ARGV[1], 'epoch', epoch, 'schema', ARGV[2])
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
local id = redis.call('XADD', KEYS[2], '*', 'v', version, 'e', epoch,
                      'h', ARGV[5], 'd', ARGV[6])
redis.call('RPUSH', KEYS[5], ARGV[4] .. ' ' .. id)
return {version, epoch, id}
"""

# Drop the oldest entries whose newest point is older than ARGV[1] (biased ts text), in
# stream order, stopping at the first that is not; the last entry always stays so that a
# replay ends at the dataset's current version. Only a process whose retention (ARGV[2])
# is the cluster's (KEYS[3]) trims: one started before the cluster's retention was changed
# keeps more or less than the others, and must not cut what they keep.
TRIM = """#!lua
local retention = redis.call('GET', KEYS[3])
if not retention then
  redis.call('SET', KEYS[3], ARGV[2])
elseif retention ~= ARGV[2] then
  return redis.error_reply('RETENTION ' .. retention)
end
local removed = 0
local keep = nil
local total = redis.call('LLEN', KEYS[2])
while removed < total - 1 do
  local items = redis.call('LRANGE', KEYS[2], removed, removed + 99)
  if #items == 0 then break end
  for _, item in ipairs(items) do
    if removed >= total - 1 or string.sub(item, 1, 20) >= ARGV[1] then
      keep = string.sub(item, 22)
      break
    end
    removed = removed + 1
  end
  if keep then break end
end
if removed == 0 then return 0 end
if not keep then
  keep = string.sub(redis.call('LINDEX', KEYS[2], removed), 22)
end
redis.call('XTRIM', KEYS[1], 'MINID', keep)
redis.call('LTRIM', KEYS[2], removed, -1)
return removed
"""

DROP = """#!lua
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[5])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'event', 'drop',
           'name', ARGV[1], 'epoch', epoch)
return 1
"""


class LogUnavailable(RuntimeError):
    """Redis cannot be reached or cannot store safely right now; nothing was acknowledged."""

    retry_after = RETRY_AFTER


class UnsafeDurability(RuntimeError):
    """Redis is configured so that an acknowledged batch could be lost; the message says how."""


class RetentionMismatch(RuntimeError):
    """This process's ``DASH_RETENTION`` is not the cluster's (``stored``, in Redis)."""

    def __init__(self, message: str, stored: str) -> None:
        super().__init__(message)
        self.stored = stored


class SchemaMismatch(ValueError):
    """A batch's schema differs from the one the dataset was created with."""

    def __init__(self, name: str, stored: str) -> None:
        super().__init__(f"dataset {name!r} has another schema in Redis: {stored}")
        self.stored = stored


class LogCorrupt(ValueError):
    """An entry that this code cannot decode (unknown format or wrong length)."""


@dataclass(frozen=True)
class StreamBatch:
    """One batch of a dataset's stream, with the version and epoch Redis gave it."""

    dataset: str
    id: str  # stream entry id "<ms>-<seq>"
    version: int
    epoch: str
    batch: Batch

    @property
    def written_at(self) -> float:
        """When Redis stored it: seconds since 1970 (Redis's clock, ms resolution)."""
        return int(self.id.split("-", 1)[0]) / 1000


@dataclass(frozen=True)
class Created:
    """A dataset that is new to this reader, or re-created under a new epoch: start it empty."""

    dataset: str
    epoch: str
    schema: str  # canonical JSON as given to the first append


@dataclass(frozen=True)
class Dropped:
    """A dataset that is no longer in the log: forget it."""

    dataset: str


@dataclass(frozen=True)
class Broken:
    """A dataset whose next entry this code cannot decode: no longer followed; ``error``."""

    dataset: str
    error: str


Event = StreamBatch | Created | Dropped | Broken


@dataclass
class Cursors:
    """Where a reader is: the last entry applied per dataset and the registry's last event."""

    registry: str = "0-0"
    streams: dict[str, str] = field(default_factory=dict)  # dataset -> last entry id applied
    epochs: dict[str, str] = field(default_factory=dict)  # dataset -> epoch of those entries
    stale: bool = False  # a read failed: compare with Redis's datasets before reading on

    def follow(self, created: Created) -> None:
        """Read ``created``'s dataset from its first entry, under its epoch."""
        self.streams[created.dataset] = "0-0"
        self.epochs[created.dataset] = created.epoch

    def advance(self, entry: StreamBatch) -> None:
        """Mark ``entry`` applied."""
        self.streams[entry.dataset] = entry.id


def canonical_schema(schema_json: str | bytes) -> str:
    """``schema_json`` with sorted keys and no spaces, so equal schemas compare equal."""
    return orjson.dumps(orjson.loads(schema_json), option=orjson.OPT_SORT_KEYS).decode()


def redacted(url: str) -> str:
    """``url`` without its user name and password, for messages and ``/healthz``."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def connect(url: str, timeout: float) -> redis.Redis:
    """A client for ``url`` that never re-sends a command by itself.

    redis-py 8 retries a command three times on a connection error by default; for a
    script that may have run before the connection broke, a retry would store the
    batch twice. Failures surface as errors and the caller decides.
    """
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0), decode_responses=False)


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # None/NaN -> -1
    return codes.astype("<i4", copy=False), [str(u) for u in uniques]


def encode_batch(batch: Batch) -> tuple[bytes, bytes]:
    """(header JSON, columns) of a batch: ts ``<i8`` ns, value ``<f8``, then ``<i4`` codes
    of the metric and of each label (-1 = missing), the names of the codes in the header.

    Raw columns rather than JSON arrays: for 100,000 points with two labels, 2.8 MB and
    12 ms to encode, 0.02 ms to decode, against 4.5 MB, 20 ms and 46 ms as orjson arrays.
    """
    n = len(batch.ts)
    metric_codes, metrics = _codes(batch.metric)
    parts = [np.ascontiguousarray(batch.ts, "<i8").tobytes(),
             np.ascontiguousarray(batch.value, "<f8").tobytes(), metric_codes.tobytes()]
    labels: dict[str, list[str]] = {}
    for name, column in batch.labels.items():
        codes, labels[name] = _codes(column)
        parts.append(codes.tobytes())
    header = {"f": FORMAT, "n": n, "rows": batch.rows, "metrics": metrics, "labels": labels}
    return orjson.dumps(header), b"".join(parts)


def _lookup(names: list[str], codes: np.ndarray) -> np.ndarray:
    table = np.empty(len(names) + 1, dtype=object)
    table[:-1] = names
    table[-1] = None  # code -1 picks the last slot: missing
    column: np.ndarray = table[codes]
    return column


def decode_batch(header: bytes, data: bytes) -> Batch:
    """The batch that ``encode_batch`` wrote (ts and value are read-only views of
    ``data``: the store copies them); ``LogCorrupt`` if it is not one."""
    head = orjson.loads(header)
    if head.get("f") != FORMAT:
        raise LogCorrupt(f"entry format {head.get('f')!r}; this version reads {FORMAT}")
    n = head["n"]
    labels: dict[str, list[str]] = head["labels"]
    if len(data) != n * (20 + 4 * len(labels)):
        raise LogCorrupt(f"entry of {n} points has {len(data)} bytes of columns")
    ts = np.frombuffer(data, "<i8", n, 0)
    value = np.frombuffer(data, "<f8", n, 8 * n)
    metric = _lookup(head["metrics"], np.frombuffer(data, "<i4", n, 16 * n))
    offset = 20 * n
    columns = {}
    for name, names in labels.items():
        columns[name] = _lookup(names, np.frombuffer(data, "<i4", n, offset))
        offset += 4 * n
    return Batch(ts=ts, metric=metric, value=value, labels=columns, rows=head["rows"])


def refusal(exc: ResponseError) -> str | None:
    """The error code if ``exc`` says Redis cannot store anything now (else None)."""
    # redis-py strips the codes it knows (OOM, READONLY, ...) into status_code.
    code = getattr(exc, "status_code", None) or str(exc).split(" ", 1)[0]
    return code if code in UNAVAILABLE_REPLIES else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLog:
    """Datasets as Redis streams: append batches atomically, replay them, tail them."""

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX, timeout: float = TIMEOUT,
                 max_block_ms: int = 1000) -> None:
        self.url = redacted(url)  # what messages name; the password stays out of them
        self.prefix = prefix
        self.max_block_ms = max_block_ms
        self.retention: str | None = None  # the cluster's, once ``claim_retention`` agreed
        self.problems: list[str] = []  # what the last ``check_durability`` found unsafe
        # Typed Any: redis-py types every reply as a union over decode_responses and RESP
        # versions; with decode_responses=False and RESP2 they are bytes, parsed below.
        self._writer: Any = connect(url, timeout)
        # Blocking reads get their own connections, with room for the longest block.
        self._reader: Any = connect(url, max(timeout, max_block_ms / 1000 + READ_MARGIN))
        self._append: Any = self._writer.register_script(APPEND)
        self._trim: Any = self._writer.register_script(TRIM)
        self._drop: Any = self._writer.register_script(DROP)

    def close(self) -> None:
        """Close every connection."""
        self._writer.close()
        self._reader.close()

    # -- keys ---------------------------------------------------------------

    def _keys(self, name: str) -> list[str]:
        p = self.prefix
        return [f"{p}meta:{name}", f"{p}stream:{name}", f"{p}datasets", f"{p}registry",
                f"{p}trim:{name}"]

    def stream_key(self, name: str) -> str:
        """The stream holding dataset ``name``'s batches."""
        return f"{self.prefix}stream:{name}"

    # -- configuration ------------------------------------------------------

    def check_durability(self, relaxed: bool) -> list[str]:
        """The settings that could lose an acknowledged batch (empty when none).

        Raises ``UnsafeDurability`` naming each one unless ``relaxed``; ``LogUnavailable``
        if Redis cannot be reached. Redis older than 7.0 is refused either way.
        """
        try:
            version = _text(self._writer.info("server")["redis_version"])
            if tuple(int(p) for p in version.split(".")[:2]) < (7, 0):
                raise UnsafeDurability(f"Redis {version} at {self.url} is too old: "
                                       "cluster mode needs Redis 7.0 or later")
            settings = {_text(k): _text(v) for k, v in self._writer.config_get(
                "appendonly", "appendfsync", "no-appendfsync-on-rewrite", "maxmemory",
                "maxmemory-policy").items()}
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        except ResponseError as exc:  # managed Redis often disables CONFIG
            settings = {}
            problems = [f"cannot read Redis's configuration (CONFIG GET: {exc})"]
        else:
            problems = _durability_problems(settings)
        self.problems = problems
        if problems and not relaxed:
            raise UnsafeDurability(
                f"Redis at {self.url} could lose acknowledged points: " + "; ".join(problems)
                + ". Change these settings, or set DASH_REDIS_DURABILITY=relaxed to run anyway.")
        return problems

    def claim_retention(self, retention: str, same: Callable[[str, str], bool]) -> str:
        """Record ``retention`` as the cluster's if none is recorded yet; the cluster's.

        ``RetentionMismatch`` (naming both values and how to change the cluster's) when
        the recorded one is not ``same`` as ``retention``; ``LogUnavailable`` if Redis
        cannot be reached.
        """
        key = f"{self.prefix}retention"
        self._call(self._writer.set, key, retention, nx=True)
        stored = _text(self._call(self._writer.get, key) or b"")
        if not same(stored, retention):
            raise RetentionMismatch(
                f"DASH_RETENTION is {retention!r} here but this cluster keeps {stored!r} "
                f"(recorded in Redis at {key} by its first process): start this process "
                f"with DASH_RETENTION={stored}, or change the cluster's retention with "
                f"`redis-cli -u {self.url} SET {key} {retention}` and restart every "
                f"process with DASH_RETENTION={retention}", stored)
        self.retention = stored
        return stored

    # -- writing ------------------------------------------------------------

    def append(self, name: str, schema_json: str, batch: Batch) -> tuple[int, str]:
        """Store ``batch`` in dataset ``name`` in one atomic step; its (version, epoch).

        The first batch creates the dataset (and its epoch) with ``schema_json``; later
        ones must bring the same schema (``SchemaMismatch`` otherwise, nothing stored).
        Returns once Redis answered: with ``appendfsync always`` the batch is on disk.
        ``LogUnavailable`` when Redis cannot be reached or refuses writes: nothing is
        acknowledged (if the connection broke after the script ran, the batch may be in
        the log all the same; a client's retry then stores it twice).
        """
        header, data = encode_batch(batch)
        newest = int(np.max(batch.ts)) if len(batch.ts) else -TS_BIAS
        args = [name, canonical_schema(schema_json), new_epoch(), f"{newest + TS_BIAS:020d}",
                header, data, REGISTRY_MAXLEN]
        try:
            version, epoch, _ = self._append(keys=self._keys(name), args=args)
        except ResponseError as exc:
            message = str(exc)
            if message.startswith("SCHEMA "):
                raise SchemaMismatch(name, message.removeprefix("SCHEMA ")) from None
            if code := refusal(exc):
                raise LogUnavailable(f"Redis refused the batch ({code}: {message})") from exc
            raise
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        return int(version), _text(epoch)

    def trim(self, name: str, before_ns: int) -> int:
        """Remove the oldest entries whose points are all older than ``before_ns``; how many.

        Stops at the first entry that has a point at or after ``before_ns`` (a late
        batch keeps the entries after it), and never removes the last entry. Give it the
        oldest timestamp the store kept after its retention: what the log drops, memory
        has dropped too, so a process replaying later ends with the same points.
        ``RetentionMismatch`` (nothing removed) when the cluster's retention in Redis is
        no longer the one ``claim_retention`` agreed to.
        """
        if self.retention is None:
            raise RetentionMismatch("this process never agreed on the cluster's retention "
                                    "(claim_retention): it does not trim", "")
        keys = [self.stream_key(name), f"{self.prefix}trim:{name}", f"{self.prefix}retention"]
        try:
            return int(self._trim(keys=keys, args=[f"{before_ns + TS_BIAS:020d}",
                                                   self.retention]))
        except ResponseError as exc:
            message = str(exc)
            if message.startswith("RETENTION "):
                stored = message.removeprefix("RETENTION ")
                raise RetentionMismatch(
                    f"the cluster's retention in Redis is now {stored!r}, this process's "
                    f"{self.retention!r}: it no longer trims; restart it with "
                    f"DASH_RETENTION={stored}", stored) from None
            raise
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc

    def drop(self, name: str) -> bool:
        """Delete dataset ``name`` from the log (readers get ``Dropped``); False if absent."""
        try:
            return bool(self._drop(keys=self._keys(name), args=[name, REGISTRY_MAXLEN]))
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc

    # -- reading ------------------------------------------------------------

    def schema(self, name: str) -> str | None:
        """Dataset ``name``'s schema JSON, or None if the log does not have it."""
        value = self._call(self._writer.hget, f"{self.prefix}meta:{name}", "schema")
        return None if value is None else _text(value)

    def datasets(self) -> dict[str, str]:
        """Every dataset in the log: name -> epoch."""
        found = self._call(self._writer.hgetall, f"{self.prefix}datasets")
        return {_text(k): _text(v) for k, v in found.items()}

    def start(self) -> tuple[Cursors, list[Created]]:
        """Cursors to tail from, and the datasets there are now (each read from its start).

        The registry's position is taken first, so a dataset created meanwhile is
        either listed here or announced by the next ``read``.
        """
        last = self._call(self._writer.xrevrange, f"{self.prefix}registry", count=1)
        cursors = Cursors(registry=_text(last[0][0]) if last else "0-0")
        created = self._created(self.datasets())
        for event in created:
            cursors.follow(event)
        return cursors, created

    def _created(self, epochs: dict[str, str]) -> list[Created]:
        names = sorted(epochs)
        pipe = self._writer.pipeline(transaction=False)
        for name in names:
            pipe.hmget(f"{self.prefix}meta:{name}", "schema", "epoch")
        found = self._call(pipe.execute)
        return [Created(name, _text(epoch), _text(schema))
                for name, (schema, epoch) in zip(names, found, strict=True)
                if schema is not None and epoch is not None]

    def replay(self, name: str, epoch: str | None = None, after: str = "0-0") -> list[StreamBatch]:
        """Dataset ``name``'s entries after entry id ``after``, oldest first.

        With ``epoch``, stops before the first entry of another epoch (the dataset was
        re-created meanwhile: the next ``read`` announces it).
        """
        entries: list[StreamBatch] = []
        start = f"({after}" if after != "0-0" else "-"
        while True:
            page = self._call(self._reader.xrange, self.stream_key(name), start, "+", PAGE)
            for raw_id, fields in page:
                entry = _entry(name, raw_id, fields)
                if epoch is not None and entry.epoch != epoch:
                    return entries
                entries.append(entry)
            if len(page) < PAGE:
                return entries
            start = f"({entries[-1].id}"

    def read(self, cursors: Cursors, block_ms: int, count: int = READ_COUNT) -> list[Event]:
        """What happened since ``cursors`` in every dataset, waiting up to ``block_ms`` ms.

        Advances ``cursors`` past what it returns: ``Created`` (start that dataset empty;
        its entries follow), ``Dropped``, ``StreamBatch`` in stream order per dataset, and
        ``Broken`` for a dataset whose next entry cannot be decoded (not read further).
        ``LogUnavailable`` when Redis cannot be reached; the next successful call first
        compares ``cursors`` with Redis's datasets (a dataset re-created or lost meanwhile
        comes back as ``Created``/``Dropped``), so a loop can simply call again.
        """
        events: list[Event] = []
        if cursors.stale:
            events += self._resync(cursors)
            cursors.stale = False
        registry = f"{self.prefix}registry"
        streams = {registry: cursors.registry}
        streams.update({self.stream_key(n): i for n, i in cursors.streams.items()})
        block = max(1, min(block_ms, self.max_block_ms)) if block_ms > 0 else None
        try:
            reply = self._reader.xread(streams, count=count, block=block)
        except TRANSPORT_ERRORS as exc:
            cursors.stale = True
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc
        by_key = {_text(key): items for key, items in reply or []}
        restarted: set[str] = set()
        for raw_id, fields in by_key.pop(registry, []):
            cursors.registry = _text(raw_id)
            event = {_text(k): _text(v) for k, v in fields.items()}
            name, epoch = event["name"], event["epoch"]
            if event["event"] == "create" and cursors.epochs.get(name) != epoch:
                created = Created(name, epoch, event["schema"])
                cursors.follow(created)
                restarted.add(name)
                events.append(created)
            elif event["event"] == "drop" and cursors.epochs.get(name) == epoch:
                del cursors.streams[name], cursors.epochs[name]
                restarted.add(name)
                events.append(Dropped(name))
        stream_prefix = f"{self.prefix}stream:"
        for key, items in by_key.items():
            name = key.removeprefix(stream_prefix)
            if name in restarted or name not in cursors.epochs:
                continue  # read again from its start under the new epoch
            for raw_id, fields in items:
                try:
                    entry = _entry(name, raw_id, fields)
                except LogCorrupt as exc:
                    # What came before it is returned; the dataset is read no further.
                    del cursors.streams[name], cursors.epochs[name]
                    events.append(Broken(name, str(exc)))
                    break
                if entry.epoch != cursors.epochs[name]:
                    # Re-created, and its registry event is not read yet (or was trimmed):
                    # hold the entries back and compare with Redis on the next call.
                    cursors.stale = True
                    break
                cursors.advance(entry)
                events.append(entry)
        return events

    def _resync(self, cursors: Cursors) -> list[Event]:
        current = self.datasets()
        events: list[Event] = []
        for name in [n for n in cursors.epochs if n not in current]:
            del cursors.streams[name], cursors.epochs[name]
            events.append(Dropped(name))
        changed = {n: e for n, e in current.items() if cursors.epochs.get(n) != e}
        for created in self._created(changed):
            cursors.follow(created)
            events.append(created)
        return events

    def ping(self) -> bool:
        """True if Redis answers now."""
        try:
            return bool(self._writer.ping())
        except TRANSPORT_ERRORS:
            return False

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except TRANSPORT_ERRORS as exc:
            raise LogUnavailable(f"Redis at {self.url} is unreachable: {exc}") from exc


def _entry(name: str, raw_id: bytes, fields: dict[bytes, bytes]) -> StreamBatch:
    try:
        batch = decode_batch(fields[b"h"], fields[b"d"])
        return StreamBatch(dataset=name, id=_text(raw_id), version=int(fields[b"v"]),
                     epoch=_text(fields[b"e"]), batch=batch)
    except (KeyError, ValueError) as exc:
        raise LogCorrupt(f"entry {_text(raw_id)} of dataset {name!r}: {exc}") from exc


def _durability_problems(settings: dict[str, str]) -> list[str]:
    problems = []
    if settings.get("appendonly") != "yes":
        problems.append(f"appendonly is {settings.get('appendonly')!r} (needs 'yes')")
    if settings.get("appendfsync") != "always":
        problems.append(f"appendfsync is {settings.get('appendfsync')!r} (needs 'always')")
    if settings.get("no-appendfsync-on-rewrite") == "yes":
        problems.append("no-appendfsync-on-rewrite is 'yes' (skips fsync during rewrites; "
                        "needs 'no')")
    if settings.get("maxmemory", "0") != "0" and settings.get(
            "maxmemory-policy", "").startswith("allkeys-"):
        problems.append(f"maxmemory-policy is {settings['maxmemory-policy']!r} with a "
                        "maxmemory: Redis may evict the log (needs 'noeviction')")
    return problems

