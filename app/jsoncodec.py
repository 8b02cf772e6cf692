"""JSON for the whole app: orjson, numpy-aware (HTTP bodies, Socket.IO packets, exports)."""
from __future__ import annotations

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
        """Decode a packet."""
        return orjson.loads(text)
