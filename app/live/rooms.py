"""Socket.IO rooms, in one place: their names, who joins and leaves them, and what each
was sent last. A room per watched view (``Rooms``), a room per open dashboard
(``DashboardRooms``); who is in a room, Socket.IO's manager keeps.
"""
from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..data.store import Store
from ..engine.view import View, view_key
from .transport import Transport
from .waiting import Waiters

# Views one socket may watch at once: a view page watches one, a dashboard page one per
# panel, and a dashboard has at most 24 panels (app.data.dashboards.MAX_PANELS). A page
# that swaps its views (other overrides, a new layout) leaves the old ones in the same
# step as it joins the new (``Rooms.replace``), so 24 always fit; 32 leaves 8 for views
# the same connection watches besides.
MAX_VIEWS_PER_SOCKET = 32
# Distinct views watched at once over all sockets (DASH_MAX_VIEWS): each is computed on
# every change of its dataset. Unbounded, 300 connections x 16 views kept a core busy
# and /healthz took 2.2 s at the median.
MAX_VIEWS = 2000
# Views the connections of one address watch together (DASH_MAX_VIEWS_PER_IP; a
# connection watching none counts as one): a budget per address, so one address cannot
# take the server's whole MAX_VIEWS. One address with 300 connections x 16 views took all
# 2,000, and /healthz answered in 9.8 s, ingest in 5.8 s.
MAX_VIEWS_PER_ADDRESS = 128


def query_room(dataset: str, query: str) -> str:
    """The room of dataset ``dataset``'s view whose canonical query string is ``query`` (what
    a subscribe ack gave back): ``view_key`` of that view."""
    return f"{dataset}?{query}"


def room_name(dataset: str, view: View) -> str:
    """The room of a view: its ``view_key`` (every table page of a view shares its room)."""
    return view_key(dataset, view)


def dashboard_room(name: str) -> str:
    """The room of every page showing dashboard ``name`` (dataset names hold no ``:``),
    and the long-poll key of its document."""
    return f"dashboard:{name}"


class Payloads(Protocol):
    """What builds a view's ``update_chart`` payload (``app.live.figures.Figures``)."""

    def payload(self, dataset: str, view: View) -> dict[str, Any]:
        """Dataset, query, version, epoch and figure; ``UnknownDataset`` if it is gone."""
        ...


class TooManyViews(ValueError):
    """A socket asked to watch more views than allowed; the message says the limit."""


def _address_message(limit: int) -> str:
    return (f"your address watches its limit of {limit} live views already, over all its "
            "connections (DASH_MAX_VIEWS_PER_IP); close some pages or views first")


@dataclass
class Watched:
    """A view that at least one socket watches, and what its room was sent last."""

    dataset: str
    view: View
    # The base of the next extend_chart; written by Rooms only (welcome, record_sent).
    sent: dict[str, Any] | None = None


class Rooms:
    """The views' rooms: which views are watched (``watched``: room name -> ``Watched``, to
    read; it changes through the methods), who may join, and what each room was sent.
    Membership is Socket.IO's."""

    def __init__(self, transport: Transport, max_per_socket: int = MAX_VIEWS_PER_SOCKET,
                 max_views: int = MAX_VIEWS,
                 max_per_address: int = MAX_VIEWS_PER_ADDRESS) -> None:
        self.transport = transport
        self.max_per_socket = max_per_socket
        self.max_views = max_views
        self.max_per_address = max_per_address
        self.watched: dict[str, Watched] = {}
        self._address: dict[str, str] = {}  # sid -> its address
        self._views: dict[str, int] = {}  # sid -> view rooms it is in
        # address -> views its connections watch, each at least one. Kept as they change:
        # summed on every connect, 1,100 connections of one address took O(n^2) and the
        # first clients missed their pings.
        self._load: dict[str, int] = {}
        # Sockets that did not say at connect that they apply extend_chart's ``replace``
        # and ``head`` (SPEC's extend_chart only appends): they get whole figures instead.
        self._appending_only: set[str] = set()

    # -- addresses: the budget of views per address ----------------------------------------

    def arrive(self, sid: str, address: str, parts: bool = False) -> None:
        """Connection ``sid`` comes from ``address`` (after trusted proxies);
        ``parts``: it applies ``extend_chart``'s ``replace`` and ``head``."""
        self._address[sid] = address
        if not parts:
            self._appending_only.add(sid)
        self._views[sid] = 0
        self._load[address] = self._load.get(address, 0) + 1

    def arrival_refusal(self, address: str) -> str | None:
        """None if ``address`` may open another connection (it counts as one view
        until it watches more), else why not."""
        if self._load.get(address, 0) + 1 > self.max_per_address:
            return _address_message(self.max_per_address)
        return None

    def _check_address(self, sid: str, after: int) -> None:
        """``TooManyViews`` if ``sid`` watching ``after`` views puts its address over
        its budget."""
        address = self._address.get(sid)
        if address is None:
            return
        load = self._load[address] - max(1, self._views[sid]) + max(1, after)
        if load > self.max_per_address:
            raise TooManyViews(_address_message(self.max_per_address))

    def _count(self, sid: str, views: int) -> None:
        """``sid`` is in ``views`` view rooms now."""
        address = self._address.get(sid)
        if address is not None:
            self._load[address] += max(1, views) - max(1, self._views[sid])
            self._views[sid] = views

    def join(self, sid: str, dataset: str, view: View) -> str:
        """Put ``sid`` into the view's room and return the room; ``TooManyViews`` past the
        cap per socket, or for a view nobody watches yet once ``max_views`` are watched."""
        room = room_name(dataset, view)
        mine = self.rooms_of(sid)  # view rooms only: a dashboard's own room is not a view
        if room not in mine and len(mine) >= self.max_per_socket:
            raise TooManyViews(f"a connection may watch at most {self.max_per_socket} views; "
                               "unsubscribe from one first")
        if room not in mine:
            self._check_address(sid, len(mine) + 1)
        if room not in self.watched and len(self.watched) >= self.max_views:
            raise TooManyViews(f"the server already follows its limit of {self.max_views} "
                               "distinct live views (DASH_MAX_VIEWS); views others watch "
                               "still work, or try again later")
        self.watched.setdefault(room, Watched(dataset, view.chart))
        self.transport.enter(sid, room)
        if room not in mine:
            self._count(sid, len(mine) + 1)
        return room

    def replace(self, sid: str, old: Collection[str],
                views: Sequence[tuple[str, View]]) -> list[str]:
        """In one step, take ``sid`` out of the rooms in ``old`` it no longer needs and into
        the room of each (dataset, view) in ``views``; the new rooms, in order.

        Both caps count what is watched afterwards, not old and new together: what ``sid``
        watches (``max_per_socket``), and the server's distinct views (``max_views``, the
        views only ``sid`` watched and leaves making room). ``TooManyViews`` (and nothing
        changed) only past one of them.
        """
        rooms = [room_name(dataset, view) for dataset, view in views]
        mine = self.rooms_of(sid)
        leaving = (mine & set(old)) - set(rooms)
        after = (mine - leaving) | set(rooms)
        if len(after) > self.max_per_socket:
            raise TooManyViews(f"a connection may watch at most {self.max_per_socket} views "
                               f"and this would make it {len(after)}; unsubscribe from some "
                               "first")
        self._check_address(sid, len(after))
        fresh = {room for room in rooms if room not in self.watched}
        freed = {room for room in leaving if set(self.transport.members(room)) <= {sid}}
        if fresh and len(self.watched) - len(freed) + len(fresh) > self.max_views:
            raise TooManyViews(f"the server already follows its limit of {self.max_views} "
                               "distinct live views (DASH_MAX_VIEWS); views others watch "
                               "still work, or try again later")
        for room in leaving:
            self.leave(sid, room)
        for room, (dataset, view) in zip(rooms, views, strict=True):
            self.watched.setdefault(room, Watched(dataset, view.chart))
            self.transport.enter(sid, room)
        self._count(sid, len(after))
        return rooms

    def appending_only(self, room: str) -> list[str]:
        """The members of ``room`` that apply only SPEC's appending ``extend_chart``
        (no ``replace``/``head``): a change by parts reaches them as the whole figure."""
        if not self._appending_only:
            return []
        return [sid for sid in self.transport.members(room) if sid in self._appending_only]

    def welcome(self, sid: str, room: str, figures: Payloads) -> dict[str, Any]:
        """Send ``sid``, just joined to view room ``room``, the view's figure now
        (``update_chart``, straight to it: never through a message queue) and return it;
        if the room has sent nothing yet, its deltas start there. ``UnknownDataset`` (and
        nothing sent) if the dataset went away, ``KeyError`` for a room nobody watches."""
        watched = self.watched[room]
        payload = figures.payload(watched.dataset, watched.view)
        self.transport.emit_to(sid, "update_chart", payload)
        if watched.sent is None:
            watched.sent = payload
        return payload

    def record_sent(self, room: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Remember ``payload`` as what view room ``room`` was sent last (the base of its
        next ``extend_chart``, and of slow sockets' catch-up); the one before, None if
        none. ``KeyError`` for a room nobody watches."""
        watched = self.watched[room]
        previous, watched.sent = watched.sent, payload
        return previous

    def leave(self, sid: str, room: str) -> None:
        """Take ``sid`` out of ``room``; the view is forgotten once nobody watches it."""
        mine = self.rooms_of(sid) if sid in self._address else set()
        self.transport.leave(sid, room)
        self.prune(room)
        if room in mine:
            self._count(sid, len(mine) - 1)

    def drop(self, sid: str) -> None:
        """Forget the views only a disconnecting ``sid`` watched (it leaves its rooms next),
        and its place in its address's budget."""
        self._appending_only.discard(sid)
        address = self._address.pop(sid, None)
        if address is not None:
            left = self._load[address] - max(1, self._views.pop(sid))
            if left > 0:
                self._load[address] = left
            else:
                del self._load[address]
        for room in self.transport.rooms_of(sid):
            if set(self.transport.members(room)) <= {sid}:
                self.watched.pop(room, None)

    def prune(self, room: str) -> bool:
        """Forget ``room``'s view if nobody watches it any more; True if forgotten."""
        if room in self.watched and not self.transport.members(room):
            del self.watched[room]
            return True
        return False

    def rooms_of(self, sid: str) -> set[str]:
        """The view rooms ``sid`` is in."""
        return {room for room in self.transport.rooms_of(sid) if room in self.watched}

    def members(self, room: str) -> list[str]:
        """The sockets of this process in ``room``."""
        return self.transport.members(room)

    def watching(self, datasets: Collection[str]) -> list[tuple[str, Watched]]:
        """The watched views of ``datasets``, each with its room (a copy: sends may make
        sockets leave); views nobody watches any more are forgotten on the way."""
        return [(room, watched) for room, watched in list(self.watched.items())
                if watched.dataset in datasets and not self.prune(room)]

    def watched_by(self, sid: str, room: str) -> Watched | None:
        """``room``'s view if ``sid`` is still in it, else None."""
        watched = self.watched.get(room)
        return watched if watched is not None and room in self.rooms_of(sid) else None

    @property
    def viewers(self) -> int:
        """Sockets of this process watching at least one view."""
        sids: set[str] = set()
        for room in self.watched:
            sids.update(self.transport.members(room))
        return len(sids)


@dataclass
class _Open:
    """A dashboard some sockets show: its version and which of its datasets were loaded
    when they last joined (a panel on a missing one shows its error instead)."""

    version: int
    loaded: dict[str, bool] = field(default_factory=dict)
    sids: set[str] = field(default_factory=set)


class DashboardRooms:
    """The dashboards' rooms: which view rooms each socket joined for which dashboard, and
    ``dashboard_changed``.

    A page showing a dashboard is in its room (``dashboard_room``) and in one ordinary view
    room per distinct panel view (``Rooms``): a panel's view is shared with every page and
    dashboard that shows it. What is kept here is only which of a socket's view rooms it
    holds for a dashboard, so that leaving (or a new layout) leaves exactly those and no
    view another dashboard of the same socket still shows.

    A dataset that appears (ingest creates it, its file comes back or loads again) or goes
    away while a dashboard on it is open changes what its panels can show, though the
    document stays the same: its pages get ``dashboard_changed`` with ``datasets`` naming
    it, and redraw.
    """

    def __init__(self, rooms: Rooms, waiters: Waiters, store: Store | None = None) -> None:
        self.rooms = rooms
        self.transport = rooms.transport
        self.waiters = waiters
        self.store = store
        self._joined: dict[str, dict[str, tuple[str, ...]]] = {}  # sid -> name -> view rooms
        self._open: dict[str, _Open] = {}  # name -> what its sockets were shown
        self._announced: dict[str, int] = {}  # name -> announcements so far
        self._lock = threading.Lock()
        if store is not None:
            store.subscribe(self.dataset_changed)

    def join(self, sid: str, name: str, views: Iterable[tuple[str, View]], version: int,
             loaded: Mapping[str, bool]) -> list[str]:
        """Put ``sid`` into dashboard ``name``'s room and the room of each distinct
        (dataset, view) in ``views``, in one step leaving the view rooms it held only for
        an earlier join of ``name``; the view rooms, in order. ``version`` of the document
        is shown, drawn while ``loaded`` said which of its datasets were loaded (one that
        came or went since is announced at once). ``TooManyViews`` (and nothing changed)
        past a cap of ``Rooms.replace``."""
        shown: dict[str, tuple[str, View]] = {}
        for dataset, view in views:
            shown.setdefault(room_name(dataset, view), (dataset, view))
        rooms = self.rooms.replace(sid, self._releasable(sid, name), list(shown.values()))
        self.transport.enter(sid, dashboard_room(name))
        with self._lock:
            self._joined.setdefault(sid, {})[name] = tuple(rooms)
            board = self._open.setdefault(name, _Open(version))
            board.version = version
            board.loaded.update(loaded)
            board.sids.add(sid)
        for dataset in loaded:
            self.dataset_changed(dataset)
        return rooms

    def leave(self, sid: str, name: str, *, keep_listening: bool = False) -> None:
        """Take ``sid`` out of dashboard ``name``: out of the view rooms no other dashboard
        of ``sid`` holds, and out of the dashboard's room unless ``keep_listening`` (a page
        whose dashboard cannot be shown now waits there to hear it is fixed)."""
        for room in self._left(sid, name):
            self.rooms.leave(sid, room)
        if keep_listening:
            self.transport.enter(sid, dashboard_room(name))
        else:
            self.transport.leave(sid, dashboard_room(name))

    def _releasable(self, sid: str, name: str) -> tuple[str, ...]:
        """The view rooms ``sid`` holds for dashboard ``name`` and for no other dashboard:
        what a new join of ``name`` may leave."""
        with self._lock:
            mine = self._joined.get(sid, {})
            others = {room for other, held in mine.items() if other != name for room in held}
            return tuple(room for room in mine.get(name, ()) if room not in others)

    def _left(self, sid: str, name: str) -> tuple[str, ...]:
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
            self.transport.emit_room(dashboard_room(name), "dashboard_changed",
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
        self.transport.emit_room(dashboard_room(name), "dashboard_changed", payload)
        self.waiters.changed(dashboard_room(name))
