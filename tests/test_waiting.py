"""Long-poll waiting (``app.live.waiting.Waiters``): many polls of one dataset, a
dashboard's poll of several keys, wake-ups, timeouts and the count of waiting requests."""
from __future__ import annotations

import threading
import time

import pytest

from app.live.waiting import Waiters
from app.state import AppState

WAIT = 10.0  # seconds a waiter may take to wake: far more than it needs


def start(waiters: Waiters, keys: tuple[str, ...], flag: threading.Event,
          results: list[bool]) -> threading.Thread:
    """A request waiting on ``keys`` until ``flag`` is set (its ``ready``)."""
    thread = threading.Thread(target=lambda: results.append(
        waiters.wait_until(keys, flag.is_set, WAIT)))
    thread.start()
    return thread


def settle(waiters: Waiters, count: int) -> None:
    """Until ``count`` requests wait (bounded: each wait registers at once)."""
    deadline = time.monotonic() + WAIT
    while waiters.count != count and time.monotonic() < deadline:
        threading.Event().wait(0.005)
    assert waiters.count == count


@pytest.mark.parametrize("keys, changed", [
    (("hosts",), "hosts"),  # a dataset's long-poll: the dataset's shared event
    (("hosts", "dashboard:fleet"), "hosts"),  # a dashboard's: an event of its own
    (("hosts", "dashboard:fleet"), "dashboard:fleet"),
])
def test_every_waiter_wakes_at_a_change_of_a_key_it_waits_on(state: AppState,
                                                             keys: tuple[str, ...],
                                                             changed: str) -> None:
    waiters = state.live.waiters
    flag, results = threading.Event(), []  # type: ignore[var-annotated]
    threads = [start(waiters, keys, flag, results) for _ in range(5)]
    settle(waiters, 5)
    flag.set()
    started = time.monotonic()
    waiters.changed(changed)
    for thread in threads:
        thread.join(WAIT)
    assert results == [True] * 5 and time.monotonic() - started < WAIT
    assert waiters.count == 0


def test_a_change_of_another_key_wakes_nobody(state: AppState) -> None:
    waiters = state.live.waiters
    flag, results = threading.Event(), []  # type: ignore[var-annotated]
    thread = start(waiters, ("hosts",), flag, results)
    settle(waiters, 1)
    flag.set()
    waiters.changed("other")
    thread.join(0.2)
    assert thread.is_alive() and results == []
    waiters.changed("hosts")
    thread.join(WAIT)
    assert results == [True]


def test_a_waiter_not_ready_after_a_change_waits_for_the_next(state: AppState) -> None:
    waiters = state.live.waiters
    flag, results = threading.Event(), []  # type: ignore[var-annotated]
    thread = start(waiters, ("hosts",), flag, results)
    settle(waiters, 1)
    waiters.changed("hosts")  # not the change it waits for: it waits again
    thread.join(0.2)
    assert thread.is_alive() and waiters.count == 1
    flag.set()
    waiters.changed("hosts")
    thread.join(WAIT)
    assert results == [True] and waiters.count == 0


@pytest.mark.parametrize("keys", [("hosts",), ("hosts", "dashboard:fleet")])
def test_a_timed_out_waiter_leaves_nothing_behind(state: AppState, keys: tuple[str, ...]
                                                  ) -> None:
    waiters = state.live.waiters
    started = time.monotonic()
    assert waiters.wait_until(keys, lambda: False, 0.05) is False
    assert time.monotonic() - started >= 0.05
    assert waiters.count == 0
    assert waiters._shared == {} and waiters._waiting == {}


def test_a_ready_waiter_answers_at_once(state: AppState) -> None:
    calls: list[int] = []

    def ready() -> bool:
        calls.append(1)
        return True

    assert state.live.waiters.wait_until(("hosts",), ready, 30) is True
    assert calls == [1] and state.live.waiters.count == 0


@pytest.mark.parametrize("query, key", [
    ("metric=cpu&host=web-1", "hosts?metric=cpu&host=web-1"),
    ("host=web-1&metric=cpu&page=3", "hosts?metric=cpu&host=web-1"),  # the chart's: no page
    ("metric=cpu&agg=max&bucket=1m&by=host", "hosts?metric=cpu&agg=max&bucket=1m&by=host"),
])
def test_a_views_figure_key_is_remembered_and_stays_its_canonical_query(
        state: AppState, query: str, key: str) -> None:
    from app.live import figures

    _, view = state.view_of("hosts", [tuple(p.split("=")) for p in query.split("&")])
    assert state.live.figures.key("hosts", view) == key
    assert state.live.figures.key("hosts", view) == key  # remembered: the same answer
    for n in range(figures.KEYS_KEPT + 1):  # a burst of distinct views: memory bounded
        state.live.figures.key(f"d{n}", view)
    assert len(state.live.figures._keys) <= figures.KEYS_KEPT
    assert state.live.figures.key("hosts", view) == key
