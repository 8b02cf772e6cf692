"""Live updates: the figure cache, watched views (rooms), the fan-out, long-poll waiting,
dashboards' rooms, and the transport fence around Socket.IO internals."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data.store import Store
from ..engine.delta import LiveCharts
from .fanout import Fanout
from .figures import Figures
from .rooms import MAX_VIEWS, MAX_VIEWS_PER_ADDRESS, DashboardRooms, Rooms
from .transport import SharedFrameManager, Transport
from .waiting import Waiters


@dataclass
class Live:
    """The live side of the app, one object per job."""

    transport: Transport
    figures: Figures
    rooms: Rooms
    waiters: Waiters
    fanout: Fanout
    dashboard_rooms: DashboardRooms

    @classmethod
    def build(cls, socketio: Any, manager: SharedFrameManager, store: Store, charts: LiveCharts,
              max_updates_per_second: float,
              offload: Callable[..., Any] | None = None, max_views: int = MAX_VIEWS,
              max_views_per_address: int = MAX_VIEWS_PER_ADDRESS) -> Live:
        """Wire the live pieces for ``socketio`` (whose client manager is ``manager``); views'
        figures are drawn by ``charts``."""
        transport = Transport(socketio, manager)
        transport.check()
        figures = Figures(store, charts, offload)
        rooms = Rooms(transport, max_views=max_views, max_per_address=max_views_per_address)
        waiters = Waiters(store, transport)
        fanout = Fanout(transport, store, figures, rooms, waiters, max_updates_per_second)
        dashboard_rooms = DashboardRooms(rooms, waiters, store)
        return cls(transport, figures, rooms, waiters, fanout, dashboard_rooms)

    def connect(self, sid: str, address: str, parts: bool = False) -> None:
        """Connection ``sid`` arrived from ``address`` (after trusted proxies); ``parts``:
        it applies extend_chart's replace and head."""
        self.rooms.arrive(sid, address, parts)

    def disconnect(self, sid: str) -> None:
        """Connection ``sid`` is gone: every registry keyed by sid forgets it (its views,
        its catch-up, its dashboards). A new per-sid registry is forgotten here too."""
        self.rooms.drop(sid)
        self.fanout.forget(sid)
        self.dashboard_rooms.forget(sid)
