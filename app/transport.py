"""Room messages encoded once: one Socket.IO packet and one WebSocket frame for a whole room.

``send`` writes the same frame to every WebSocket of a room through the
``Writer`` that ``app.websocket`` gives each eventlet WebSocket, and hands the
same Engine.IO packet to any other transport (long-polling, the test client).
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from engineio import packet as eio_packet

from .charts import dumps


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final RFC 6455 text frame (what a server sends)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x81, 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 127, size)
    return head + payload


class Message:
    """A Socket.IO event on the default namespace, encoded once for many sockets."""

    __slots__ = ("event", "data", "_text", "_frame", "_packet")

    def __init__(self, event: str, data: Any) -> None:
        self.event, self.data = event, data
        self._text: bytes | None = None
        self._frame: bytes | None = None
        self._packet: eio_packet.Packet | None = None

    @property
    def text(self) -> bytes:
        """Engine.IO MESSAGE ("4") of a Socket.IO EVENT ("2"): ``42["event",data]``."""
        if self._text is None:
            self._text = b"42" + dumps([self.event, self.data])
        return self._text

    @property
    def frame(self) -> bytes:
        """The whole WebSocket frame, shared by every socket that gets this message."""
        if self._frame is None:
            self._frame = text_frame(self.text)
        return self._frame

    @property
    def packet(self) -> eio_packet.Packet:
        """The Engine.IO packet, for sockets that are not (yet) on a WebSocket."""
        if self._packet is None:
            self._packet = eio_packet.Packet(eio_packet.MESSAGE, self.text[1:].decode())
        return self._packet


def queue_of(server: Any, sid: str) -> tuple[str, Any]:
    """A Socket.IO sid's Engine.IO sid and its send queue (None for a test client)."""
    eio_sid = server.manager.eio_sid_from_sid(sid, "/") or ""
    return eio_sid, getattr(server.eio.sockets.get(eio_sid), "queue", None)


def send(socketio: Any, sids: Iterable[str], message: Message, max_backlog: int) -> list[str]:
    """Send ``message`` to every socket of ``sids``; returns those skipped as too far behind.

    A WebSocket gets the frame built once for all; any other transport gets the
    Engine.IO packet, also encoded once.
    """
    server = socketio.server
    slow = []
    for sid in tuple(sids):  # a send can disconnect a client and so change the room
        eio_sid, queue = queue_of(server, sid)
        if queue is not None and queue.qsize() > max_backlog:
            slow.append(sid)
        elif getattr(queue, "shared_frames", False):  # an app.websocket.Writer
            queue.write(message.frame)
        else:
            server._send_eio_packet(eio_sid, message.packet)
    return slow
