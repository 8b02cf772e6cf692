"""The app's state object (in ``app.extensions["dash"]``) and its typed accessor."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app

from .demo import Demo
from .files import DataFolder
from .live import Live
from .query import Result, Selection, run, select
from .store import Dataset, Snapshot, Store
from .views import View, format_instant, parse_view


T = TypeVar("T")
MEMO_SIZE = 128
# refresh_data reads a whole file on the event loop: any client may ask, so not too often.
REFRESH_EVERY = 2.0


@dataclass
class Dash:
    """Everything the handlers share: the store, the data folder, live fan-out, the demo."""

    store: Store
    folder: DataFolder
    live: Live
    demo: Demo | None
    auto_max_points: int = 5000
    raw_max_points: int = 50000
    _memo: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock)
    _refreshed: dict[str, float] = field(default_factory=dict)  # dataset -> last reload

    def view(self, name: str, pairs: Iterable[tuple[str, str]],
             ignore: Iterable[str] = ()) -> tuple[Dataset, Snapshot, View]:
        """The dataset, a snapshot of it, and the view the query pairs ask for (or raise)."""
        dataset = self.store.get(name)
        snap = dataset.snapshot()
        view = parse_view(pairs, snap.metrics, dataset.label_names, ignore)
        return dataset, snap, view

    def analyse(self, snap: Snapshot, view: View) -> tuple[Selection, Result]:
        """The view's selected rows and its traces, for pages and exports."""
        sel = select(snap, view)
        return sel, run(snap, view, self.auto_max_points, self.raw_max_points, sel)

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` once per key, kept for the most recent keys (per view and version).

        Pages and live fragment refreshes of one view at one version share one
        computation however many people watch it.
        """
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]  # type: ignore[no-any-return]
        value = make()
        with self._memo_lock:
            self._memo[key] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def refresh_allowed(self, name: str) -> bool:
        """At most one forced reload of a dataset per ``REFRESH_EVERY`` seconds (any client)."""
        now = time.monotonic()
        with self._memo_lock:
            if now - self._refreshed.get(name, -REFRESH_EVERY) < REFRESH_EVERY:
                return False
            self._refreshed[name] = now
            return True

    def describe(self) -> list[dict[str, Any]]:
        """A summary of every dataset (and of files that failed to load)."""
        out = []
        for name in self.store.names():
            dataset = self.store.datasets.get(name)
            entry: dict[str, Any] = {  # the SPEC's fields, empty for a file that never loaded
                "name": name, "error": self.store.errors.get(name), "rows": None,
                "points": None, "metrics": [], "labels": {}, "start": None, "end": None,
                "version": None, "epoch": None}
            if dataset is not None:
                snap = dataset.snapshot()
                entry.update(
                    rows=dataset.rows,
                    points=len(snap),
                    metrics=list(snap.metrics),
                    labels={k: list(v) for k, v in snap.label_values.items()},
                    start=format_instant(snap.start) if snap.start is not None else None,
                    end=format_instant(snap.end) if snap.end is not None else None,
                    version=snap.version,
                    epoch=snap.epoch,
                    updated=dataset.updated_at,
                    source=dataset.source,
                )
            out.append(entry)
        return out


def dash() -> Dash:
    """The current app's ``Dash`` state."""
    state = current_app.extensions["dash"]
    assert isinstance(state, Dash)
    return state
