"""What every Socket.IO handler shares: the sid of the event, its fields read, refusals acked."""
from __future__ import annotations

from typing import Any

from flask import request

from ..data.errors import DatasetFailed, UnknownDataset


class BadMessage(ValueError):
    """A client message of the wrong shape; the message says what was expected."""


def current_sid() -> str:
    """The Socket.IO session id of the event being handled (Flask-SocketIO sets it)."""
    sid: str = request.sid  # type: ignore[attr-defined]
    return sid


def fields(data: Any, *names: str) -> list[str]:
    """The string fields ``names`` of a dict payload, in order (``query`` defaults to "");
    ``BadMessage`` naming the first that is missing, not a string, or not valid text."""
    if not isinstance(data, dict):
        raise BadMessage(f"expected an object with {', '.join(names)}")
    values = []
    for name in names:
        value = data.get(name, "" if name == "query" else None)
        if not isinstance(value, str):
            raise BadMessage(f"'{name}' must be a string")
        try:
            value.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate: no text any part of us can keep
            raise BadMessage(f"'{name}' is not valid text: it holds a lone surrogate "
                             f"({value[exc.start]!r} at character {exc.start})") from None
        values.append(value)
    return values


def refused(exc: Exception) -> dict[str, Any]:
    """The ack of a refused event: ``{"ok": False, "error": <what to change>}``."""
    if isinstance(exc, DatasetFailed):
        return {"ok": False, "error": exc.error}
    if isinstance(exc, UnknownDataset):
        return {"ok": False, "error": f"unknown dataset {exc.args[0]!r}"}
    return {"ok": False, "error": str(exc)}
