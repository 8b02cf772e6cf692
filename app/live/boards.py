"""Pages showing a dashboard: its Socket.IO room, the views each page joined for it, and
``dashboard_changed`` announcements (to sockets and to dashboard long-polls)."""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..data.store import Store
from .transport import Transport
from .waiting import Waiters


def board_room(name: str) -> str:
    """The room of every page showing dashboard ``name`` (dataset names hold no ``:``),
    and the long-poll key of its document."""
    return f"dashboard:{name}"


@dataclass
class _Open:
    """A dashboard some sockets show: its version and which of its datasets were loaded
    when they last joined (a panel on a missing one shows its error instead)."""

    version: int
    loaded: dict[str, bool] = field(default_factory=dict)
    sids: set[str] = field(default_factory=set)


class Boards:
    """Which view rooms each socket joined for which dashboard; ``dashboard_changed``.

    The view rooms themselves are ordinary views (``Rooms``): a panel's view is shared with
    every page and dashboard that shows it. What is kept here is only which of a socket's
    view rooms it holds for a dashboard, so that leaving (or a new layout) leaves exactly
    those and no view another dashboard of the same socket still shows.

    A dataset that appears (ingest creates it, its file comes back or loads again) or goes
    away while a dashboard on it is open changes what its panels can show, though the
    document stays the same: its pages get ``dashboard_changed`` with ``datasets`` naming
    it, and redraw.
    """

    def __init__(self, transport: Transport, waiters: Waiters, store: Store | None = None
                 ) -> None:
        self.transport = transport
        self.waiters = waiters
        self.store = store
        self._joined: dict[str, dict[str, tuple[str, ...]]] = {}  # sid -> name -> view rooms
        self._open: dict[str, _Open] = {}  # name -> what its sockets were shown
        self._announced: dict[str, int] = {}  # name -> announcements so far
        self._lock = threading.Lock()
        if store is not None:
            store.subscribe(self.dataset_changed)

    def releasable(self, sid: str, name: str) -> tuple[str, ...]:
        """The view rooms ``sid`` holds for dashboard ``name`` and for no other dashboard:
        what a new join of ``name`` may leave."""
        with self._lock:
            mine = self._joined.get(sid, {})
            others = {room for other, held in mine.items() if other != name for room in held}
            return tuple(room for room in mine.get(name, ()) if room not in others)

    def joined(self, sid: str, name: str, rooms: tuple[str, ...], version: int,
               loaded: Mapping[str, bool]) -> None:
        """Record that ``sid`` shows version ``version`` of dashboard ``name`` with these
        view rooms (replacing what it showed of ``name`` before), drawn while ``loaded``
        said which of its datasets were loaded. A dataset that came or went since is
        announced at once."""
        with self._lock:
            self._joined.setdefault(sid, {})[name] = rooms
            board = self._open.setdefault(name, _Open(version))
            board.version = version
            board.loaded.update(loaded)
            board.sids.add(sid)
        for dataset in loaded:
            self.dataset_changed(dataset)

    def left(self, sid: str, name: str) -> tuple[str, ...]:
        """Forget dashboard ``name`` for ``sid``; the view rooms no other dashboard of
        ``sid`` holds (to leave)."""
        with self._lock:
            mine = self._joined.get(sid, {})
            before = mine.pop(name, ())
            still = {room for held in mine.values() for room in held}
            if not mine:
                self._joined.pop(sid, None)
            self._close(sid, name)
        return tuple(room for room in before if room not in still)

    def forget(self, sid: str) -> None:
        """A socket went away (Socket.IO takes it out of its rooms)."""
        with self._lock:
            for name in self._joined.pop(sid, {}):
                self._close(sid, name)

    def _close(self, sid: str, name: str) -> None:
        board = self._open.get(name)
        if board is not None:
            board.sids.discard(sid)
            if not board.sids:
                del self._open[name]

    def dataset_changed(self, dataset: str) -> None:
        """A dataset changed: if it appeared or went away under an open dashboard, tell
        that dashboard's pages (``dashboard_changed`` with ``datasets``). Runs at every
        change of every dataset, so it only compares one flag per open dashboard."""
        if self.store is None:
            return
        loaded = self.store.find(dataset) is not None
        told: list[tuple[str, int]] = []
        with self._lock:
            for name, board in self._open.items():
                if board.loaded.get(dataset, loaded) != loaded:
                    board.loaded[dataset] = loaded
                    told.append((name, board.version))
        for name, version in told:
            self.transport.emit_room(board_room(name), "dashboard_changed",
                                     {"name": name, "version": version, "datasets": [dataset]})

    def generation(self, name: str) -> int:
        """How many changes of ``name`` were announced so far: a long-poll compares it
        instead of reading the document at every data change."""
        with self._lock:
            return self._announced.get(name, 0)

    def announce(self, name: str, version: int | None) -> None:
        """``dashboard_changed`` ``{"name", "version"}`` to every page showing ``name``
        (``version`` ``None``: deleted), and wake its long-polls."""
        payload: dict[str, Any] = {"name": name, "version": version}
        with self._lock:
            self._announced[name] = self._announced.get(name, 0) + 1
        self.transport.emit_room(board_room(name), "dashboard_changed", payload)
        self.waiters.changed(board_room(name))
