"""JSON for the whole app: orjson, numpy-aware (HTTP bodies, Socket.IO packets, exports)."""
from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(obj: Any) -> bytes:
    """JSON bytes of ``obj``; numpy arrays and scalars become JSON arrays and numbers."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def loads(text: str | bytes) -> Any:
    """Parse JSON text or bytes."""
    return orjson.loads(text)


class SocketCodec:
    """The ``json`` module python-socketio encodes packets with (numpy-aware and fast)."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        """Encode a packet (numpy arrays included) as text."""
        return dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        """Decode a packet; one whose strings hold a lone surrogate (``"\\ud800"``, valid
        JSON but no UTF-8) is decoded by the standard library, so its handler can refuse
        it in its ack. orjson refused the packet, python-socketio logged a traceback and
        the client's call waited for an ack that never came."""
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if "surrogate" not in str(exc):
                raise
            return json.loads(text)
