"""Live fan-out: one figure per view per change, shared by every socket in the view's room."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_socketio import SocketIO

from . import transport
from .charts import delta, dumps
from .store import Snapshot, Store, UnknownDataset
from .transport import Message
from .views import View

log = logging.getLogger("dash.live")
Compute = Callable[[Snapshot, View], dict[str, Any]]
CACHE_SIZE = 256
# Messages a client may have waiting before new ones skip it (see Live.backlogged).
MAX_BACKLOG = 8
# Datasets smaller than this are charted on the event loop (a few ms at most).
INLINE_ROWS = 50_000
# Views one socket may watch at once (a page watches one).
MAX_ROOMS_PER_SOCKET = 16


def room_name(dataset: str, view: View) -> str:
    """The Socket.IO room of a view: dataset and canonical chart query."""
    return f"{dataset}?{view.chart.query}"


@dataclass
class Watched:
    """A view that at least one socket watches, and what its room was sent last."""

    dataset: str
    view: View
    sids: set[str] = field(default_factory=set)
    sent: dict[str, Any] | None = None  # the base of the next extend_chart


@dataclass
class Built:
    """A view's payload at one version, and its JSON once an HTTP client asked for it."""

    version: int
    epoch: str
    payload: dict[str, Any]
    encoded: bytes | None = None


class Live:
    """Rooms, a per-view figure cache, and the loop that pushes changes to rooms."""

    def __init__(self, socketio: SocketIO, store: Store, compute: Compute,
                 max_updates_per_second: float = 10.0,
                 offload: Callable[..., Any] | None = None) -> None:
        self.socketio = socketio
        self.store = store
        self.compute = compute
        # Runs figure builds off the event loop (eventlet's tpool) so heartbeats keep going.
        self.offload = offload or (lambda fn, *args: fn(*args))
        self.min_interval = 1.0 / max_updates_per_second if max_updates_per_second > 0 else 0
        self.max_backlog = MAX_BACKLOG
        self.rooms: dict[str, Watched] = {}
        self.sid_rooms: dict[str, set[str]] = {}
        self.builds = 0  # figures computed; tests and /healthz read it
        self.deltas = 0  # extend_chart messages sent instead of full figures
        self.skipped = 0  # messages not queued for clients that were behind
        self._cache: OrderedDict[str, Built] = OrderedDict()
        self._building: dict[str, threading.RLock] = {}  # one build per room at a time
        self._behind: dict[str, str] = {}  # sid -> room it missed an update of
        self._changes: dict[str, Any] = {}  # dataset -> event set on its next change
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake: Any = None
        store.subscribe(self.notify)

    # -- figures -------------------------------------------------------------

    def _built(self, dataset: str, view: View) -> Built:
        snap = self.store.get(dataset).snapshot()
        room = room_name(dataset, view)
        with self._lock:
            hit = self._cache.get(room)
            if hit and (hit.version, hit.epoch) == (snap.version, snap.epoch):
                self._cache.move_to_end(room)
                return hit
            building = self._building.setdefault(room, threading.RLock())
        with building:  # many pollers, one build: the others wait and reuse it
            with self._lock:
                hit = self._cache.get(room)
            if hit and (hit.version, hit.epoch) == (snap.version, snap.epoch):
                return hit
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
            with self._lock:
                self.builds += 1
                newer = self._cache.get(room)
                if newer and newer.epoch == built.epoch and newer.version > built.version:
                    return built  # a change landed during the build and was cached first
                self._cache[room] = built
                self._cache.move_to_end(room)
                while len(self._cache) > CACHE_SIZE:
                    old, _ = self._cache.popitem(last=False)
                    self._building.pop(old, None)
            return built

    def payload(self, dataset: str, view: View) -> dict[str, Any]:
        """The ``update_chart`` payload of a view at the dataset's current version (cached)."""
        return self._built(dataset, view).payload

    def encoded(self, dataset: str, view: View) -> bytes:
        """The payload as JSON bytes, encoded once per version and shared by HTTP clients."""
        built = self._built(dataset, view)
        if built.encoded is None:
            built.encoded = dumps(built.payload)
        return built.encoded

    # -- membership ----------------------------------------------------------

    def join(self, sid: str, dataset: str, view: View) -> str:
        """Record that ``sid`` watches ``view``; returns the room to join."""
        room = room_name(dataset, view)
        rooms = self.sid_rooms.setdefault(sid, set())
        if room not in rooms and len(rooms) >= MAX_ROOMS_PER_SOCKET:
            raise ValueError(f"a connection may watch at most {MAX_ROOMS_PER_SOCKET} views; "
                             "unsubscribe from one first")
        watched = self.rooms.setdefault(room, Watched(dataset, view.chart))
        watched.sids.add(sid)
        rooms.add(room)
        return room

    def welcomed(self, room: str, payload: dict[str, Any]) -> None:
        """A new watcher got ``payload``: if the room has sent nothing yet, deltas start there."""
        watched = self.rooms.get(room)
        if watched is not None and watched.sent is None:
            watched.sent = payload

    def leave(self, sid: str, room: str) -> None:
        """Forget that ``sid`` watches ``room``."""
        watched = self.rooms.get(room)
        if watched:
            watched.sids.discard(sid)
            if not watched.sids:
                del self.rooms[room]
        self.sid_rooms.get(sid, set()).discard(room)
        self._behind.pop(sid, None)

    def drop(self, sid: str) -> None:
        """Forget a disconnected socket."""
        for room in self.sid_rooms.pop(sid, set()):
            self.leave(sid, room)
        self._behind.pop(sid, None)

    @property
    def clients(self) -> int:
        """Sockets watching at least one view."""
        return len(self.sid_rooms)

    # -- changes -------------------------------------------------------------

    def notify(self, dataset: str) -> None:
        """A dataset changed: push to its rooms now (no loop running) or on the next tick."""
        if self._wake is None:
            self.flush({dataset})
            return
        self._pending.add(dataset)
        self._wake.set()

    def flush(self, datasets: set[str]) -> int:
        """Compute each watched view of ``datasets`` once, emit it to its room, wake pollers.

        A view that only grew gets ``extend_chart`` (the new points since what the
        room was sent last) instead of the whole figure; clients on another version
        ask for the whole figure.
        """
        sent = 0
        for room, watched in list(self.rooms.items()):
            if watched.dataset not in datasets:
                continue
            try:
                payload = self.payload(watched.dataset, watched.view)
            except UnknownDataset:
                continue  # the file went away; its viewers keep their last chart
            except Exception:  # one broken view must not stop the others
                log.exception("view update failed", extra={"event": "error", "room": room})
                continue
            previous, watched.sent = watched.sent, payload
            if previous is payload:
                continue  # this room already has this version
            change = None
            if previous is not None and previous["epoch"] == payload["epoch"]:
                change = delta(previous["figure"], payload["figure"])
            if change is not None:
                message = Message("extend_chart", {
                    "dataset": payload["dataset"], "query": payload["query"],
                    "version": payload["version"], "base_version": previous["version"],
                    "epoch": payload["epoch"], **change})
                self.deltas += 1
            else:
                message = Message("update_chart", payload)
            # Encoded and framed once; sockets over max_backlog behind are skipped.
            slow = transport.send(self.socketio, watched.sids, message, self.max_backlog)
            self.skipped += len(slow)
            self._behind.update(dict.fromkeys(slow, room))
            sent += 1
        for dataset in datasets:
            with self._lock:
                event = self._changes.pop(dataset, None)
            if event is not None:
                event.set()
        return sent

    def backlogged(self, sids: Iterable[str]) -> list[str]:
        """Sockets with more than ``max_backlog`` messages not yet sent to them.

        They are skipped until they drain, so a stalled client costs no more than
        its backlog; ``catch_up`` then sends them the whole current figure.
        """
        queues = [(sid, transport.queue_of(self.socketio.server, sid)[1]) for sid in sids]
        return [sid for sid, queue in queues
                if queue is not None and queue.qsize() > self.max_backlog]

    def catch_up(self) -> int:
        """Send the whole current figure to skipped sockets that have drained."""
        sent = 0
        for sid, room in list(self._behind.items()):
            watched = self.rooms.get(room)
            if watched is None or sid not in watched.sids or watched.sent is None:
                self._behind.pop(sid, None)
            elif not self.backlogged([sid]):
                self._behind.pop(sid, None)
                self.socketio.emit("update_chart", watched.sent, to=sid)
                sent += 1
        return sent

    def change_event(self, dataset: str) -> Any:
        """An event set at ``dataset``'s next change: get it *before* checking the version,
        so a change in between is not missed."""
        with self._lock:
            event = self._changes.get(dataset)
            if event is None:
                event = self._changes[dataset] = self.socketio.server.eio.create_event()
            return event

    def start(self) -> None:
        """Run the fan-out loop in the background (coalescing bursts of changes)."""
        self._wake = self.socketio.server.eio.create_event()
        self.socketio.start_background_task(self._run)

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            pending, self._pending = self._pending, set()
            try:
                if pending:
                    started = time.perf_counter()
                    sent = self.flush(pending)
                    log.debug("fan-out", extra={
                        "event": "fanout", "views": sent,
                        "ms": round((time.perf_counter() - started) * 1e3, 2)})
                self.catch_up()
            except Exception:  # the loop must outlive any one bad push
                log.exception("fan-out failed", extra={"event": "error"})
            # At most max_updates_per_second per dataset: later changes wait and coalesce.
            self.socketio.sleep(self.min_interval)
