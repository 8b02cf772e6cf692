"""What the fence uses of python-socketio's, python-engineio's and eventlet's private parts,
probed when the app starts.

``hasattr`` on a class finds its methods, not what its instances are given in
``__init__`` (engineio's ``Socket.queue``, eventlet's ``WebSocket._sendlock``,
``HttpProtocol.conn_state``): a release that renames one passed a class check and broke
every connection later, one ``AttributeError`` at a time. So each is probed on a
throwaway instance built by the library's own ``__init__``, with nothing connected.

Each probe returns the missing parts, named ``library.Class.attribute``; ``described``
adds the installed versions. Where a public path exists (room messages, WebSockets) the
app falls back to it with a warning; eventlet's HTTP protocol has none, so
``require_http_protocol`` refuses to start.
"""
from __future__ import annotations

import socket
from collections.abc import Iterable
from importlib import metadata
from types import SimpleNamespace
from typing import Any

# Where a missing part's name starts -> the distribution that ships it.
DISTRIBUTIONS = {"socketio": "python-socketio", "engineio": "python-engineio",
                 "eventlet": "eventlet"}

# What app.live.transport (SharedFrameManager, Transport.backlog) uses.
SOCKETIO_SERVER = "_send_eio_packet"
MANAGER = "get_participants is_sid_room eio_sid_from_sid get_rooms"
EIO_SOCKET_QUEUE = "queue"
# What app.live.transport.websocket uses, besides its classes' methods.
EIO_SOCKET = "server sid queue connected upgrading upgraded closing closed last_ping"
EIO_SERVER = "ping_interval ping_timeout max_http_buffer_size logger reason sockets"
WEBSOCKET = "socket environ websocket_closed _sendlock"
# What app.live.transport.http uses of eventlet's HTTP server.
HTTP_PROTOCOL_METHODS = ("setup handle_one_request _read_request_line parse_request "
                         "send_error end_headers get_environ finish")
HTTP_PROTOCOL = "conn_state server"
HTTP_SERVER = "url_length_limit"
HTTP_ERRORS = "HeaderLineTooLong HeadersTooLarge"


class MissingInternals(RuntimeError):
    """Library internals the fence needs and has no public path around; the message names
    them and the installed versions."""


def lacking(where: str, obj: Any, names: str, call: bool = False) -> list[str]:
    """``where.name`` for each of ``names`` that ``obj`` lacks (or that is not callable)."""
    return [f"{where}.{name}" for name in names.split()
            if not hasattr(obj, name) or (call and not callable(getattr(obj, name)))]


def described(missing: Iterable[str]) -> str:
    """``missing`` with the installed version of each library it names: "python-engineio
    4.15.1 lacks engineio.Socket.queue; ..." (the fence is written for the versions
    pyproject.toml pins)."""
    by_library: dict[str, list[str]] = {}
    for name in missing:
        by_library.setdefault(DISTRIBUTIONS.get(name.split(".", 1)[0], name), []).append(name)
    return "; ".join(f"{library} {_version(library)} lacks {', '.join(names)}"
                     for library, names in by_library.items())


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def eio_socket(socket_class: Any = None) -> Any:
    """A throwaway Engine.IO socket, built by engineio's own ``__init__`` over a stand-in
    server (it only asks for a queue); None if that fails."""
    from engineio.socket import Socket

    try:
        return (socket_class or Socket)(SimpleNamespace(create_queue=lambda: None), "probe")
    except Exception:
        return None


def room_messages(server: Any, manager: Any, socket_class: Any = None) -> list[str]:
    """What shared room messages and backlogs need of python-socketio's ``server`` (the
    app's), its client ``manager`` and an Engine.IO socket; empty when all is there."""
    missing = lacking("socketio.Server", server, SOCKETIO_SERVER, call=True)
    missing += lacking("socketio.Manager", manager, MANAGER, call=True)
    if not isinstance(getattr(getattr(server, "eio", None), "sockets", None), dict):
        missing.append("engineio.Server.sockets")
    probe = eio_socket(socket_class)
    missing += (["engineio.Socket.__init__"] if probe is None else
                lacking("engineio.Socket", probe, EIO_SOCKET_QUEUE))
    return missing


def direct_websockets(server: Any) -> list[str]:
    """What ``app.live.transport.websocket`` needs of python-socketio's ``server`` (the
    app's), its Engine.IO server and socket, and eventlet's WebSocket and green socket,
    besides its classes' methods (``websocket.missing_internals``)."""
    import eventlet.websocket
    from eventlet.greenio import GreenSocket

    missing = lacking("socketio.Server", server, "environ")
    eio = getattr(server, "eio", None)
    missing += lacking("engineio.Server", eio, EIO_SERVER)
    if not hasattr(getattr(eio, "reason", None), "TRANSPORT_CLOSE"):
        missing.append("engineio.Server.reason.TRANSPORT_CLOSE")
    probe = eio_socket()
    missing += (["engineio.Socket.__init__"] if probe is None else
                lacking("engineio.Socket", probe, EIO_SOCKET))
    try:
        ws = eventlet.websocket.RFC6455WebSocket(None, {}, 13)
    except Exception:
        missing.append("eventlet.websocket.RFC6455WebSocket.__init__")
    else:
        missing += lacking("eventlet.websocket.WebSocket", ws, WEBSOCKET)
    with socket.socket() as raw:  # wrapped as it is, never registered with the hub
        try:
            green = GreenSocket(raw)
        except Exception:
            missing.append("eventlet.greenio.GreenSocket.__init__")
        else:
            missing += lacking("eventlet.greenio.GreenSocket", green, "fd")
    return missing


def http_protocol(protocol_class: Any = None) -> list[str]:
    """What ``app.live.transport.http`` needs of eventlet's HTTP server: its protocol's
    (``protocol_class``, eventlet's by default) methods, what a protocol and the server are
    given in ``__init__``, its header errors."""
    import eventlet.wsgi

    base = protocol_class or eventlet.wsgi.HttpProtocol
    missing = lacking("eventlet.wsgi.HttpProtocol", base, HTTP_PROTOCOL_METHODS, call=True)
    missing += lacking("eventlet.wsgi", eventlet.wsgi, HTTP_ERRORS)
    try:
        server = eventlet.wsgi.Server(None, ("127.0.0.1", 0), None, log_output=False)
    except Exception:
        return [*missing, "eventlet.wsgi.Server.__init__"]
    missing += lacking("eventlet.wsgi.Server", server, HTTP_SERVER)

    class Probe(base):  # type: ignore[misc,valid-type]
        """eventlet's ``__init__`` without the connection it would serve."""

        def setup(self) -> None:
            pass

        def handle(self) -> None:
            pass

        def finish(self) -> None:
            pass

    try:
        protocol = Probe([("127.0.0.1", 0), None, "idle"], server)
    except Exception:
        return [*missing, "eventlet.wsgi.HttpProtocol.__init__"]
    return missing + lacking("eventlet.wsgi.HttpProtocol", protocol, HTTP_PROTOCOL)


def require_http_protocol(protocol_class: Any = None) -> None:
    """``MissingInternals`` naming what ``http_protocol`` found missing, with the library
    versions: the server cannot run without them (there is no public path around)."""
    missing = http_protocol(protocol_class)
    if missing:
        raise MissingInternals(
            f"{described(missing)}: app/live/transport/http.py needs them to serve HTTP; "
            "install the versions pyproject.toml pins (pip install -r requirements.txt)")
