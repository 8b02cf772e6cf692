"""The app's shared state (in ``app.extensions["dash"]``) and its typed accessor."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import current_app

from .data.dashboards import Dashboard, DashboardStore, Overrides, Panel, effective_queries
from .data.demo import Demo
from .data.folder import DataFolder
from .data.store import Snapshot, Store
from .engine.compute import Limits
from .engine.view import View, parse_view
from .live import Live

T = TypeVar("T")
MEMO_SIZE = 128
# refresh_data reads a whole file on the event loop: any client may ask, so not too often.
REFRESH_EVERY = 2.0


class Memo:
    """``make()`` once per key, kept for the most recent keys (thread-safe)."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value for ``key``, made now if it is not kept."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[no-any-return]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def inline(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` here (the offload of tests and tools)."""
    return fn(*args)


def canonical_query(store: Store, dataset: str, query: str) -> str:
    """A panel's query as its view's canonical query string (the dashboards' ``check_query``).

    ``UnknownDataset`` (a ``LookupError``) for a dataset that is not loaded, ``ViewError``
    (a ``ValueError`` naming the parameter) for a query the dataset refuses.
    """
    snap = store.get(dataset).snapshot()
    view = parse_view(parse_qsl(query, keep_blank_values=True), snap.metrics,
                      tuple(snap.label_values))
    return view.query


@dataclass
class AppState:
    """What handlers share: the store, the data folder (the log), live updates, the demo,
    the dashboards."""

    store: Store
    folder: DataFolder
    live: Live
    demo: Demo | None
    limits: Limits
    # Files in <DATA_DIR>/dashboards; cluster mode puts a Redis store behind the same protocol.
    dashboards: DashboardStore
    # Heavy numpy/pandas work goes here: eventlet's thread pool under the real server, so
    # clients' heartbeats keep flowing while it runs.
    offload: Callable[..., Any] = inline
    # Pages and live fragment refreshes of one view at one version share one rendering,
    # however many people watch it.
    memo: Memo = field(default_factory=Memo)
    _refreshed: dict[str, float] = field(default_factory=dict)  # dataset -> last reload
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def view_of(self, name: str, pairs: Iterable[tuple[str, str]],
                ignore: Iterable[str] = ()) -> tuple[Snapshot, View]:
        """A snapshot of dataset ``name`` and the view the query pairs ask for.

        Raises ``UnknownDataset`` or ``ViewError`` (naming the parameter).
        """
        snap = self.store.get(name).snapshot()
        return snap, parse_view(pairs, snap.metrics, tuple(snap.label_values), ignore)

    def panel_views(self, dashboard: Dashboard,
                    overrides: Overrides) -> list[tuple[Panel, View]]:
        """Each panel and its effective view: the panel's query under the document's and the
        URL's settings (``OverrideError``, ``UnknownDataset``, ``ViewError``)."""
        pairs = effective_queries(dashboard, overrides,
                                  lambda name: tuple(self.store.get(name).label_names))
        return [(panel, self.view_of(panel.dataset, parse_qsl(query, keep_blank_values=True))[1])
                for panel, query in pairs]

    def scan_dashboards(self) -> dict[str, int | None]:
        """Find dashboards changed on disk (hand edits, new and deleted files) and announce
        each to the pages and long-polls showing it; {name: version or ``None``}."""
        changed = self.dashboards.scan()
        for name, version in changed.items():
            self.live.boards.announce(name, version)
        return changed

    def refresh_allowed(self, name: str) -> bool:
        """At most one forced reload of a dataset per ``REFRESH_EVERY`` seconds (any client)."""
        now = time.monotonic()
        with self._lock:
            if now - self._refreshed.get(name, -REFRESH_EVERY) < REFRESH_EVERY:
                return False
            self._refreshed[name] = now
            return True


def app_state() -> AppState:
    """The current app's ``AppState``."""
    state = current_app.extensions["dash"]
    assert isinstance(state, AppState)
    return state
