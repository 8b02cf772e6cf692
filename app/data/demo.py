"""The demo stream: dataset ``demo`` gains a point per metric and host every tick.

One process: ``Demo`` appends to its store. Cluster mode: ``SharedDemo`` writes the same
ticks into the shared log from whichever process holds a lease, so every process shows
the same points, versions and epoch, and another takes over when that one dies.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from ..instants import SECOND
from .lease import Lease
from .redislog import LogUnavailable, RedisLog
from .schema import Batch, Schema
from .store import Snapshot, Store

log = logging.getLogger("dash.demo")
NAME = "demo"
METRICS = ("cpu", "latency_ms", "mem")
HOSTS = (("web-1", "eu"), ("web-2", "eu"), ("web-3", "us"), ("web-4", "us"))
SCHEMA = Schema("timestamp", "wide", METRICS, ("host", "region"))
BASE = {"cpu": 40.0, "latency_ms": 120.0, "mem": 55.0}
NOISE = {"cpu": 4.0, "latency_ms": 15.0, "mem": 0.6}
LIMITS = {"cpu": (0.0, 100.0), "latency_ms": (5.0, 2000.0), "mem": (0.0, 100.0)}


def _instant(now: float | None) -> int:
    """``now`` (default: the clock) in ns, rounded to the millisecond."""
    seconds = time.time() if now is None else now
    return round(seconds * 1000) * 1_000_000


class Demo:
    """A random walk per (metric, host) appended to ``demo`` in memory."""

    def __init__(self, store: Store, interval: float = 1.0, history: int = 900,
                 seed: int = 7) -> None:
        self.store = store
        self.interval = interval
        self.history = history
        self.rng = np.random.default_rng(seed)
        self.level = {(m, h): BASE[m] * (1 + 0.1 * i) for m in METRICS
                      for i, (h, _) in enumerate(HOSTS)}

    def install(self, now: float | None = None) -> None:
        """Create ``demo`` with ``history`` ticks of past points."""
        dataset = self.store.create(NAME, SCHEMA)
        dataset.append(self.history_batch(now))

    def batch(self, instants: list[int]) -> Batch:
        """Points for each instant (ns since the epoch), each series one step on."""
        ts, metric, value, host, region = [], [], [], [], []
        for instant in instants:
            for m in METRICS:
                low, high = LIMITS[m]
                for h, r in HOSTS:
                    level = self.level[(m, h)] + self.rng.normal(0, NOISE[m])
                    level += 0.05 * (BASE[m] - level)  # drift back towards the base line
                    self.level[(m, h)] = level = float(np.clip(level, low, high))
                    ts.append(instant)
                    metric.append(m)
                    value.append(round(level, 2))
                    host.append(h)
                    region.append(r)
        return Batch(np.array(ts, np.int64), np.array(metric, object), np.array(value),
                     {"host": np.array(host, object), "region": np.array(region, object)},
                     rows=len(instants) * len(HOSTS))

    def history_batch(self, now: float | None = None) -> Batch:
        """``history`` ticks of past points, up to ``now``."""
        end = _instant(now)
        step = int(self.interval * SECOND)
        return self.batch([end - step * i for i in range(self.history, 0, -1)])

    def resume(self, snap: Snapshot) -> None:
        """Go on from each walk's newest value in ``snap`` (written by another process)."""
        hosts = snap.label_values.get("host", ())
        codes = snap.series_labels.get("host")
        if codes is None:
            return
        newest = snap.series_start + snap.series_count - 1
        for i in np.flatnonzero((snap.series_count > 0) & (codes >= 0)).tolist():
            key = (snap.metrics[snap.series_metric[i]], hosts[codes[i]])
            if key in self.level:
                self.level[key] = float(snap.value[newest[i]])

    def tick(self, now: float | None = None) -> int:
        """Append one tick of points and notify; returns the new version."""
        return self.store.append(NAME, self.batch([_instant(now)]))

    def run(self, sleep: Callable[[float], object]) -> None:
        """Tick forever, once per ``interval`` seconds."""
        while True:
            sleep(self.interval)
            try:
                self.tick()
            except Exception:  # e.g. the dataset went away: keep the stream alive
                log.exception("demo tick failed", extra={"event": "error"})


class SharedDemo:
    """The demo of a cluster: the process holding ``lease`` writes each tick into the
    shared log; the others wait, and one of them takes the lease over (going on from the
    newest points) within its time to live when the writer dies."""

    def __init__(self, demo: Demo, redis_log: RedisLog, lease: Lease, schema_json: str) -> None:
        self.demo = demo
        self.log = redis_log
        self.lease = lease
        self.schema_json = schema_json
        self.leading = False

    def step(self, now: float | None = None) -> bool:
        """One tick: write it if this process holds the lease (taking it if free); True
        if it did. ``LogUnavailable`` when Redis cannot be reached."""
        if not self.lease.hold():
            self.leading = False
            return False
        if not self.leading:
            self.leading = True
            log.info("this process writes the demo stream", extra={"event": "demo_lead"})
            if self._take_over(now):
                return True
        self.log.append(NAME, self.schema_json, self.demo.batch([_instant(now)]))
        return True

    def _take_over(self, now: float | None) -> bool:
        """Go on from the demo in the log, or start it afresh (with its history, under a
        new epoch) when there is none or its newest point is older than that history, as
        a single process does at each start; True if it wrote."""
        dataset = self.demo.store.find(NAME)
        exists = NAME in self.log.datasets()
        oldest_kept = _instant(now) - int(self.demo.history * self.demo.interval * SECOND)
        if exists and (dataset is None or (dataset.end or 0) >= oldest_kept):
            if dataset is not None:
                self.demo.resume(dataset.snapshot())
            return False
        if exists:
            self.log.drop(NAME)
        self.log.append(NAME, self.schema_json, self.demo.history_batch(now))
        return True

    def run(self, sleep: Callable[[float], object]) -> None:
        """Tick forever, once per ``interval`` seconds; Redis away is waited out."""
        unreachable = False
        while True:
            sleep(self.demo.interval)
            try:
                self.step()
                unreachable = False
            except LogUnavailable as exc:
                self.leading = False  # another may hold the lease once Redis is back
                if not unreachable:
                    unreachable = True
                    log.warning("demo tick not written: redis unreachable",
                                extra={"event": "demo", "error": str(exc)})
            except Exception:
                log.exception("demo tick failed", extra={"event": "error"})
