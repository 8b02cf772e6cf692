"""Live fan-out: each watched view's figure computed once per change, sent to its room."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..data.errors import UnknownDataset
from ..data.store import Store
from ..engine.delta import extension
from .figures import Figures
from .rooms import Rooms
from .transport import Transport
from .waiting import Waiters

log = logging.getLogger("dash.live")


class Fanout:
    """Pushes changes to rooms: coalesced bursts, ``extend_chart`` deltas, slow-client catch-up."""

    def __init__(self, transport: Transport, store: Store, figures: Figures, rooms: Rooms,
                 waiters: Waiters, max_updates_per_second: float = 10.0) -> None:
        self.transport = transport
        self.store = store
        self.figures = figures
        self.rooms = rooms
        self.waiters = waiters
        self.min_interval = 1.0 / max_updates_per_second if max_updates_per_second > 0 else 0
        self.deltas = 0  # extend_chart messages sent instead of full figures
        self.skipped = 0  # messages not sent to clients that were behind
        self.on_flush: Callable[[float], None] | None = None  # each fan-out's seconds
        self._behind: dict[str, str] = {}  # sid -> room it missed an update of
        self._pending: set[str] = set()
        self._wake: Any = None
        transport.on_skip(self._skipped)
        store.subscribe(self.notify)

    def _skipped(self, sid: str, room: str) -> None:
        self.skipped += 1
        self._behind[sid] = room

    def notify(self, dataset: str) -> None:
        """A dataset changed: push to its rooms now (no loop running) or on the next tick."""
        if self._wake is None:
            self.flush({dataset})
            return
        self._pending.add(dataset)
        self._wake.set()

    def flush(self, datasets: set[str]) -> int:
        """Compute each watched view of ``datasets`` once, send it to its room, wake pollers.

        A view whose figure changed by parts gets ``extend_chart`` (what turns the figure
        the room was sent last into this one: raw points appended, an aggregated view's
        last buckets replaced and new ones appended) instead of the whole figure; clients
        on another version ask for the whole figure. Sockets that did not opt in to
        ``replace``/``head`` at connect get the whole figure for such a change. Returns the
        number of rooms sent to.
        """
        sent = 0
        for room, watched in self.rooms.watching(datasets):
            try:
                payload = self.figures.payload(watched.dataset, watched.view)
            except UnknownDataset:
                continue  # the file went away; its viewers keep their last chart
            except Exception:  # one broken view must not stop the others
                log.exception("view update failed", extra={"event": "error", "room": room})
                continue
            previous = watched.sent
            if previous is payload:
                continue  # this room already has this version
            if previous is not None and previous["epoch"] == payload["epoch"] and \
                    payload["version"] < previous["version"]:
                continue  # built before a newer figure a joiner was welcomed with
            try:
                self.rooms.record_sent(room, payload)
            except KeyError:
                continue  # its last viewer left while the figure was drawn
            change = None
            if previous is not None and previous["epoch"] == payload["epoch"]:
                change = extension(previous["figure"], payload["figure"])
            if previous is not None and change is not None:
                self.deltas += 1
                whole = (self.rooms.appending_only(room)
                         if "replace" in change or "head" in change else [])
                self.transport.emit_room(room, "extend_chart", {
                    "dataset": payload["dataset"], "query": payload["query"],
                    "version": payload["version"], "base_version": previous["version"],
                    "epoch": payload["epoch"], **change}, skip=whole)
                for sid in whole:
                    self.transport.emit_to(sid, "update_chart", payload)
            else:
                self.transport.emit_room(room, "update_chart", payload)
            sent += 1
        for dataset in datasets:
            self.waiters.changed(dataset)
        return sent

    def catch_up(self) -> int:
        """Send the whole current figure to skipped sockets that have drained."""
        sent = 0
        for sid, room in list(self._behind.items()):
            watched = self.rooms.watched_by(sid, room)
            if watched is None or watched.sent is None:
                self._behind.pop(sid, None)
            elif self.transport.drained(sid):
                self._behind.pop(sid, None)
                self.transport.emit_to(sid, "update_chart", watched.sent)
                sent += 1
        return sent

    def forget(self, sid: str) -> None:
        """A socket went away: no catch-up for it."""
        self._behind.pop(sid, None)

    def start(self) -> None:
        """Run the fan-out loop in the background (coalescing bursts of changes)."""
        self._wake = self.transport.create_event()
        self.transport.start_background_task(self._run)

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            pending, self._pending = self._pending, set()
            try:
                if pending:
                    started = time.perf_counter()
                    sent = self.flush(pending)
                    took = time.perf_counter() - started
                    if self.on_flush is not None:
                        self.on_flush(took)
                    log.debug("fan-out", extra={
                        "event": "fanout", "views": sent, "ms": round(took * 1e3, 2)})
                self.catch_up()
            except Exception:  # the loop must outlive any one bad push
                log.exception("fan-out failed", extra={"event": "error"})
            # At most max_updates_per_second per dataset: later changes wait and coalesce.
            self.transport.sleep(self.min_interval)
