"""The figure cache: one figure per view per dataset version, shared by every client."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data.store import Snapshot, Store
from ..engine.view import View
from ..jsoncodec import dumps
from .rooms import room_name

Compute = Callable[[Snapshot, View], dict[str, Any]]
CACHE_SIZE = 256
# Datasets smaller than this are charted on the event loop (a few ms at most).
INLINE_ROWS = 50_000


@dataclass
class Built:
    """A view's ``update_chart`` payload at one version, and its JSON once HTTP asked."""

    version: int
    epoch: str
    payload: dict[str, Any]
    encoded: bytes | None = None


class Figures:
    """Computes each view's figure once per dataset version, whoever asks (rooms, polls, pages).

    Concurrent requests for the same view wait for one build and share it.
    """

    def __init__(self, store: Store, compute: Compute,
                 offload: Callable[..., Any] | None = None, size: int = CACHE_SIZE) -> None:
        self.store = store
        self.compute = compute
        # Runs big builds off the event loop (eventlet's tpool) so heartbeats keep going.
        self.offload = offload or (lambda fn, *args: fn(*args))
        self.size = size
        self.builds = 0  # figures computed; tests and /healthz read it
        self.on_build: Callable[[float], None] | None = None  # each build's seconds (/metrics)
        self._cache: OrderedDict[str, Built] = OrderedDict()
        self._building: dict[str, threading.RLock] = {}  # one build per view at a time
        self._lock = threading.Lock()

    def get(self, dataset: str, view: View) -> Built:
        """The view's payload at the dataset's current version; ``UnknownDataset`` if gone."""
        snap = self.store.get(dataset).snapshot()
        key = room_name(dataset, view)
        with self._lock:
            hit = self._cache.get(key)
            if hit and (hit.version, hit.epoch) == (snap.version, snap.epoch):
                self._cache.move_to_end(key)
                return hit
            building = self._building.setdefault(key, threading.RLock())
        with building:  # many pollers, one build: the others wait and reuse it
            with self._lock:
                hit = self._cache.get(key)
            if hit and (hit.version, hit.epoch) == (snap.version, snap.epoch):
                return hit
            started = time.perf_counter()
            built = Built(snap.version, snap.epoch, {
                "dataset": dataset,
                "query": view.chart.query,
                "version": snap.version,
                "epoch": snap.epoch,
                # Handing work to the thread pool costs ~0.1-0.3 ms: worth it for big
                # datasets, not for small ones, where it only delays the push.
                "figure": (self.compute(snap, view.chart) if len(snap) < INLINE_ROWS
                           else self.offload(self.compute, snap, view.chart)),
            })
            if self.on_build is not None:
                self.on_build(time.perf_counter() - started)
            with self._lock:
                self.builds += 1
                newer = self._cache.get(key)
                if newer and newer.epoch == built.epoch and newer.version > built.version:
                    return built  # a change landed during the build and was cached first
                self._cache[key] = built
                self._cache.move_to_end(key)
                while len(self._cache) > self.size:
                    old, _ = self._cache.popitem(last=False)
                    self._building.pop(old, None)
            return built

    def payload(self, dataset: str, view: View) -> dict[str, Any]:
        """The ``update_chart`` payload: dataset, query, version, epoch, figure."""
        return self.get(dataset, view).payload

    def encoded(self, dataset: str, view: View) -> bytes:
        """The payload as JSON bytes, encoded once per version and shared by HTTP clients."""
        built = self.get(dataset, view)
        if built.encoded is None:
            built.encoded = dumps(built.payload)
        return built.encoded
