"""Live fan-out: one figure per view per change, shared by every socket in the view's room."""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_socketio import SocketIO

from .charts import delta, dumps
from .store import Snapshot, Store, UnknownDataset
from .views import View

log = logging.getLogger("dash.live")
Compute = Callable[[Snapshot, View], dict[str, Any]]
CACHE_SIZE = 256
# Messages a client may have waiting before new ones skip it (see Live.backlogged).
MAX_BACKLOG = 8


def room_name(dataset: str, view: View) -> str:
    """The Socket.IO room of a view: dataset and canonical chart query."""
    return f"{dataset}?{view.chart.query}"


@dataclass
class Watched:
    """A view that at least one socket watches."""

    dataset: str
    view: View
    sids: set[str] = field(default_factory=set)


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
        self.deltas = 0  # extend_chart messages sent instead of full figures
        self.skipped = 0  # messages not queued for clients that were behind
        self.max_backlog = MAX_BACKLOG
        self._changes: dict[str, Any] = {}  # dataset -> event set on its next change
        self.min_interval = 1.0 / max_updates_per_second if max_updates_per_second > 0 else 0
        self.rooms: dict[str, Watched] = {}
        self.sid_rooms: dict[str, set[str]] = {}
        self.builds = 0  # figures computed; tests and /healthz read it
        self._cache: OrderedDict[str, tuple[int, str, dict[str, Any]]] = OrderedDict()
        self._encoded: OrderedDict[str, tuple[dict[str, Any], bytes]] = OrderedDict()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake: Any = None
        store.subscribe(self.notify)

    # -- figures -------------------------------------------------------------

    def payload(self, dataset: str, view: View) -> dict[str, Any]:
        """The ``update_chart`` payload of a view at the dataset's current version (cached)."""
        snap = self.store.get(dataset).snapshot()
        room = room_name(dataset, view)
        with self._lock:
            cached = self._cache.get(room)
            if cached and cached[0] == snap.version and cached[1] == snap.epoch:
                self._cache.move_to_end(room)
                return cached[2]
        payload = {
            "dataset": dataset,
            "query": view.chart.query,
            "version": snap.version,
            "epoch": snap.epoch,
            "figure": self.offload(self.compute, snap, view.chart),
        }
        with self._lock:
            self.builds += 1
            self._cache[room] = (snap.version, snap.epoch, payload)
            self._cache.move_to_end(room)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return payload

    # -- membership ----------------------------------------------------------

    def join(self, sid: str, dataset: str, view: View) -> str:
        """Record that ``sid`` watches ``view``; returns the room to join."""
        room = room_name(dataset, view)
        watched = self.rooms.setdefault(room, Watched(dataset, view.chart))
        watched.sids.add(sid)
        self.sid_rooms.setdefault(sid, set()).add(room)
        return room

    def leave(self, sid: str, room: str) -> None:
        """Forget that ``sid`` watches ``room``."""
        watched = self.rooms.get(room)
        if watched:
            watched.sids.discard(sid)
            if not watched.sids:
                del self.rooms[room]
        self.sid_rooms.get(sid, set()).discard(room)

    def drop(self, sid: str) -> None:
        """Forget a disconnected socket."""
        for room in self.sid_rooms.pop(sid, set()):
            self.leave(sid, room)

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

    def encoded(self, dataset: str, view: View) -> bytes:
        """The payload as JSON bytes, encoded once per version and shared by HTTP clients."""
        payload = self.payload(dataset, view)
        room = room_name(dataset, view)
        with self._lock:
            hit = self._encoded.get(room)
            if hit is not None and hit[0] is payload:
                return hit[1]
        data = dumps(payload)
        with self._lock:
            self._encoded[room] = (payload, data)
            self._encoded.move_to_end(room)
            while len(self._encoded) > CACHE_SIZE:
                self._encoded.popitem(last=False)
        return data

    def cached(self, room: str) -> dict[str, Any] | None:
        """The newest payload computed for a room, whatever its version."""
        with self._lock:
            entry = self._cache.get(room)
        return entry[2] if entry else None

    def flush(self, datasets: set[str]) -> int:
        """Compute each watched view of ``datasets`` once, emit it to its room, wake pollers.

        A view that only grew gets ``extend_chart`` (the new points) instead of the
        whole figure; clients on another version ask for the whole figure.
        """
        sent = 0
        for room, watched in list(self.rooms.items()):
            if watched.dataset not in datasets:
                continue
            previous = self.cached(room)
            try:
                payload = self.payload(watched.dataset, watched.view)
            except UnknownDataset:
                continue  # the file went away; its viewers keep their last chart
            except Exception:  # one broken view must not stop the others
                log.exception("view update failed", extra={"event": "error", "room": room})
                continue
            if previous is payload:
                continue  # nothing new for this view (already sent at this version)
            change = None
            if previous is not None and previous["epoch"] == payload["epoch"]:
                change = delta(previous["figure"], payload["figure"])
            slow = self.backlogged(watched.sids)
            if change is not None:
                self.socketio.emit("extend_chart", {
                    "dataset": payload["dataset"], "query": payload["query"],
                    "version": payload["version"], "base_version": previous["version"],
                    "epoch": payload["epoch"], **change}, to=room, skip_sid=slow)
                self.deltas += 1
            else:
                self.socketio.emit("update_chart", payload, to=room, skip_sid=slow)
            self.skipped += len(slow)
            sent += 1
        for dataset in datasets:
            event = self._changes.pop(dataset, None)
            if event is not None:
                event.set()
        return sent

    def backlogged(self, sids: set[str]) -> list[str]:
        """Sockets with more than ``max_backlog`` messages not yet sent to them.

        They are skipped until they drain, so a stalled client costs no more than
        its backlog: its next message carries a version it can tell is not the
        next one, and it asks for the whole figure (the same resync as a reconnect).
        """
        manager, eio = self.socketio.server.manager, self.socketio.server.eio
        slow = []
        for sid in sids:
            eio_socket = eio.sockets.get(manager.eio_sid_from_sid(sid, "/") or "")
            queue = getattr(eio_socket, "queue", None)
            if queue is not None and queue.qsize() > self.max_backlog:
                slow.append(sid)
        return slow

    def wait(self, dataset: str, timeout: float) -> None:
        """Block this request (a green thread under eventlet) until ``dataset`` changes."""
        event = self._changes.get(dataset)
        if event is None:
            event = self._changes[dataset] = self.socketio.server.eio.create_event()
        event.wait(timeout)

    def start(self) -> None:
        """Run the fan-out loop in the background (coalescing bursts of changes)."""
        self._wake = self.socketio.server.eio.create_event()
        self.socketio.start_background_task(self._run)

    def _run(self) -> None:
        while True:
            self._wake.wait(5.0)
            self._wake.clear()
            pending, self._pending = self._pending, set()
            if pending:
                started = time.perf_counter()
                sent = self.flush(pending)
                if sent:
                    log.debug("fan-out", extra={"event": "fanout", "views": sent,
                                                "ms": round((time.perf_counter() - started) * 1e3, 2)})
            # At most max_updates_per_second per dataset: later changes wait and coalesce.
            self.socketio.sleep(self.min_interval)
