"""The demo stream: dataset ``demo`` gains a point per metric and host every tick."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from ..instants import SECOND
from .schema import Batch, Schema
from .store import Store

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
        end = _instant(now)
        step = int(self.interval * SECOND)
        dataset.append(self.batch([end - step * i for i in range(self.history, 0, -1)]))

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
