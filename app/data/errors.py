"""Domain errors of the data layer; ``app.web.errors`` maps each to one HTTP status."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class DataError(Exception):
    """A request the data layer refuses; nothing was changed. ``message`` is for users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Rejected(DataError):
    """Input that is not valid (a bad body, point or document); ``errors`` lists each problem
    as ``{"index" or "panel", "field", "message"}``."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class TooLarge(DataError):
    """Input over a configured size limit (body bytes, points in a batch)."""


class Conflict(DataError):
    """The request does not fit the current state (a file ingest cannot write, a version)."""


class StorageFull(DataError):
    """The disk (or the user's quota) is full: the batch was rolled back, nothing stored."""


class Unavailable(DataError):
    """A write failed for another reason (an I/O error): rolled back, nothing stored; the
    client may retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ParamError(ValueError):
    """A parameter of a URL or query string that is not allowed: ``param`` names it and
    ``message`` says what is allowed (one line of a 400 each); ``problems`` is every
    (param, message) found, in the order given, the first being ``param``/``message``.

    The one kind of "URL parameter not allowed": a dashboard URL's (``OverrideError``) and a
    view's (``app.engine.view.ViewError``) are both this, and the web edge maps it once.
    """

    # True where the parser checks every parameter before refusing (``problems`` is then
    # complete, and the API lists it); False where it stops at the first.
    names_every: ClassVar[bool] = False

    def __init__(self, param: str, message: str,
                 problems: Sequence[tuple[str, str]] = ()) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems) or ((param, message),)
        super().__init__("; ".join(f"{p}: {m}" for p, m in self.problems))
        self.param = param
        self.message = message

    @property
    def params(self) -> tuple[str, ...]:
        """The names of the bad parameters, each once."""
        return tuple(dict.fromkeys(p for p, _ in self.problems))


class UnknownDataset(LookupError):
    """No dataset by that name (``args[0]`` is the name)."""


class DatasetFailed(UnknownDataset):
    """A dataset whose file could not be read, and that has no good data to show;
    ``error`` says why and what to change."""

    def __init__(self, name: str, error: str) -> None:
        super().__init__(name)
        self.name = name
        self.error = error
