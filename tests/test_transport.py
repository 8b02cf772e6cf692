"""Room messages are encoded once: the bytes must be exactly what Socket.IO would send."""
from __future__ import annotations

import json
import struct
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from socketio import packet as sio_packet

from app.jsoncodec import SocketCodec
from app.live.transport import Message, SharedFrameManager, Transport, text_frame


@pytest.mark.parametrize("size, header", [
    (0, b"\x81\x00"),
    (125, b"\x81\x7d"),
    (126, b"\x81\x7e" + struct.pack("!H", 126)),
    (65_535, b"\x81\x7e" + struct.pack("!H", 65_535)),
    (65_536, b"\x81\x7f" + struct.pack("!Q", 65_536)),
])
def test_a_text_frame_is_final_unmasked_and_sized_as_rfc_6455_says(size: int,
                                                                   header: bytes) -> None:
    payload = b"x" * size
    assert text_frame(payload) == header + payload


def test_a_message_is_the_packet_socketio_would_have_encoded() -> None:
    data = {"version": 3, "figure": {"x": np.arange(3), "name": "héllo \u2028"}}
    message = Message("update_chart", data)
    class Packet(sio_packet.Packet):
        json = SocketCodec  # what create_app gives python-socketio

    reference = Packet(sio_packet.EVENT, data=["update_chart", data], namespace="/").encode()
    assert message.text.decode() == "4" + reference  # Engine.IO MESSAGE + Socket.IO EVENT
    assert message.packet.encode() == "4" + reference
    assert json.loads(message.text[2:]) == ["update_chart", {
        "version": 3, "figure": {"x": [0, 1, 2], "name": "héllo \u2028"}}]
    assert message.frame == text_frame(message.text)


class FakeServer:
    """Just enough of python-socketio's server for the manager: no WebSockets, one callback."""

    def __init__(self, on_send: Any) -> None:
        self.eio = SimpleNamespace(sockets={})
        self.sent: list[str] = []
        self.packets: list[Any] = []
        self.on_send = on_send

    def _send_eio_packet(self, eio_sid: str, packet: Any) -> None:
        self.sent.append(eio_sid)
        self.packets.append(packet.data)
        self.on_send(eio_sid)


def manager_with_room(sids: list[str], room: str, server: FakeServer) -> SharedFrameManager:
    """A manager whose ``room`` holds ``sids`` (Engine.IO sid ``eio-<sid>``)."""
    manager = SharedFrameManager()
    manager.server = server  # set_server wants a whole python-socketio server
    for sid in sids:  # as python-socketio connects a client: its sid is a room too
        for each in (None, sid, room):
            manager.basic_enter_room(sid, "/", each, eio_sid=f"eio-{sid}")
    return manager


def test_a_client_that_disconnects_during_a_send_does_not_stop_the_rest_of_the_room() -> None:
    """Sending to a timed-out client runs its disconnect at once, which leaves the room."""
    leave: list[str] = []
    server = FakeServer(on_send=lambda eio_sid: leave and manager.basic_leave_room(*leave))
    manager: SharedFrameManager = manager_with_room(["a", "b", "c", "d"], "view", server)
    leave.extend(("b", "/", "view"))
    manager.emit("extend_chart", {}, "/", to="view")
    assert sorted(server.sent) == ["eio-a", "eio-b", "eio-c", "eio-d"]


class Backlog:
    """A send queue with ``waiting`` messages not yet written."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting

    def qsize(self) -> int:
        return self.waiting


def test_a_room_message_skips_clients_too_far_behind_and_says_which() -> None:
    server = FakeServer(on_send=lambda _: None)
    manager = manager_with_room(["fast", "slow"], "view", server)
    server.eio.sockets["eio-slow"] = SimpleNamespace(queue=Backlog(manager.max_backlog + 1))
    skipped: list[tuple[str, str]] = []
    manager.on_skip = lambda sid, room: skipped.append((sid, room))
    manager.emit("update_chart", {}, "/", to="view")
    assert server.sent == ["eio-fast"] and skipped == [("slow", "view")]
    manager.emit("update_chart", {}, "/", to="slow")  # to one client: never skipped
    assert server.sent == ["eio-fast", "eio-slow"]


def test_missing_internals_turn_shared_frames_off_and_say_so(
        caplog: pytest.LogCaptureFixture) -> None:
    """A library upgrade that drops a private method must not break the fan-out."""
    manager = SharedFrameManager()
    server = SimpleNamespace(eio=SimpleNamespace(sockets={}))  # no _send_eio_packet
    transport = Transport(SimpleNamespace(server=server), manager)
    with caplog.at_level("WARNING", logger="dash.transport"):
        assert transport.check() == ["socketio.Server._send_eio_packet"]
    assert manager.direct is False and transport.backlog("any") == 0
    assert "public path" in caplog.text


def test_room_messages_take_the_library_path_when_shared_frames_are_off() -> None:
    server = FakeServer(on_send=lambda _: None)
    manager = manager_with_room(["a", "b"], "view", server)
    manager.direct = False
    server.packet_class = sio_packet.Packet  # type: ignore[attr-defined]
    manager.emit("update_chart", {"v": 1}, "/", to="view")
    assert sorted(server.sent) == ["eio-a", "eio-b"]
    assert server.packets == ['2["update_chart",{"v":1}]'] * 2


def test_the_installed_libraries_have_every_internal_the_fence_uses() -> None:
    """Pinned versions today: if this fails after an upgrade, the app falls back (above)."""
    from app import create_app

    app = create_app({"TESTING": True, "BACKGROUND": False})
    assert app.extensions["dash"].live.transport.check() == []


def test_the_installed_libraries_give_their_instances_every_attribute_the_fence_reads() -> None:
    """hasattr on a class misses what __init__ sets: each is probed on a real instance."""
    from app import create_app
    from app.live.transport import internals

    app = create_app({"TESTING": True, "BACKGROUND": False})
    server = app.extensions["socketio"].server
    manager = app.extensions["dash"].live.transport.manager
    assert internals.room_messages(server, manager) == []
    assert internals.direct_websockets(server) == []
    assert internals.http_protocol() == []


def engineio_version() -> str:
    from importlib.metadata import version
    return version("python-engineio")


def test_an_engineio_socket_without_its_queue_is_found_at_start_and_named_with_the_version(
        ) -> None:
    from engineio.socket import Socket

    from app.live.transport import internals

    class Renamed(Socket):
        """A release that calls the send queue something else."""

        def __init__(self, server: Any, sid: str) -> None:
            super().__init__(server, sid)
            self.outbox = self.__dict__.pop("queue")

    server = SimpleNamespace(eio=SimpleNamespace(sockets={}), _send_eio_packet=print)
    missing = internals.room_messages(server, SharedFrameManager(), Renamed)
    assert missing == ["engineio.Socket.queue"]
    assert internals.described(missing) == (
        f"python-engineio {engineio_version()} lacks engineio.Socket.queue")


def test_an_http_protocol_without_what_the_fence_uses_refuses_to_start() -> None:
    """No public path around eventlet's HTTP protocol: the start fails, saying why."""
    import eventlet.wsgi

    from app.live.transport import MissingInternals, require_http_protocol

    class Renamed(eventlet.wsgi.HttpProtocol):
        """A release that keeps the connection's state under another name."""

        def __init__(self, conn_state: Any, server: Any) -> None:
            super().__init__(conn_state, server)
            self.state = self.__dict__.pop("conn_state")

        _read_request_line = None  # and no longer reads the request line itself

    with pytest.raises(MissingInternals) as refused:
        require_http_protocol(Renamed)
    version = eventlet.__version__
    assert str(refused.value).startswith(
        f"eventlet {version} lacks eventlet.wsgi.HttpProtocol._read_request_line, "
        "eventlet.wsgi.HttpProtocol.conn_state: app/live/transport/http.py needs them")
