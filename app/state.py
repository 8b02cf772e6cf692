"""The app's shared state (in ``app.extensions["dash"]``) and its typed accessor."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import current_app

from .data.dashboards import Dashboard, DashboardStore, Overrides, Panel, effective_queries
from .data.demo import Demo, SharedDemo
from .data.errors import DatasetFailed, UnknownDataset
from .data.folder import DataFolder
from .data.log import IngestLog
from .data.store import Snapshot, Store
from .data.streams import StreamLog
from .engine.drawing import ChartLimits
from .engine.serieskeys import SeriesKeys
from .engine.view import View, ViewError, parse_view
from .live import Live
from .metrics import Metrics

T = TypeVar("T")
MEMO_SIZE = 128
# refresh_data reads a whole file: any client may ask, so each dataset and each
# connection at most this often (seconds). Limited per dataset only, one client rotating
# over datasets reloaded 153 times in 30 s (RSS peak 1.44 GB).
REFRESH_EVERY = 2.0
# And one reload at a time, with at most this many more waiting their turn: 30 clients
# rotating over six files of 300k rows ran several at once (RSS 0.75 -> 2.16 GB).
RELOADS_WAITING = 4
# Views a connection may ask for (``subscribe``, ``join_dashboard``): a burst of this many,
# then this many a second. A page asks once per change of its controls, a dashboard page
# once per change of its overrides; one connection re-joining as fast as its acks came
# asked 300 times in 9 s, each a parse, room changes and a figure per panel.
JOINS_BURST = 20
JOINS_PER_SECOND = 5.0


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


@dataclass(frozen=True)
class PanelView:
    """A panel and its effective view, or why it has none: its dataset is not loaded (or
    its file does not load), or its own query no longer fits the dataset. Such a panel
    shows its problem in its box; the dashboard's other panels are not affected."""

    panel: Panel
    view: View | None
    problem: str | None = None


def panel_problem(dataset: str, exc: Exception) -> str:
    """What a panel whose view cannot be made says instead, and what would change it."""
    if isinstance(exc, DatasetFailed):
        return f"dataset {dataset!r} does not load: {exc.error}"
    if isinstance(exc, UnknownDataset):
        return (f"dataset {dataset!r} is not loaded: no {dataset}.csv in the data folder and "
                "nothing ingested under that name; this panel fills in once it is")
    return f"this panel's query no longer fits dataset {dataset!r}: {exc}; edit the panel"


@dataclass
class AppState:
    """What handlers share: the store, the data folder, the durable log, live updates, the
    demo, the dashboards, the metrics."""

    store: Store
    folder: DataFolder
    live: Live
    demo: Demo | SharedDemo | None
    limits: ChartLimits
    # Files in <DATA_DIR>/dashboards; cluster mode puts a Redis store behind the same protocol.
    dashboards: DashboardStore
    # Where ingest batches go: the data folder's CSV files, or Redis streams (cluster mode).
    log: IngestLog
    metrics: Metrics = field(default_factory=Metrics)
    # Cluster mode: the reader of the shared log (None with one process).
    streams: StreamLog | None = None
    # Heavy numpy/pandas work goes here: eventlet's thread pool under the real server, so
    # clients' heartbeats keep flowing while it runs.
    offload: Callable[..., Any] = inline
    # Which labels tell series apart, per dataset version (by=series).
    keys: SeriesKeys = field(default_factory=SeriesKeys)
    # Pages and live fragment refreshes of one view at one version share one rendering,
    # however many people watch it.
    memo: Memo = field(default_factory=Memo)
    _refreshed: dict[str, float] = field(default_factory=dict)  # dataset -> last reload
    _asked: dict[str, float] = field(default_factory=dict)  # connection -> last reload
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _joins: dict[str, tuple[float, float]] = field(default_factory=dict)  # sid -> allowance
    clock: Callable[[], float] = time.monotonic  # seconds (tests move it by hand)
    _reloads: int = 0  # reloads running or waiting their turn
    _reloading: threading.Lock = field(default_factory=threading.Lock)  # one at a time

    def view_of(self, name: str, pairs: Iterable[tuple[str, str]],
                ignore: Iterable[str] = ()) -> tuple[Snapshot, View]:
        """A snapshot of dataset ``name`` and the view the query pairs ask for.

        Raises ``UnknownDataset`` or ``ViewError`` (naming the parameter).
        """
        snap = self.store.get(name).snapshot()
        return snap, parse_view(pairs, snap.metrics, tuple(snap.label_values), ignore)

    def panel_views(self, dashboard: Dashboard, overrides: Overrides) -> list[PanelView]:
        """Each panel and its effective view: the panel's query under the document's and the
        URL's settings. A panel whose dataset is not loaded, or whose own query no longer
        fits it, gets its ``problem`` instead; ``OverrideError``, or ``ViewError`` of a URL
        setting the data cannot show (``start`` after the document's ``end``), refuse the
        whole URL."""
        def labels_of(name: str) -> tuple[str, ...] | None:
            found = self.store.find(name)
            return None if found is None else tuple(found.label_names)

        out = []
        for panel, query in effective_queries(dashboard, overrides, labels_of):
            try:
                view = self.view_of(panel.dataset, parse_qsl(query, keep_blank_values=True))[1]
            except UnknownDataset as exc:
                out.append(PanelView(panel, None, panel_problem(panel.dataset, exc)))
                continue
            except ViewError as exc:
                if overrides != Overrides() and self._fits(dashboard, panel, labels_of):
                    raise  # the URL's doing: the panel fits without it
                out.append(PanelView(panel, None, panel_problem(panel.dataset, exc)))
                continue
            out.append(PanelView(panel, view))
        return out

    def _fits(self, dashboard: Dashboard, panel: Panel,
              labels_of: Callable[[str], tuple[str, ...] | None]) -> bool:
        """True if ``panel`` has a view under the document's own settings."""
        [(_, query)] = effective_queries(replace(dashboard, panels=(panel,)), Overrides(),
                                         labels_of)
        try:
            self.view_of(panel.dataset, parse_qsl(query, keep_blank_values=True))
        except (UnknownDataset, ViewError):
            return False
        return True

    def scan_dashboards(self) -> dict[str, int | None]:
        """Find dashboards changed on disk (hand edits, new and deleted files) and announce
        each to the pages and long-polls showing it; {name: version or ``None``}."""
        changed = self.dashboards.scan()
        for name, version in changed.items():
            self.live.dashboard_rooms.announce(name, version)
        return changed

    def refresh_refusal(self, name: str, sid: str) -> str | None:
        """None if connection ``sid`` may force a reload of dataset ``name`` now (and it is
        counted), else why not: at most one reload a dataset and one a connection every
        ``REFRESH_EVERY`` seconds."""
        now = time.monotonic()
        with self._lock:
            if self._reloads > RELOADS_WAITING:
                return ("the server is reloading other datasets; try again in a few seconds")
            if now - self._refreshed.get(name, -REFRESH_EVERY) < REFRESH_EVERY:
                return (f"{name!r} was reloaded less than {REFRESH_EVERY:g} s ago; "
                        "its viewers are up to date")
            if now - self._asked.get(sid, -REFRESH_EVERY) < REFRESH_EVERY:
                return (f"a connection may ask for one reload every {REFRESH_EVERY:g} s; "
                        "try again in a moment")
            self._refreshed[name] = self._asked[sid] = now
            if len(self._asked) > 1024:  # forget connections that asked long ago
                self._asked = {c: t for c, t in self._asked.items()
                               if now - t < REFRESH_EVERY}
            return None

    def join_refusal(self, sid: str) -> str | None:
        """None if connection ``sid`` may subscribe or join a dashboard now (and it is
        counted), else why not: ``JOINS_BURST`` at once, then ``JOINS_PER_SECOND``."""
        now = self.clock()
        with self._lock:
            tokens, then = self._joins.get(sid, (float(JOINS_BURST), now))
            tokens = min(float(JOINS_BURST), tokens + (now - then) * JOINS_PER_SECOND)
            if tokens < 1:
                self._joins[sid] = (tokens, now)
                return (f"a connection may subscribe or join at most {JOINS_PER_SECOND:g} "
                        f"times a second (after {JOINS_BURST} at once); try again in a "
                        "moment")
            self._joins[sid] = (tokens - 1, now)
            return None

    def disconnect(self, sid: str) -> None:
        """Connection ``sid`` is gone: the live side forgets it, and its allowances go."""
        self.live.disconnect(sid)
        with self._lock:
            self._joins.pop(sid, None)
            self._asked.pop(sid, None)

    def reload(self, name: str) -> bool:
        """Read dataset ``name``'s file again (``DataFolder.reload``), one reload at a time
        in the whole process: each holds a whole file and its parse in memory. Call only
        after ``refresh_refusal`` said yes; False if the dataset is no file."""
        with self._lock:
            self._reloads += 1
        try:
            with self._reloading:
                return self.folder.reload(name)
        finally:
            with self._lock:
                self._reloads -= 1


def app_state() -> AppState:
    """The current app's ``AppState``."""
    state = current_app.extensions["dash"]
    assert isinstance(state, AppState)
    return state
