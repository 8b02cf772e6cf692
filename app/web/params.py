"""Parameters of the API that are not part of a view: a long-poll's ``since`` and
``timeout``, an export's ``format``, a delete's ``version``. Each bad one is a
``ParamError`` naming it (one line of a 400), never a ``ViewError``: a view checks every
one of its parameters and lists them all, these stop at the first."""
from __future__ import annotations

import re
from collections.abc import Mapping

from ..data.errors import ParamError

VERSION = re.compile(r"[0-9]{1,18}")
DEFAULT_POLL_TIMEOUT = 25.0
MAX_POLL_TIMEOUT = 60.0


def poll_timeout(args: Mapping[str, str]) -> float:
    """A long-poll's ``timeout`` parameter in seconds (``DEFAULT_POLL_TIMEOUT`` when not
    given), or ``ParamError`` naming it unless it is a number from 0 to
    ``MAX_POLL_TIMEOUT`` (for a dataset's poll and a dashboard's alike)."""
    try:
        timeout = float(args.get("timeout", DEFAULT_POLL_TIMEOUT))
    except ValueError:
        timeout = -1.0
    if not 0 <= timeout <= MAX_POLL_TIMEOUT:  # NaN too
        raise ParamError("timeout", f"seconds from 0 to {MAX_POLL_TIMEOUT:g}")
    return timeout


def poll_since(args: Mapping[str, str]) -> int:
    """A dataset poll's ``since`` version (-1 when not given: answer at once), or
    ``ParamError`` naming it unless it is a version 0, 1, 2..."""
    text = args.get("since", "")
    if text and not VERSION.fullmatch(text):
        raise ParamError("since", f"{text!r} is not a version (0, 1, 2...)")
    return int(text) if text else -1


def one_of(args: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """Parameter ``name`` (the first of ``allowed`` when not given), or ``ParamError``
    naming it unless it is one of ``allowed``."""
    value = args.get(name, allowed[0])
    if value not in allowed:
        raise ParamError(name, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def expected_version(args: Mapping[str, str]) -> int | None:
    """A conditional write's ``version`` (None when not given), or ``ParamError`` naming
    it unless it is a whole number."""
    given = args.get("version")
    if given is None:
        return None
    if not given.isascii() or not given.isdigit():
        raise ParamError("version", f"{given!r} is not a version (1, 2, 3...)")
    return int(given)
