"""Runs of shared columns: a series' points (or records) are the run
``column[start:start + length]``; these read, write, search and sort many runs at once."""
from __future__ import annotations

from typing import Literal

import numpy as np

SEARCH_ONE_BY_ONE = 8  # runs searched with np.searchsorted each (~2 us a run)
SLICE_RUNS = 256


def run_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions ``starts[i] .. starts[i] + lengths[i] - 1`` for every ``i``, concatenated."""
    total = int(lengths.sum()) if len(lengths) else 0
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, np.int64) - offsets, lengths) + np.arange(total)


def _few_long(lengths: np.ndarray) -> bool:
    """Runs better copied as slices (~1 us each) than through an index of every position
    (~30 us, then ~5 ns a point): few of them, or long ones (60 series of 166,000
    points: 0.1 s against 1 s; 60 of 16 points: 60 us against 35 us)."""
    return len(lengths) <= 16 or int(lengths.sum()) >= SLICE_RUNS * len(lengths)


def copy_runs(target: np.ndarray, to: np.ndarray, source: np.ndarray, frm: np.ndarray,
              lengths: np.ndarray) -> None:
    """``target[to[i]:to[i] + lengths[i]] = source[frm[i]:frm[i] + lengths[i]]`` for all i."""
    if _few_long(lengths):
        for a, b, n in zip(to.tolist(), frm.tolist(), lengths.tolist(), strict=True):
            target[a:a + n] = source[b:b + n]
    else:
        target[run_index(to, lengths)] = source[run_index(frm, lengths)]


def put_runs(target: np.ndarray, to: np.ndarray, lengths: np.ndarray,
             values: np.ndarray) -> None:
    """``values`` (runs one after another) written to ``target[to[i]:to[i] + lengths[i]]``."""
    if _few_long(lengths):
        offsets = np.cumsum(lengths) - lengths
        for a, b, n in zip(to.tolist(), offsets.tolist(), lengths.tolist(), strict=True):
            target[a:a + n] = values[b:b + n]
    else:
        target[run_index(to, lengths)] = values


def take_runs(source: np.ndarray, frm: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``source[frm[i]:frm[i] + lengths[i]]`` for all i, one after another."""
    if _few_long(lengths):
        return np.concatenate([source[b:b + n] for b, n in
                               zip(frm.tolist(), lengths.tolist(), strict=True)]
                              or [source[:0]])
    taken: np.ndarray = source[run_index(frm, lengths)]
    return taken


def search_runs(array: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                x: np.ndarray | int, right: bool = False) -> np.ndarray:
    """Per sorted run ``array[starts[i]:starts[i] + lengths[i]]``: how many values are below
    ``x[i]`` (at most ``x[i]`` when ``right``). One binary search over all runs at once;
    a few runs are searched one by one (a vectorised step costs ~20 numpy calls)."""
    if len(starts) <= SEARCH_ONE_BY_ONE:
        side: Literal["left", "right"] = "right" if right else "left"
        xs = np.broadcast_to(x, (len(starts),)).tolist()
        return np.array([array[s:s + n].searchsorted(v, side) for s, n, v in
                         zip(np.asarray(starts).tolist(), np.asarray(lengths).tolist(), xs,
                             strict=True)], dtype=np.int64).reshape(len(starts))
    below = np.zeros(len(starts), np.int64)
    step = 1 << int(lengths.max()).bit_length()
    while step:
        candidate = below + step
        ok = candidate <= lengths
        seen = array[starts + np.minimum(candidate, lengths) - 1]
        ok &= (seen <= x) if right else (seen < x)
        below = np.where(ok, candidate, below)
        step >>= 1
    return below


def segment_bounds(keys: np.ndarray, run_starts: np.ndarray) -> np.ndarray:
    """Start of each run of equal ``keys`` that also starts at every position in
    ``run_starts``, plus ``len(keys)`` at the end."""
    n = len(keys)
    breaks = np.zeros(n + 1, dtype=bool)
    breaks[run_starts] = True
    breaks[1:n] |= keys[1:] != keys[:-1]
    breaks[n] = True
    return np.flatnonzero(breaks)


def sort_segments(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """A copy of ``values`` with each segment ``[bounds[i], bounds[i+1])`` sorted ascending.

    ``bounds`` starts at 0 and ends at ``len(values)``. Segments are sorted as rows of
    padded grids, one grid per power-of-two width, so padding never doubles the work
    (rows of 60 values: ~2 ns a value, against ~60 for ``np.lexsort``).
    """
    n = len(values)
    lengths = np.diff(bounds)
    if n == 0 or len(lengths) <= 1:
        return np.sort(values)
    out = values.astype(np.float64, copy=True)
    widths = np.frexp(np.maximum(lengths - 1, 0))[1]  # 2**w >= length
    for w in np.unique(widths[lengths > 1]).tolist():
        rows = np.flatnonzero(widths == w)
        row_lengths = lengths[rows]
        where = run_index(bounds[rows], row_lengths)
        grid = np.full((len(rows), 1 << w), np.nan)  # NaN sorts last: padding stays at the end
        columns = where - np.repeat(bounds[rows], row_lengths)
        grid[np.repeat(np.arange(len(rows)), row_lengths), columns] = values[where]
        grid.sort(axis=1)
        out[where] = grid[np.arange(1 << w) < row_lengths[:, None]]
    return out


def bucket_bounds(ts: np.ndarray, width: int) -> np.ndarray:
    """Start of each run of equal ``ts // width`` in sorted ``ts``, plus ``len(ts)`` at the end."""
    if len(ts) == 0:
        return np.zeros(1, np.int64)
    return segment_bounds(ts // width, np.zeros(1, np.int64))
