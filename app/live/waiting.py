"""Long-poll waiting: requests that wait for a dataset's (or a dashboard's) next change."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..data.store import Store
from .transport import Transport


class Waiters:
    """Requests waiting for a key's next change; a key is a dataset name or
    ``dashboard:<name>``. Each waiting request has one event, registered under every key
    it waits on, so a dashboard long-poll waits on all its panels' datasets at once."""

    def __init__(self, store: Store, transport: Transport) -> None:
        self.store = store
        self.transport = transport
        self._waiting: dict[str, set[Any]] = {}  # key -> events of the requests waiting on it
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Requests waiting right now (each counted once, whatever it waits on)."""
        with self._lock:
            return len(set().union(*self._waiting.values()))

    def changed(self, key: str) -> None:
        """Wake everybody waiting on ``key`` (a dataset name or ``dashboard:<name>``)."""
        with self._lock:
            events = self._waiting.pop(key, set())
        for event in events:
            event.set()

    def wait(self, dataset: str, since: int, epoch: str, timeout: float) -> bool:
        """Wait until ``dataset`` is past version ``since`` or no longer at ``epoch``.

        True as soon as it is (at once if it already is), False after ``timeout``
        seconds without such a change; ``UnknownDataset`` if it goes away.
        """
        def moved() -> bool:
            current = self.store.get(dataset)
            return current.version > since or current.epoch != epoch
        return self.wait_until((dataset,), moved, timeout)

    def wait_until(self, keys: Iterable[str], ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` is true, checking it again whenever any of ``keys`` changes.

        True as soon as it is (at once if it already is), False after ``timeout`` seconds.
        """
        keys = tuple(dict.fromkeys(keys))
        deadline = time.monotonic() + timeout
        while True:
            event = self.transport.create_event()
            with self._lock:  # registered before the check, so no change slips by
                for key in keys:
                    self._waiting.setdefault(key, set()).add(event)
            try:
                if ready():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                event.wait(remaining)
            finally:
                with self._lock:
                    for key in keys:
                        waiting = self._waiting.get(key)
                        if waiting is not None:
                            waiting.discard(event)
                            if not waiting:
                                del self._waiting[key]
