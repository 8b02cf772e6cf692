"""Long-poll waiting: requests that wait for a dataset's next change, or a deadline."""
from __future__ import annotations

import threading
import time
from typing import Any

from ..data.store import Store
from .transport import Transport


class Waiters:
    """One event per dataset that somebody waits on, set (and replaced) at its next change."""

    def __init__(self, store: Store, transport: Transport) -> None:
        self.store = store
        self.transport = transport
        self._events: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _event(self, dataset: str) -> Any:
        with self._lock:
            event = self._events.get(dataset)
            if event is None:
                event = self._events[dataset] = self.transport.create_event()
            return event

    def changed(self, dataset: str) -> None:
        """Wake everybody waiting on ``dataset``."""
        with self._lock:
            event = self._events.pop(dataset, None)
        if event is not None:
            event.set()

    def wait(self, dataset: str, since: int, epoch: str, timeout: float) -> bool:
        """Wait until ``dataset`` is past version ``since`` or no longer at ``epoch``.

        True as soon as it is (at once if it already is), False after ``timeout``
        seconds without such a change; ``UnknownDataset`` if it goes away.
        """
        deadline = time.monotonic() + timeout
        while True:
            event = self._event(dataset)  # taken before the check, so no change slips by
            current = self.store.get(dataset)
            if current.version > since or current.epoch != epoch:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            event.wait(remaining)
