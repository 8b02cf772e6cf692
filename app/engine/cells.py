"""Selected series cut into (series, bucket) cells, merged into (trace, bucket) cells."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.series import run_index, search_runs, segment_bounds
from ..data.store import Snapshot
from .percentiles import BRACKET_MIN, PERCENTILES
from .selection import Selection

# A series' cells come from binary searches of its bucket edges when it has more than
# EDGE_COST points per bucket (a search costs ~log2(points) steps), else from every
# point's bucket (~2 ns a point).
EDGE_COST = 16
# Edges of up to LOOP_SERIES long series are searched series by series with numpy's
# own searchsorted (60 series x 720 edges: 1 ms, against 5 ms as one vectorised search).
LOOP_SERIES = 64
GUESS_ROUNDS = 3  # moves of a guessed edge position by one point before searching
SLICE_BLOCKS = 256  # blocks of adjacent runs reduced one slice each (~5 us a call)


@dataclass(frozen=True)
class Cells:
    """The selected series' points cut into buckets: one cell per series and non-empty
    bucket, ordered by selected series, then bucket."""

    member: np.ndarray  # int64 index into the selection per cell
    start: np.ndarray  # int64 column position of the cell's first point
    stop: np.ndarray  # int64 one past its last
    bucket: np.ndarray  # int64 bucket number (time // width)

    @property
    def counts(self) -> np.ndarray:
        """Points per cell."""
        counts: np.ndarray = self.stop - self.start
        return counts


def _cells_by_point(snap: Snapshot, sel: Selection, members: np.ndarray,
                    width: int) -> Cells:
    """Cells of short series: every point's bucket, runs of equal buckets."""
    counts = sel.counts[members]
    at = run_index(sel.start[members], counts)
    bucket = snap.ts[at] // width
    bounds = segment_bounds(bucket, np.cumsum(counts) - counts)
    first = bounds[:-1]
    owner = np.repeat(members, counts)[first]
    return Cells(owner, at[first], at[bounds[1:] - 1] + 1, bucket[first])


def edge_positions(ts: np.ndarray, start: np.ndarray, stop: np.ndarray, owner: np.ndarray,
                   edges: np.ndarray) -> np.ndarray:
    """Per edge ``edges[i]`` (int64 ns, ascending within each run): the position of the
    first point at or after it in run ``ts[start[owner[i]]:stop[owner[i]]]``. Every edge
    must lie inside its run's time range: after its first point, at or before its last.

    Each position is first guessed from the run's average spacing and checked against
    its two neighbours, moved a point at a time for a few rounds, and only the edges
    still misplaced are binary-searched. Metrics come at a steady pace, so the guess is
    nearly always right: 110,000 edges of 40 runs of 166,000 points in ~2 ms, against
    ~15 ms of binary searches whose first probes, far apart, each miss the cache.
    """
    length = stop - start
    rate = (length - 1) / np.maximum(ts[stop - 1] - ts[start], 1).astype(np.float64)
    lo = start[owner] + 1  # the edge is after the run's first point: never at it
    # Points at a steady pace t0 + i * step: the first at or after the edge is
    # i = ceil((edge - t0) / step). The 1e-6 keeps a product that rounds to just above
    # an integer (an edge exactly on a point) from being pushed one point too far.
    offset = np.ceil((edges - ts[lo - 1]).astype(np.float64) * rate[owner] - 1e-6)
    # Inside [lo, stop - 1]: the edge is at or before the last point, so both
    # neighbours read below are points of the run and no bounds are checked.
    at: np.ndarray = np.clip(offset.astype(np.int64) + (lo - 1), lo, stop[owner] - 1)
    wrong = np.arange(len(at))
    for _ in range(GUESS_ROUNDS):
        guess = at[wrong]
        wanted = edges[wrong]
        early = ts[guess] < wanted  # a point before the edge: move right
        late = ts[guess - 1] >= wanted  # the one before is not: move left
        moved = early | late
        if not moved.any():
            return at
        wrong = wrong[moved]
        at[wrong] = guess[moved] + early[moved] - late[moved]
    guess = at[wrong]
    wanted = edges[wrong]
    bad = wrong[(ts[guess] < wanted) | (ts[guess - 1] >= wanted)]
    if not len(bad):
        return at
    runs = np.unique(owner[bad])
    if len(runs) <= LOOP_SERIES:
        for i in runs.tolist():
            picked = bad[owner[bad] == i]
            a, b = int(start[i]), int(stop[i])
            at[picked] = a + np.searchsorted(ts[a:b], edges[picked])
    else:
        first = start[owner[bad]]
        at[bad] = first + search_runs(ts, first, length[owner[bad]], edges[bad])
    return at


def _cells_by_edges(snap: Snapshot, sel: Selection, members: np.ndarray,
                    width: int) -> Cells:
    """Cells of long series: each bucket edge's position in the series' run."""
    start, stop = sel.start[members], sel.stop[members]
    first = snap.ts[start] // width
    spans = snap.ts[stop - 1] // width - first + 1
    inner = spans - 1  # edges inside each series' range
    owner = np.repeat(np.arange(len(members)), inner)
    found = edge_positions(snap.ts, start, stop, owner, run_index(first + 1, inner) * width)
    # Per series: start, its inner edges, stop; cell j of series s spans boundaries
    # j + s .. j + s + 1 (each series adds one boundary more than cells).
    head = np.cumsum(spans + 1) - (spans + 1)
    bounds = np.empty(len(found) + 2 * len(members), np.int64)
    inside = np.ones(len(bounds), dtype=bool)
    inside[head] = False
    inside[head + spans] = False
    bounds[head] = start
    bounds[head + spans] = stop
    bounds[inside] = found
    at = np.arange(int(spans.sum())) + np.repeat(np.arange(len(members)), spans)
    cell_lo, cell_hi = bounds[at], bounds[at + 1]
    bucket = run_index(first, spans)
    owner = np.repeat(members, spans)
    filled = cell_hi > cell_lo
    if filled.all():
        return Cells(owner, cell_lo, cell_hi, bucket)
    return Cells(owner[filled], cell_lo[filled], cell_hi[filled], bucket[filled])


def cells_of(snap: Snapshot, sel: Selection, width: int) -> Cells:
    """The non-empty (series, bucket) cells of the selection, ``width`` ns buckets."""
    counts = sel.counts
    if len(counts) == 0:
        empty = np.empty(0, np.int64)
        return Cells(empty, empty, empty, empty)
    spans = snap.ts[sel.stop - 1] // width - snap.ts[sel.start] // width + 1
    long = spans * EDGE_COST < counts
    parts = []
    if not long.all():
        parts.append(_cells_by_point(snap, sel, np.flatnonzero(~long), width))
    if long.any():
        parts.append(_cells_by_edges(snap, sel, np.flatnonzero(long), width))
    if len(parts) == 1:
        return parts[0]
    member = np.concatenate([p.member for p in parts])
    order = np.argsort(member, kind="stable")
    return Cells(member[order], *(np.concatenate([getattr(p, f) for p in parts])[order]
                                  for f in ("start", "stop", "bucket")))


def reduce_runs(values: np.ndarray, start: np.ndarray, stop: np.ndarray,
                ufunc: np.ufunc) -> np.ndarray:
    """``ufunc`` over each non-empty run ``values[start[i]:stop[i]]``, nothing copied.

    Runs that follow each other (a series' cells) form blocks. Few blocks: one
    ``reduceat`` over each block's slice. Many (short series): one ``reduceat`` over
    start/stop pairs, which also reads the gaps between blocks (~0.3 ns a value), unless
    gaps outweigh the runs, when the runs are gathered first.
    """
    if len(start) == 0:
        return np.empty(0)
    lengths = stop - start
    breaks = np.flatnonzero(start[1:] != stop[:-1]) + 1
    if len(breaks) < SLICE_BLOCKS:
        out = np.empty(len(start))
        for c0, c1 in zip([0, *breaks.tolist()], [*breaks.tolist(), len(start)], strict=True):
            a, b = int(start[c0]), int(stop[c1 - 1])
            out[c0:c1] = ufunc.reduceat(values[a:b], start[c0:c1] - a)
        return out
    gaps = np.maximum(start[1:] - stop[:-1], 0).sum()
    if gaps > 2 * lengths.sum():
        gathered = values[run_index(start, lengths)]
        reduced: np.ndarray = ufunc.reduceat(gathered, np.cumsum(lengths) - lengths)
        return reduced
    lo = int(start.min())
    window = values[lo:int(stop.max()) + 1]  # + 1: the last stop must be a valid index
    pairs = np.empty(2 * len(start), np.int64)
    pairs[0::2] = start - lo
    pairs[1::2] = stop - lo
    reduced = ufunc.reduceat(window, pairs)[0::2]
    return reduced


@dataclass(frozen=True)
class TraceCells:
    """Series cells merged into (trace, bucket) cells, sorted by trace, then bucket."""

    group: np.ndarray  # int64 trace number per trace cell
    bucket: np.ndarray  # int64 bucket number per trace cell
    count: np.ndarray  # int64 points per trace cell
    owner: np.ndarray  # int64 per series cell: its trace cell
    one_each: bool  # every trace cell is one series cell (``owner`` is a permutation)

    def combine(self, stat: np.ndarray, agg: str) -> np.ndarray:
        """Per trace cell: the series cells' ``stat`` (sum, min or max) combined."""
        n = len(self.group)
        if self.one_each:
            out = np.empty(n)
            out[self.owner] = stat
            return out
        if agg in ("min", "max"):
            out = np.full(n, np.inf if agg == "min" else -np.inf)
            (np.minimum if agg == "min" else np.maximum).at(out, self.owner, stat)
            return out
        summed: np.ndarray = np.bincount(self.owner, weights=stat, minlength=n)
        return summed


def bucket_range(snap: Snapshot, sel: Selection, width: int) -> tuple[int, int]:
    """(first, last) bucket number of the selected points."""
    return (int(snap.ts[sel.start].min()) // width if len(sel.start) else 0,
            int(snap.ts[sel.stop - 1].max()) // width if len(sel.stop) else 0)


def trace_cells(sel: Selection, group: np.ndarray, bucket: np.ndarray,
                counts: np.ndarray | None, buckets: tuple[int, int]) -> TraceCells:
    """The (trace, bucket) cells that rows fall in: rows are cells of trace ``group``
    holding ``counts`` points each (None: one point each), bucket numbers within
    ``buckets`` (first, last). Rows of one trace are contiguous."""
    if len(bucket) == 0:
        empty = np.zeros(0, np.int64)
        return TraceCells(empty, empty, empty, empty, True)
    if counts is not None and np.bincount(sel.group).max() <= 1:
        # One series per trace: nothing to merge, only trace order to follow.
        runs = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        lengths = np.diff(np.append(runs, len(group)))
        by_trace = np.argsort(group[runs], kind="stable")
        order = run_index(runs[by_trace], lengths[by_trace])
        owner = np.empty(len(group), np.int64)
        owner[order] = np.arange(len(order))
        return TraceCells(group[order], bucket[order], counts[order], owner, True)
    low, span = buckets[0], buckets[1] - buckets[0] + 1
    key = bucket - low if len(sel.names) == 1 else group * span + (bucket - low)
    slots = len(sel.names) * span
    if slots <= 4 * len(key) + 65536:  # dense: one slot per (trace, bucket)
        total = (np.bincount(key, minlength=slots) if counts is None
                 else np.bincount(key, weights=counts, minlength=slots).astype(np.int64))
        used = np.flatnonzero(total)
        if len(used) == slots:  # every slot used: slots are the cells
            owner = key
        else:
            index = np.zeros(slots, np.int64)
            index[used] = np.arange(len(used))
            owner = index[key]
        return TraceCells(used // span, used % span + low, total[used], owner, False)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    new = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    owner = np.empty(len(key), np.int64)
    owner[order] = np.cumsum(new) - 1
    firsts = ordered[new]
    count = (np.bincount(owner, minlength=len(firsts)) if counts is None else
             np.bincount(owner, weights=counts, minlength=len(firsts)).astype(np.int64))
    return TraceCells(firsts // span, firsts % span + low, count, owner, False)


# Below this many points per (series, bucket) cell on average, and when traces merge
# several series, every point is keyed to its trace cell directly: cells of runs would
# be about as many as the points (10,000 series of 100 points, 720 hours).
POINTS_PER_CELL = 4


def few_points_per_cell(snap: Snapshot, sel: Selection, width: int, agg: str) -> bool:
    """True when traces merge several series whose (series, bucket) cells hold few points
    on average: fewer than ``POINTS_PER_CELL``, or for percentiles fewer than a ranked
    run worth bracketing (``BRACKET_MIN``; 100 symbols, 14 points a cell: 20 ms point by
    point, against 27 ms through cells)."""
    counts = sel.counts
    if len(counts) == 0 or np.bincount(sel.group).max() <= 1:
        return False
    spans = snap.ts[sel.stop - 1] // width - snap.ts[sel.start] // width + 1
    cells = np.minimum(spans, counts).sum()
    below = BRACKET_MIN if agg in PERCENTILES else POINTS_PER_CELL
    return bool(counts.sum() < below * cells)


def point_cells(snap: Snapshot, sel: Selection, width: int) -> tuple[np.ndarray, TraceCells]:
    """Every selected point's column position and (trace, bucket) cell."""
    counts = sel.counts
    at = run_index(sel.start, counts)
    group = np.repeat(sel.group, counts) if len(sel.names) > 1 else np.zeros(0, np.int64)
    return at, trace_cells(sel, group, snap.ts[at] // width, None,
                           bucket_range(snap, sel, width))
