"""The one fence around python-socketio, python-engineio and eventlet internals.

Everything else in the app talks to clients through ``Transport`` and the
public Flask-SocketIO API. Room membership lives in Socket.IO's own manager
(``join_room``/``leave_room``); room messages go out through
``SharedFrameManager``, a ``socketio.Manager`` installed with the library's
``client_manager=`` extension point, which encodes each message once: one
Socket.IO packet for the whole room, and on WebSockets served by
``app.live.transport.websocket`` one whole WebSocket frame written to every
socket (14-17 µs of server CPU per client instead of 33 µs, BENCHMARKS.md).

The internals used here are probed when the app starts (``internals``: the
classes' methods and what their instances are given): if a library upgrade
removed one, room messages and WebSockets log a warning naming it and the
library's version, and fall back to the libraries' public paths (slower, but
correct); eventlet's HTTP protocol, which has no such path, refuses to start
(``require_http_protocol``).
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

import socketio
from engineio import packet as eio_packet

from ...jsoncodec import dumps
from . import internals
from .internals import MissingInternals, require_http_protocol
from .places import FILES_RESERVE, WebSocketPlaces, websockets_that_fit

__all__ = ["NAMESPACE", "Message", "MissingInternals", "SharedFrameManager",
           "SharedFrameRedisManager", "Transport", "http_protocol", "install_websockets",
           "require_http_protocol", "serve", "text_frame"]

log = logging.getLogger("dash.transport")
NAMESPACE = "/"
SkipHandler = Callable[[str, str], None]


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

    __slots__ = ("_frame", "_packet", "_text", "data", "event")

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


def _send_queue(server: Any, eio_sid: str) -> Any:
    """An Engine.IO socket's send queue (a ``websocket.Writer`` once on a direct
    WebSocket); None when there is none (gone, or the Flask-SocketIO test client)."""
    return getattr(server.eio.sockets.get(eio_sid), "queue", None)


def _waiting(queue: Any) -> int:
    """Messages not yet written to a client (engineio's queue or a ``Writer``'s backlog)."""
    return int(queue.qsize()) if queue is not None else 0


class SharedFrameManager(socketio.Manager):  # type: ignore[misc]
    """Socket.IO's room registry, sending each room message encoded once.

    ``emit`` to a room of a view skips sockets with more than ``max_backlog``
    messages still unwritten and reports each to ``on_skip(sid, room)``, so a
    stalled client costs no more than its backlog (the fan-out sends it the
    whole figure once it drains). Emits with callbacks, to other namespaces, or
    while ``direct`` is off (internals missing) take the library's own path.
    """

    def __init__(self, max_backlog: int = 8) -> None:
        super().__init__()
        self.max_backlog = max_backlog
        self.on_skip: SkipHandler | None = None
        self.direct = True

    def emit(self, event: str, data: Any, namespace: str, room: Any = None,
             skip_sid: Any = None, callback: Any = None, to: Any = None,
             **kwargs: Any) -> None:
        """Send ``event`` to ``to``/``room`` (a room name or a sid), encoded once."""
        room = to or room
        if (not self.direct or callback is not None or namespace != NAMESPACE
                or room is None or isinstance(data, tuple) or not isinstance(room, str)):
            super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                         callback=callback, **kwargs)
            return
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        view_room = not self.is_sid_room(namespace, room)
        message = Message(event, data)
        for sid, eio_sid in self.get_participants(namespace, room):  # a copy: sends may
            if sid in skip:                                           # disconnect clients
                continue
            queue = _send_queue(self.server, eio_sid)
            if view_room and _waiting(queue) > self.max_backlog:
                if self.on_skip is not None:
                    self.on_skip(sid, room)
            elif getattr(queue, "shared_frames", False):  # a websocket.Writer
                queue.write(message.frame)
            else:
                self.server._send_eio_packet(eio_sid, message.packet)


class SharedFrameRedisManager(socketio.RedisManager, SharedFrameManager):  # type: ignore[misc]
    """Socket.IO's Redis message queue (what Flask-SocketIO's ``message_queue`` sets up),
    delivering locally through ``SharedFrameManager.emit``.

    The order of the bases is the point: ``PubSubManager`` delivers what this process
    emits, and what other processes publish, with ``super().emit``, which in this class
    is ``SharedFrameManager.emit`` (one encoding per room) rather than ``Manager.emit``.
    Emits with ``ignore_queue=True`` skip Redis and go straight to it.
    """

    def __init__(self, url: str, channel: str = "flask-socketio", max_backlog: int = 8) -> None:
        # RedisManager's own __init__, whose super() chain then reaches SharedFrameManager.
        socketio.RedisManager.__init__(self, url, channel=channel)
        self.max_backlog = max_backlog


class Transport:
    """How the rest of the app reaches Socket.IO clients: rooms, backlogs, events, emits."""

    def __init__(self, sio: Any, manager: SharedFrameManager) -> None:
        self.socketio = sio  # flask_socketio.SocketIO
        self.manager = manager

    @property
    def _server(self) -> Any:
        return self.socketio.server

    def check(self) -> list[str]:
        """Internals of room messages that are missing (``internals.room_messages``,
        logged with the library versions); with any missing, the public paths are used."""
        missing = internals.room_messages(self._server, self.manager)
        if missing:
            self.manager.direct = False
            log.warning("Socket.IO internals missing; room messages use the public path: "
                        f"{internals.described(missing)}",
                        extra={"event": "transport_fallback", "missing": missing})
        return missing

    def on_skip(self, handler: SkipHandler) -> None:
        """Call ``handler(sid, room)`` for each socket a room message skipped (too far behind)."""
        self.manager.on_skip = handler

    def enter(self, sid: str, room: str) -> None:
        """Put socket ``sid`` into ``room``."""
        self._server.enter_room(sid, room, namespace=NAMESPACE)

    def leave(self, sid: str, room: str) -> None:
        """Take socket ``sid`` out of ``room``."""
        self._server.leave_room(sid, room, namespace=NAMESPACE)

    def rooms_of(self, sid: str) -> set[str]:
        """The rooms ``sid`` is in, not counting its own."""
        return {r for r in self.manager.get_rooms(sid, NAMESPACE) if r != sid}

    def members(self, room: str) -> list[str]:
        """The sockets of ``room`` connected to this process."""
        return [sid for sid, _ in self.manager.get_participants(NAMESPACE, room)]

    def emit_room(self, room: str, event: str, data: Any,
                  skip: Collection[str] = ()) -> None:
        """Send ``event`` to this process's members of ``room`` but the sockets in ``skip``
        (never through a message queue: in cluster mode every process fans out its own
        rooms)."""
        self.socketio.emit(event, data, to=room, namespace=NAMESPACE, ignore_queue=True,
                           skip_sid=list(skip) or None)

    def broadcast(self, event: str, data: Any) -> None:
        """Send ``event`` to every socket of this process."""
        self.socketio.emit(event, data, namespace=NAMESPACE, ignore_queue=True)

    def emit_to(self, sid: str, event: str, data: Any) -> None:
        """Send ``event`` to one socket."""
        self.socketio.emit(event, data, to=sid, namespace=NAMESPACE, ignore_queue=True)

    def backlog(self, sid: str) -> int:
        """Messages not yet written to socket ``sid`` (0 when unknown)."""
        if not self.manager.direct:
            return 0
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE) or ""
        return _waiting(_send_queue(self._server, eio_sid))

    def drained(self, sid: str) -> bool:
        """True once socket ``sid`` is no longer too far behind for room messages (its
        backlog back within ``SharedFrameManager.max_backlog``)."""
        return self.backlog(sid) <= self.manager.max_backlog

    def connections(self) -> dict[str, int]:
        """Engine.IO connections of this process by transport: websocket, polling."""
        counts = {"websocket": 0, "polling": 0}
        sockets = getattr(getattr(self._server, "eio", None), "sockets", None)
        for eio_socket in list(sockets.values()) if isinstance(sockets, dict) else []:
            if not getattr(eio_socket, "closed", False):
                counts["websocket" if getattr(eio_socket, "upgraded", False) else "polling"] += 1
        return counts

    def create_event(self) -> Any:
        """An event object of the server's async mode (eventlet or threading)."""
        return self._server.eio.create_event()

    def sleep(self, seconds: float) -> None:
        """Sleep without blocking the server (a green sleep under eventlet)."""
        self.socketio.sleep(seconds)

    def start_background_task(self, target: Callable[..., Any], *args: Any) -> Any:
        """Run ``target`` in a green thread (eventlet) or a thread."""
        return self.socketio.start_background_task(target, *args)


def install_websockets(sio: Any) -> bool:
    """Serve WebSockets with ``websocket.Writer`` (eventlet only); False, logged with the
    library versions, when eventlet/engineio internals it needs are missing (its classes'
    methods, what their instances hold): stock engineio then serves them."""
    from . import websocket  # imports eventlet: only in the eventlet server

    missing = (websocket.missing_internals(sio.server.eio)
               + internals.direct_websockets(sio.server))
    if missing:
        log.warning(f"direct WebSockets off: library internals missing: "
                    f"{internals.described(missing)}",
                    extra={"event": "transport_fallback", "missing": missing})
        return False
    websocket.install(sio)
    return True


def http_protocol(header_timeout: float, direct_websockets: bool, min_rate: float = 500.0,
                  security_headers: Sequence[tuple[str, str]] = (), pool: Any = None,
                  websockets: WebSocketPlaces | None = None) -> Any:
    """eventlet's HTTP protocol class for ``wsgi.py``: a header timeout, paced bodies and
    answers, strict body framing and ``security_headers`` on its own answers
    (``http.Protocol``), waiting connections known to ``pool`` (an ``http.Pool``),
    WebSocket handshakes taking a place in ``websockets`` (503/429 when there is none),
    and with ``direct_websockets`` one that hands upgraded WebSockets, with their place,
    to a green thread of their own (``websocket.Protocol``)."""
    from . import http, websocket

    base = websocket.Protocol if direct_websockets else http.Protocol
    return type("Protocol", (base,), {"header_timeout": header_timeout, "min_rate": min_rate,
                                      "security_headers": tuple(security_headers),
                                      "pool": pool, "websockets": websockets})


# Connections the kernel queues for accept(): eventlet.listen's default (50) overflowed
# when a thousand clients connected at once, and each dropped SYN cost its client 1 s.
LISTEN_BACKLOG = 2048


def serve(app: Any, settings: Mapping[str, Any],
          security_headers: Sequence[tuple[str, str]] = ()) -> None:
    """Serve ``app`` with eventlet's WSGI server until stopped (``wsgi.py``, eventlet only).

    What ``SocketIO.run`` does, plus: a listen backlog of ``LISTEN_BACKLOG``; a port of its
    own (``SystemExit`` naming it when another process listens there: eventlet's default,
    ``SO_REUSEPORT``, let a second server start silently and the kernel split the
    connections between the two); eventlet's pool sized by ``DASH_MAX_CONNECTIONS``, at
    most ``DASH_MAX_CONNECTIONS_PER_IP`` of it per client address (trusted proxies aside);
    at most ``DASH_MAX_WEBSOCKETS`` open WebSockets, ``DASH_MAX_WEBSOCKETS_PER_IP`` per
    address (trusted proxies aside), which left the pool; the soft ``RLIMIT_NOFILE``
    raised (up to the hard one) to hold the pool, the WebSockets and
    ``places.FILES_RESERVE``, and fewer WebSockets when it cannot be
    (``places.websockets_that_fit``); accepting again after running short of open files
    (``http.Listener``); and ``http_protocol``'s timeouts, pace and framing checks, its
    own answers carrying ``security_headers``.
    """
    import eventlet
    import eventlet.green.socket
    import eventlet.wsgi

    from . import http
    from .framing import error_answer

    size = int(settings["MAX_CONNECTIONS"])
    wanted = int(settings["MAX_WEBSOCKETS"])
    open_files = _raise_open_files(size + wanted + FILES_RESERVE)
    websockets = websockets_that_fit(open_files, size, wanted)
    if websockets < wanted:
        log.warning(f"the open files limit ({open_files}) holds {websockets} WebSockets "
                    f"beside DASH_MAX_CONNECTIONS ({size}), not DASH_MAX_WEBSOCKETS "
                    f"({wanted}): raise the hard limit (ulimit -Hn, systemd's LimitNOFILE) "
                    "or lower the settings",
                    extra={"event": "rlimit", "websockets": websockets})
    family, _, _, _, address = eventlet.green.socket.getaddrinfo(
        settings["HOST"], settings["PORT"], type=socket.SOCK_STREAM)[0]
    try:
        listener = eventlet.listen(address, family, backlog=LISTEN_BACKLOG, reuse_port=False)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise SystemExit(f"cannot listen on {settings['HOST']}:{settings['PORT']}: another "
                         "process listens there already (another realtime-dash?); stop it "
                         "or set DASH_PORT") from None
    proxies = [ipaddress.ip_network(p.strip(), strict=False)
               for p in settings["TRUSTED_PROXIES"] if p.strip()]
    refusal = error_answer(503, "too many connections from your address "
                                "(DASH_MAX_CONNECTIONS_PER_IP); try again in a moment",
                           [*security_headers, ("Retry-After", "5")])
    pool = http.Pool(size, int(settings["MAX_CONNECTIONS_PER_IP"]),
                     partial(_among, proxies), refusal)
    places = WebSocketPlaces(websockets, int(settings["MAX_WEBSOCKETS_PER_IP"]),
                             partial(_among, proxies))
    protocol = http_protocol(settings["HEADER_TIMEOUT"], settings["DIRECT_WEBSOCKETS"],
                             settings["MIN_TRANSFER_RATE"], security_headers, pool, places)
    eventlet.wsgi.server(http.Listener(listener, log=log), app, custom_pool=pool,
                         log_output=settings["DEBUG"], protocol=protocol)


def _among(networks: Sequence[Any], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _raise_open_files(wanted: int) -> int | None:
    """Raise the soft open-files limit to ``wanted`` (within the hard one); the limit
    then (None: unlimited, or unknown)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError) as exc:
        log.warning("cannot read the open files limit", extra={"event": "rlimit",
                                                               "error": str(exc)})
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    if soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit", extra={"event": "rlimit",
                                                                    "error": str(exc)})
            return int(soft)
        log.info("raised the open files limit", extra={
            "event": "rlimit", "from": soft, "to": raised})
        soft = raised
    return int(soft)
