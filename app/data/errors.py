"""Domain errors of the data layer; ``app.web.errors`` maps each to one HTTP status."""
from __future__ import annotations

from typing import Any


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


class UnknownDataset(LookupError):
    """No dataset by that name (``args[0]`` is the name)."""


class DatasetFailed(UnknownDataset):
    """A dataset whose file could not be read, and that has no good data to show;
    ``error`` says why and what to change."""

    def __init__(self, name: str, error: str) -> None:
        super().__init__(name)
        self.name = name
        self.error = error
