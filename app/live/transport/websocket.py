"""Engine.IO WebSockets under eventlet: no writer or ping green thread per connection.

Stock python-engineio gives every WebSocket three green threads: the HTTP
request's (reading, on a stack ~30 calls deep), a writer draining a queue, and
one sleeping until the next ping. Each message to a room is then queued,
switched to, wrapped and framed once per client: ~32 µs of server CPU each
(1,000 viewers ≈ 32 ms before the last is served), and the idle connection
holds ~68 KB, mostly parked stacks and the HTTP request's buffers.

Here, once a socket is on a WebSocket:

- its queue is a ``Writer``, which frames each packet and writes it to the
  non-blocking OS socket at once; ``SharedFrameManager.emit`` writes one frame,
  built once, to every socket of a room. Only a socket whose kernel buffer is
  full gets a green thread, until its backlog drains;
- pings are hub timers that start a green thread only when they fire;
- with ``Protocol`` as eventlet's HTTP protocol (``wsgi.py``), the connection
  leaves the HTTP request: a fresh green thread with a shallow stack reads it,
  and the request's thread, buffers and headers are freed. WebSockets then
  also stop counting against the server's 1,024 concurrent requests.

The bytes on the wire are what engineio would have sent. This relies on
python-engineio's ``Socket`` and eventlet's ``WebSocket`` internals (both pinned
in pyproject.toml); the socket tests, the browser tests and bench/fanout.py
drive it through the real server.
"""
from __future__ import annotations

import io
import logging
import socket
import time
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

import eventlet
import eventlet.websocket
import eventlet.wsgi
import greenlet
from engineio import exceptions
from engineio import packet as eio_packet
from engineio.async_drivers.eventlet import WebSocketWSGI
from engineio.socket import Socket as _EioSocket
from eventlet import greenio
from eventlet.hubs import get_hub, trampoline
from eventlet.queue import Empty

from . import http
from .places import Place

log = logging.getLogger("dash.websocket")
EMPTY_BODY = io.BytesIO(b"")  # a WebSocket's request has no body; events never read one


class Writer:
    """Stands in for an Engine.IO socket's send queue once it is on a WebSocket.

    ``put`` (what engineio's ``Socket.send`` calls) frames the packet and writes
    it now; ``write`` takes a frame built once for a whole room. Bytes the kernel
    does not take wait in ``backlog``, in order, and one green thread drains them;
    meanwhile the WebSocket's own send lock is held, so eventlet's replies to
    control frames cannot land inside a half-written frame.
    """

    __slots__ = (
        "backlog",
        "closing",
        "draining",
        "locked",
        "raw",
        "shared_frames",
        "timeout",
        "ws",
    )

    def __init__(self, ws: Any, timeout: float) -> None:
        self.ws = ws
        self.raw = ws.socket.fd  # eventlet's green socket wraps a non-blocking OS socket
        # With permessage-deflate each client has its own compressor: no shared frames
        # (and the pre-RFC 6455 drafts frame differently).
        self.shared_frames = not getattr(ws, "extensions", True)
        self.timeout = timeout
        self.backlog: deque[memoryview] | None = None
        self.locked = False  # we hold ws._sendlock while a backlog drains
        self.draining = False
        self.closing = False

    # -- the queue interface engineio's Socket uses --------------------------------

    def put(self, pkt: eio_packet.Packet | None, *_: Any, **__: Any) -> None:
        """Send an Engine.IO packet; ``None`` closes the connection once sent."""
        if pkt is None:
            self.close()
        elif not self.closing:
            self.write(self.ws._pack_message(pkt.encode()))

    def qsize(self) -> int:
        """Writes waiting for the client to read (the fan-out skips sockets far behind)."""
        return len(self.backlog) if self.backlog else 0

    def empty(self) -> bool:
        return not self.backlog

    def task_done(self) -> None:
        pass

    def join(self) -> None:
        """Wait until everything queued has been written (or the connection dropped)."""
        while self.backlog:
            eventlet.sleep(0.01)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Nothing polls a WebSocket's queue: a stray long-poll request gets a NOOP."""
        if not block:
            raise Empty
        return eio_packet.Packet(eio_packet.NOOP)

    # -- writing -----------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Write one whole frame now, or after what is already waiting."""
        if self.closing:
            return
        if self.backlog or self.ws._sendlock.locked():
            self._queue(memoryview(frame))
            return
        try:
            sent = self.raw.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._abort()
            return
        if sent < len(frame):
            self._queue(memoryview(frame)[sent:])

    def _queue(self, rest: memoryview) -> None:
        if self.backlog is None:
            self.backlog = deque()
        self.backlog.append(rest)
        if not self.locked and self.ws._sendlock.acquire(blocking=False):
            self.locked = True  # nothing else may write until the backlog is out
        if not self.draining:
            self.draining = True
            eventlet.spawn_n(self._drain)

    def _drain(self) -> None:
        try:
            if not self.locked:  # another writer (a control frame reply) was mid-send
                self.ws._sendlock.acquire()
                self.locked = True
            while self.backlog:
                chunk = self.backlog[0]
                try:
                    sent = self.raw.send(chunk)
                except BlockingIOError:
                    trampoline(self.raw, write=True, timeout=self.timeout)
                    continue
                if sent == len(chunk):
                    self.backlog.popleft()
                else:
                    self.backlog[0] = chunk[sent:]
        except Exception:  # timed out (client stopped reading) or the socket broke
            self._abort()
        finally:
            self.draining = False
            if self.locked:
                self.locked = False
                self.ws._sendlock.release()

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Close after what is queued is written (eventlet sends the closing frame)."""
        if self.closing:
            return
        self.closing = True
        eventlet.spawn_n(self._close)

    def _close(self) -> None:
        if self.ws.websocket_closed:  # the reader already closed it (timeout, client gone)
            return
        try:
            self.ws.close()  # its closing frame waits on the send lock: after the backlog
        except Exception:  # already gone
            pass

    def stop(self) -> None:
        """Send nothing more, but finish the frame being written: never cut one in half."""
        self.closing = True
        while self.backlog and len(self.backlog) > 1:
            self.backlog.pop()

    def _abort(self) -> None:
        """Give up on a client: drop what is queued and wake its reader with EOF."""
        self.closing = True
        self.backlog = None
        try:
            self.raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _lighten(environ: dict[str, Any]) -> None:
    """Let a WSGI environ kept for a session stop holding its request's input and hooks."""
    for key in ("eventlet.input", "wsgi.input"):
        if key in environ:
            environ[key] = EMPTY_BODY
    for key in ("eventlet.posthooks", "eventlet.set_idle", "dash.detach"):
        environ.pop(key, None)


def _serve(eio_socket: Any, ws: Any, sessions: Mapping[str, Any]) -> list[Any]:
    """engineio's ``Socket._websocket_handler`` with a ``Writer`` for its writer thread."""
    server = eio_socket.server
    timeout = server.ping_interval + server.ping_timeout

    def wait() -> Any:
        data = ws.wait()
        if data and len(data) > server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data

    # A safety net for a dead peer, well after the heartbeat's own timeout: a silent
    # client is dropped the clean way (disconnect, then a normal closing frame), not
    # by a read timing out (closing frame 1011, "internal error").
    ws.socket.settimeout(server.ping_interval + 2 * server.ping_timeout + 5)
    if eio_socket.connected:  # an upgrade from long-polling
        eio_socket.upgrading = True
        probe = eio_packet.Packet(encoded_packet=wait())
        if probe.packet_type != eio_packet.PING or probe.data != "probe":
            eio_socket.upgrading = False
            return []
        ws.send(eio_packet.Packet(eio_packet.PONG, data="probe").encode())
        eio_socket.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end the pending poll
        upgrade = eio_packet.Packet(encoded_packet=wait())
        if upgrade.packet_type != eio_packet.UPGRADE:
            eio_socket.upgrading = False
            eio_socket.upgraded = False
            return []
        eio_socket.upgraded, eio_socket.upgrading = True, False
    else:
        eio_socket.connected = eio_socket.upgraded = True

    writer = Writer(ws, timeout)
    queued, eio_socket.queue = eio_socket.queue, writer
    while not queued.empty():  # what was sent before the switch goes first
        writer.put(queued.get(block=False))
    queued.put(eio_packet.Packet(eio_packet.NOOP))  # release a long-poll still waiting

    environ = ws.environ  # this upgrade request's
    session = sessions.get(eio_socket.sid)  # the handshake request's (python-socketio's)
    if session is not None and session is not environ:  # a long-poll handshake, long over
        _lighten(session)
    detach = environ.pop("dash.detach", None)
    if detach is None:  # another eventlet server: keep this request's green thread
        _read(eio_socket, ws, writer, wait)
        return []
    # Hand the connection, and its WebSocket place, to a green thread of its own with a
    # shallow stack, and let the HTTP request's thread (its deep stack, buffers and
    # headers) end.
    place = detach()
    _lighten(environ)
    ws.websocket_closed = True  # eventlet's closing frame after this returns: not yet
    eventlet.spawn_n(_read_detached, eio_socket, ws, writer, wait, place)
    return []


def _read_detached(eio_socket: Any, ws: Any, writer: Writer, wait: Any,
                   place: Place | None) -> None:
    """Read a detached WebSocket until it closes, then close it and give its place back
    (however it ended: a close frame, EOF, a reset, a heartbeat or read timeout)."""
    ws.websocket_closed = False
    try:
        _read(eio_socket, ws, writer, wait)
        if eio_socket.closed:  # what engineio does when a WebSocket request returns
            eio_socket.server.sockets.pop(eio_socket.sid, None)
    finally:
        try:
            ws._send_closing_frame(ignore_send_errors=True)
        finally:
            try:
                greenio.shutdown_safe(ws.socket)
                ws.socket.close()
            finally:
                if place is not None:
                    place.release()


def _read(eio_socket: Any, ws: Any, writer: Writer, wait: Any) -> None:
    """Receive until the client goes; then drop what is queued and close the session."""
    server = eio_socket.server
    while True:
        try:
            data = wait()
        except Exception as exc:
            if not eio_socket.closed:
                server.logger.info("%s: websocket error %s, closing", eio_socket.sid, exc)
            break
        if data is None:  # the client closed
            break
        try:
            eio_socket.receive(eio_packet.Packet(encoded_packet=data))
        except exceptions.UnknownPacketError:  # ignored, as engineio does
            pass
        except exceptions.SocketIsClosedError:
            break
        except Exception:
            server.logger.exception("%s: receive error", eio_socket.sid)
            break
    writer.stop()
    eio_socket.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


def _timer_pings(eio_socket: Any) -> None:
    """Schedule a socket's pings on the event hub instead of a sleeping green thread.

    The ping runs in a green thread created unstarted (no stack until it runs),
    like ``eventlet.spawn_n`` with a delay.
    """
    server = eio_socket.server

    def ping() -> None:
        try:
            if not eio_socket.closing and not eio_socket.closed:
                eio_socket.last_ping = time.time()
                eio_socket.send(eio_packet.Packet(eio_packet.PING))
        except Exception:  # never into the hub
            log.exception("ping failed", extra={"event": "error"})

    def schedule_ping() -> None:
        if eio_socket.last_ping:  # only after the previous ping was answered
            eio_socket.last_ping = None
            hub = get_hub()
            task = greenlet.greenlet(ping, parent=hub.greenlet)
            hub.schedule_call_global(server.ping_interval, task.switch)

    eio_socket.schedule_ping = schedule_ping


class _HandedOver:
    """What eventlet's server sees instead of a connection handed to a WebSocket reader."""

    def shutdown(self, *_: Any) -> None:
        pass

    def close(self) -> None:
        pass


class Protocol(http.Protocol):
    """``http.Protocol``, able to hand a WebSocket's connection over to ``_serve``."""

    detached = False

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ["dash.detach"] = self._detach
        return environ

    def _detach(self) -> Place | None:
        """Hand the connection and its WebSocket place (if it holds one) to the reader."""
        self.detached = True
        # eventlet.wsgi.server shuts down and closes conn_state[1] when this request's
        # green thread ends; the connection now belongs to the WebSocket's reader, which
        # gives the place back when it closes the connection.
        self.conn_state[1] = _HandedOver()
        place, self.place = self.place, None
        return place

    def finish(self) -> None:
        """Close the request's buffers; a detached connection stays open for its reader."""
        if not self.detached:
            super().finish()
            return
        try:
            BaseHTTPRequestHandler.finish(self)
        except OSError:
            pass


class DirectWebSocket(WebSocketWSGI):  # type: ignore[misc]
    """engineio's eventlet WebSocket endpoint, served by ``_serve``."""

    sessions: Mapping[str, Any] = {}  # python-socketio's environ per Engine.IO session

    def __init__(self, handler: Any, server: Any) -> None:
        eio_socket = handler.__self__  # engineio passes its Socket._websocket_handler
        super().__init__(lambda ws: _serve(eio_socket, ws, self.sessions), server)


# Attributes of library classes this module relies on (python-engineio and eventlet are
# pinned to their minor versions; a newer release that drops one turns this module off).
_INTERNALS: tuple[tuple[str, Any, str], ...] = (
    ("eventlet.websocket.WebSocket", eventlet.websocket.WebSocket,
     "_pack_message _send_closing_frame wait send close"),
    ("eventlet.wsgi.HttpProtocol", eventlet.wsgi.HttpProtocol,
     "get_environ finish handle_one_request parse_request _read_request_line"),
    ("engineio.Socket", _EioSocket, "receive close send schedule_ping"),
)


def missing_internals(eio: Any) -> list[str]:
    """What ``install`` needs of the libraries and does not find (empty: all there)."""
    missing = [f"{where}.{name}" for where, cls, names in _INTERNALS
               for name in names.split() if not hasattr(cls, name)]
    if not isinstance(getattr(eio, "_async", None), dict) or "websocket" not in eio._async:
        missing.append("engineio.Server._async['websocket']")
    if "connect" not in getattr(eio, "handlers", {}):
        missing.append("engineio.Server.handlers['connect']")
    return missing


def install(socketio: Any) -> None:
    """Serve this SocketIO's WebSockets with ``Writer`` and timer pings (eventlet only)."""
    eio = socketio.server.eio
    endpoint = type("DirectWebSocket", (DirectWebSocket,), {"sessions": socketio.server.environ})
    eio._async = {**eio._async, "websocket": endpoint}
    on_connect = eio.handlers["connect"]

    def connect(sid: str, environ: Any, *args: Any) -> Any:
        eio_socket = eio.sockets.get(sid)
        if eio_socket is not None:
            _timer_pings(eio_socket)
        return on_connect(sid, environ, *args)

    eio.handlers["connect"] = connect
