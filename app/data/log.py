"""The durable log: where an ingest batch goes before it is acknowledged. One interface,
two implementations:

- ``DataFolder`` (``app.data.folder``): one process; the CSV files are the log (append,
  fsync, then apply to the store).
- ``StreamLog`` (``app.data.streams``): cluster mode (``DASH_REDIS_URL``); one Redis
  stream per dataset, versions and epochs assigned by Redis, every process tailing every
  stream into its own store.

Either way ``append`` returns only once the batch is durable, with the version and epoch
under which every reader will see it, and raises the domain errors of ``app.data.errors``
(``Rejected``, ``Conflict``, ``StorageFull``, ``Unavailable``) with nothing stored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .ingest import DecodedBody


class Stamped(Protocol):
    """What an acknowledged batch answers with: the dataset's version and epoch."""

    @property
    def version(self) -> int:
        """The version that holds the batch."""

    @property
    def epoch(self) -> str:
        """The epoch that version belongs to."""


@dataclass(frozen=True)
class Receipt:
    """A batch stored durably: its version and epoch (``Stamped``)."""

    version: int
    epoch: str


class IngestLog(Protocol):
    """Stores validated ingest batches durably; the store learns of them from it."""

    def append(self, name: str, points: DecodedBody) -> Stamped:
        """Validate ``points`` for dataset ``name`` (created by its first batch), make them
        durable, and return the version and epoch that hold them."""
