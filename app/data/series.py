"""One series' points: time-ordered columns with spare capacity, and values ranked per bucket."""
from __future__ import annotations

import numpy as np

from ..instants import HOUR, MINUTE

# Buckets whose exact percentiles are kept ready: a series' values sorted within each
# closed 1-minute and 1-hour bucket. A p95 per host per hour over 10M points is then
# an index per bucket instead of sorting 3.3M values (2.7 s before, see BENCHMARKS.md).
RANKED_TIERS = (MINUTE, HOUR)
MIN_CAPACITY = 64


def sort_segments(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """A copy of ``values`` with each segment ``[bounds[i], bounds[i+1])`` sorted ascending.

    ``bounds`` starts at 0 and ends at ``len(values)``. Segments of similar length are
    sorted as rows of one padded grid (60-value rows: ~2 ns a value, against ~60 for
    ``np.lexsort``); very uneven segments fall back on ``np.lexsort``.
    """
    n = len(values)
    lengths = np.diff(bounds)
    rows = len(lengths)
    if n == 0 or rows <= 1:
        return np.sort(values)
    width = int(lengths.max())
    if width * rows <= 2 * n + 1024:
        grid = np.full((rows, width), np.nan)  # NaN sorts last: padding stays at the end
        row = np.repeat(np.arange(rows), lengths)
        grid[row, np.arange(n) - np.repeat(bounds[:-1], lengths)] = values
        grid.sort(axis=1)
        return grid[np.arange(width) < lengths[:, None]]
    return values[np.lexsort((values, np.repeat(np.arange(rows), lengths)))]


def bucket_bounds(ts: np.ndarray, width: int) -> np.ndarray:
    """Start of each run of equal ``ts // width`` in sorted ``ts``, plus ``len(ts)`` at the end."""
    if len(ts) == 0:
        return np.zeros(1, np.int64)
    bucket = ts // width
    return np.concatenate(([0], np.flatnonzero(bucket[1:] != bucket[:-1]) + 1, [len(ts)]))


class SeriesPoints:
    """One series' times (int64 ns, sorted) and values, with spare capacity.

    ``ranked[i][:upto[i]]`` holds the values sorted within each closed bucket of
    ``RANKED_TIERS[i]``: buckets before the newest point's. Appends in time order only
    write past what snapshots see (``[:n]`` and ``[:upto]``); anything else (late
    points, growth, retention) builds fresh buffers, so snapshots never change.
    """

    __slots__ = ("n", "ranked", "ts", "upto", "value")

    def __init__(self) -> None:
        self.n = 0
        self.ts = np.empty(MIN_CAPACITY, np.int64)
        self.value = np.empty(MIN_CAPACITY, np.float64)
        self.ranked = [np.empty(MIN_CAPACITY, np.float64) for _ in RANKED_TIERS]
        self.upto = [0 for _ in RANKED_TIERS]

    def view(self) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """(times, values, ranked per tier) as read-only slices: what a snapshot keeps."""
        return (self.ts[:self.n], self.value[:self.n],
                tuple(r[:u] for r, u in zip(self.ranked, self.upto, strict=True)))

    def _rebuild(self, ts: np.ndarray, value: np.ndarray, keep_ranked: list[int],
                 room: int = 0) -> None:
        """Fresh buffers holding ``ts``/``value``, the first ``keep_ranked[i]`` ranked values,
        and space for ``room`` more points at least."""
        n = len(ts)
        wanted = n + room
        capacity = max(MIN_CAPACITY, wanted + wanted // 2)  # 1.5x: ~25% spare on average
        old_ranked = self.ranked
        self.ts = np.empty(capacity, np.int64)
        self.value = np.empty(capacity, np.float64)
        self.ts[:n] = ts
        self.value[:n] = value
        self.ranked = []
        for i, keep in enumerate(keep_ranked):
            fresh = np.empty(capacity, np.float64)
            fresh[:keep] = old_ranked[i][:keep]
            self.ranked.append(fresh)
            self.upto[i] = keep
        self.n = n

    def append_one(self, ts: int, value: float) -> bool:
        """Add one point at the end if it is not late and fits; False to take the slow path."""
        n = self.n
        if n == len(self.ts) or (n and ts < self.ts[n - 1]):
            return False
        self.ts[n] = ts
        self.value[n] = value
        self.n = n + 1
        if n:
            previous = int(self.ts[n - 1])
            if any(ts // tier != previous // tier for tier in RANKED_TIERS):
                self._rank()
        return True

    def append(self, ts: np.ndarray, value: np.ndarray) -> None:
        """Add points sorted by time (equal times keep their order, after existing ones)."""
        n, k = self.n, len(ts)
        if k == 0:
            return
        if n == 0 or ts[0] >= self.ts[n - 1]:
            if n + k > len(self.ts):
                self._rebuild(self.ts[:n], self.value[:n], list(self.upto), room=k)
            self.ts[n:n + k] = ts
            self.value[n:n + k] = value
            self.n = n + k
        else:  # late points: merge them into the tail they overlap
            pos = int(np.searchsorted(self.ts[:n], ts[0], side="right"))
            tail_ts = np.concatenate([self.ts[pos:n], ts])
            order = np.argsort(tail_ts, kind="stable")
            merged_ts = np.concatenate([self.ts[:pos], tail_ts[order]])
            merged_value = np.concatenate([self.value[:pos],
                                           np.concatenate([self.value[pos:n], value])[order]])
            # Ranked buckets from the one the earliest late point falls in are stale.
            keep = [min(u, int(np.searchsorted(merged_ts, ts[0] // tier * tier, side="left")))
                    for u, tier in zip(self.upto, RANKED_TIERS, strict=True)]
            self._rebuild(merged_ts, merged_value, keep)
        self._rank()

    def drop_oldest(self, count: int) -> None:
        """Forget the ``count`` oldest points (retention)."""
        if count <= 0:
            return
        keep = [max(0, u - count) for u in self.upto]
        ts, value = self.ts[count:self.n], self.value[count:self.n]
        old_ranked = [r[count:count + k] for r, k in zip(self.ranked, keep, strict=True)]
        self._rebuild(ts, value, [0] * len(keep))
        for i, (tier, run) in enumerate(zip(RANKED_TIERS, old_ranked, strict=True)):
            if not keep[i]:
                continue
            self.ranked[i][:keep[i]] = run
            # The oldest bucket may have lost some of its points: rank what is left of it.
            end = min(keep[i], int(np.searchsorted(ts, (ts[0] // tier + 1) * tier, "left")))
            self.ranked[i][:end] = np.sort(value[:end])
            self.upto[i] = keep[i]
        self._rank()

    def _rank(self) -> None:
        """Sort the values of every bucket closed since the last call into ``ranked``."""
        n = self.n
        if n == 0:
            return
        last = int(self.ts[n - 1])
        for i, tier in enumerate(RANKED_TIERS):
            lo = self.upto[i]
            close = int(np.searchsorted(self.ts[lo:n], last // tier * tier, side="left")) + lo
            if close <= lo:
                continue
            bounds = bucket_bounds(self.ts[lo:close], tier)
            self.ranked[i][lo:close] = sort_segments(self.value[lo:close], bounds)
            self.upto[i] = close
