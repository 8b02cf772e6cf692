"""Long-poll waiting: requests that wait for a dataset's (or a dashboard's) next change."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..data.store import Store
from .transport import Transport


class Waiters:
    """Requests waiting for a key's next change; a key is a dataset name or
    ``dashboard:<name>``.

    Every request waiting on one key alone (a dataset's long-poll) shares that key's one
    event, replaced at each change: 200 long-polls of one dataset made 200 events (a
    green ``Condition`` and lock each) and the change set them one by one, ~15 µs of
    server CPU per answer (py-spy, ``bench.fanout --poll 200``). A request waiting on
    several keys at once (a dashboard's long-poll) has an event of its own, registered
    under each of them.
    """

    def __init__(self, store: Store, transport: Transport) -> None:
        self.store = store
        self.transport = transport
        self._shared: dict[str, Any] = {}  # key -> the event its next change sets
        self._sharing: dict[str, int] = {}  # key -> requests waiting on its shared event
        self._waiting: dict[str, set[Any]] = {}  # key -> own events of multi-key requests
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Requests waiting right now (each counted once, whatever it waits on)."""
        with self._lock:
            return sum(self._sharing.values()) + len(set().union(*self._waiting.values()))

    def changed(self, key: str) -> None:
        """Wake everybody waiting on ``key`` (a dataset name or ``dashboard:<name>``)."""
        with self._lock:
            shared = self._shared.pop(key, None)
            events = self._waiting.pop(key, set())
        if shared is not None:
            shared.set()
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
        registered = self._shared_event if len(keys) == 1 else self._own_event
        deadline = time.monotonic() + timeout
        while True:
            # Registered before the check, so no change slips by between them.
            with registered(keys) as event:
                if ready():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                event.wait(remaining)

    @contextmanager
    def _shared_event(self, keys: tuple[str, ...]) -> Iterator[Any]:
        """The one key's shared event, counted as waited on while held."""
        [key] = keys
        with self._lock:
            event = self._shared.get(key)
            if event is None:
                event = self._shared[key] = self.transport.create_event()
            self._sharing[key] = self._sharing.get(key, 0) + 1
        try:
            yield event
        finally:
            with self._lock:
                left = self._sharing[key] - 1
                if left:
                    self._sharing[key] = left
                else:
                    del self._sharing[key]
                    # Nobody waits on it any more: a key that never changes again (a
                    # deleted dataset) keeps no event.
                    if self._shared.get(key) is event:
                        del self._shared[key]

    @contextmanager
    def _own_event(self, keys: tuple[str, ...]) -> Iterator[Any]:
        """A new event of this request's, registered under each of ``keys`` while held."""
        event = self.transport.create_event()
        with self._lock:
            for key in keys:
                self._waiting.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                for key in keys:
                    waiting = self._waiting.get(key)
                    if waiting is not None:
                        waiting.discard(event)
                        if not waiting:
                            del self._waiting[key]
