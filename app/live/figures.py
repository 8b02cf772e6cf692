"""The figure cache: one figure per view per dataset version, shared by every client; an
aggregated view's next version redrawn from its last drawing (``app.engine.delta``)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data.store import Snapshot, Store
from ..engine.delta import LiveCharts
from ..engine.drawing import Drawing
from ..engine.view import View, view_key
from ..jsoncodec import dumps

CACHE_SIZE = 256
# Snapshots kept per dataset to redraw from: the versions the figures were last built at
# (the fan-out builds every watched view at one version). Each pins the columns it reads;
# after the store copied every series into new columns (a compaction: growth, retention)
# views are drawn whole (``redraw``), so bases on old columns are let go at once.
BASES = 4
# Datasets smaller than this are charted on the event loop (a few ms at most).
INLINE_ROWS = 50_000
# Views whose cache key is remembered (``Figures.key``): all of them, unless more than
# this many distinct ones are asked for, when the memory starts again.
KEYS_KEPT = 4 * CACHE_SIZE


@dataclass
class Built:
    """A view's ``update_chart`` payload at one version, and its JSON once HTTP asked."""

    version: int
    epoch: str
    payload: dict[str, Any]
    encoded: bytes | None = None
    # An aggregated view's drawing, the base of the next version's redraw (a raw one would
    # pin the snapshot's arrays and cannot be redrawn by parts).
    drawing: Drawing | None = None


class Figures:
    """Computes each view's figure once per dataset version, whoever asks (rooms, polls, pages).

    Concurrent requests for the same view wait for one build and share it. A view whose
    cached figure is one or more versions old is redrawn from it where only some buckets
    changed (``LiveCharts.redraw``), else computed whole.
    """

    def __init__(self, store: Store, charts: LiveCharts,
                 offload: Callable[..., Any] | None = None, size: int = CACHE_SIZE) -> None:
        self.store = store
        self.charts = charts
        # Runs big builds off the event loop (eventlet's tpool) so heartbeats keep going.
        self.offload = offload or (lambda fn, *args: fn(*args))
        self.size = size
        self.builds = 0  # figures computed; tests and /healthz read it
        self.redraws = 0  # of those, redrawn from the previous version's drawing
        self.on_build: Callable[[float], None] | None = None  # each build's seconds (/metrics)
        self._cache: OrderedDict[str, Built] = OrderedDict()
        self._building: dict[str, threading.RLock] = {}  # one build per view at a time
        # dataset -> (epoch, version) -> the snapshot figures were built from
        self._bases: dict[str, OrderedDict[tuple[str, int], Snapshot]] = {}
        # (dataset, view) -> its cache key: a view's canonical query costs ~12 µs to write
        # (``dataclasses.replace`` and ``urlencode``), paid on every long-poll's answer.
        self._keys: dict[tuple[str, View], str] = {}
        self._lock = threading.Lock()

    def key(self, dataset: str, view: View) -> str:
        """``view_key(dataset, view)``, remembered for the views asked for lately."""
        key = self._keys.get((dataset, view))
        if key is None:
            if len(self._keys) >= KEYS_KEPT:
                self._keys.clear()  # a burst of distinct views; the watched ones come back
            key = self._keys[(dataset, view)] = view_key(dataset, view)
        return key

    def get(self, dataset: str, view: View) -> Built:
        """The view's payload at the dataset's current version; ``UnknownDataset`` if gone."""
        snap = self.store.get(dataset).snapshot()
        key = self.key(dataset, view)
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
            before = self._base(dataset, hit)
            # Handing work to the thread pool costs ~0.1-0.3 ms: worth it for big
            # datasets, not for small ones, where it only delays the push.
            figure, drawing, redrawn = (
                self._build(snap, view.chart, hit, before) if len(snap) < INLINE_ROWS
                else self.offload(self._build, snap, view.chart, hit, before))
            built = Built(snap.version, snap.epoch, {
                "dataset": dataset,
                "query": view.chart.query,
                "version": snap.version,
                "epoch": snap.epoch,
                "figure": figure,
            }, drawing=drawing if drawing.result.agg != "raw" else None)
            if self.on_build is not None:
                self.on_build(time.perf_counter() - started)
            with self._lock:
                self.builds += 1
                self.redraws += redrawn
                if built.drawing is not None:
                    self._keep_base(snap)
                newer = self._cache.get(key)
                if newer and newer.epoch == built.epoch and newer.version > built.version:
                    return built  # a change landed during the build and was cached first
                self._cache[key] = built
                self._cache.move_to_end(key)
                while len(self._cache) > self.size:
                    old, _ = self._cache.popitem(last=False)
                    self._building.pop(old, None)
            return built

    def _build(self, snap: Snapshot, view: View, hit: Built | None,
               before: Snapshot | None) -> tuple[dict[str, Any], Drawing, bool]:
        """The figure of ``view`` over ``snap``, its drawing, and whether it was redrawn
        from ``hit`` (the view's cached build at ``before``'s version)."""
        drawing = None
        if hit is not None and hit.drawing is not None and before is not None:
            drawing = self.charts.redraw(before, hit.drawing, snap, view)
        redrawn = drawing is not None
        if drawing is None:
            drawing = self.charts.draw(snap, view)
        return self.charts.figure(snap, view, drawing), drawing, redrawn

    def _base(self, dataset: str, hit: Built | None) -> Snapshot | None:
        """The snapshot ``hit`` was built from, if it is still kept."""
        if hit is None or hit.drawing is None:
            return None
        with self._lock:
            return self._bases.get(dataset, OrderedDict()).get((hit.epoch, hit.version))

    def _keep_base(self, snap: Snapshot) -> None:
        """Keep ``snap`` to redraw from, with the newest ``BASES`` of its dataset and epoch
        that read the newest one's columns; forget those of datasets that went away (lock
        held)."""
        for name in [n for n in self._bases if self.store.find(n) is None]:
            del self._bases[name]
        bases = self._bases.setdefault(snap.name, OrderedDict())
        bases[(snap.epoch, snap.version)] = snap
        by_version = sorted((k for k in bases if k[0] == snap.epoch), key=lambda k: k[1])
        newest = bases[by_version[-1]]
        keep = [k for k in by_version[-BASES:] if bases[k].ts is newest.ts]
        for key in [k for k in bases if k not in keep]:
            del bases[key]

    def payload(self, dataset: str, view: View) -> dict[str, Any]:
        """The ``update_chart`` payload: dataset, query, version, epoch, figure."""
        return self.get(dataset, view).payload

    def encoded(self, dataset: str, view: View) -> bytes:
        """The payload as JSON bytes, encoded once per version and shared by HTTP clients."""
        built = self.get(dataset, view)
        if built.encoded is None:
            built.encoded = dumps(built.payload)
        return built.encoded
