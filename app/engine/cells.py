"""Selected series cut into (series, bucket) cells, merged into (trace, bucket) cells."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.series import RANKED_TIERS, run_index, search_runs, segment_bounds
from ..data.store import Snapshot
from .percentiles import BRACKET_MIN, PERCENTILES, record_tier, whole_cells
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
    # float64 sum of the cell's values where a bucket record gave it, NaN where not;
    # None: none did (``cell_sums`` sums the points).
    total: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray:
        """Points per cell."""
        counts: np.ndarray = self.stop - self.start
        return counts

    def whole(self, width: int) -> np.ndarray | None:
        """Cells known to be whole closed buckets of the ranked tier ``width``: those a
        record gave (a sum from a record is a whole bucket's); None: none known."""
        if self.total is None or width not in RANKED_TIERS:
            return None
        known: np.ndarray = ~np.isnan(self.total)
        return known


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


def _cells_by_records(snap: Snapshot, sel: Selection, members: np.ndarray, width: int,
                      t: int) -> Cells:
    """Cells of series that keep bucket records of tier ``t`` (which tiles ``width``).

    A series' range is cut into pieces: the part of a closed bucket before its first
    record in range (a window starting mid-bucket), its records' buckets (the last maybe
    cut by the window's end) and the part after its closed buckets (the open bucket, in
    one ``width`` bucket). No point is read but the first of a cut piece. Pieces of one
    ``width`` bucket are then merged. A cell that is one whole record keeps its sum;
    the others' sums are left to ``cell_sums``: a sum of records would not be summed in
    the order ``reduce_runs`` sums the points, and views must not depend on which was
    used (``delta`` recomputes some cells from the points).
    """
    tier = RANKED_TIERS[t]
    records = snap.bucket_records[t]
    n = len(members)
    sid = sel.series[members]
    first = snap.series_start[sid]
    lo, hi = sel.start[members] - first, sel.stop[members] - first  # from each series' start
    closed = snap.series_ranked[t, sid]  # records cover points [0, closed)
    rstart, rcount = records.start[sid], records.count[sid]
    j0 = np.zeros(n, np.int64)  # the first record starting at or after lo
    cut = lo > 0
    if cut.any():
        j0[cut] = search_runs(records.offset, rstart[cut], rcount[cut], lo[cut])
    j1 = rcount.copy()  # one past the last record starting before hi
    cut = hi < closed
    if cut.any():
        j1[cut] = search_runs(records.offset, rstart[cut], rcount[cut], hi[cut])
    last = len(records.offset) - 1
    # The closed bucket lo falls in, when it is not a record's first point: its end.
    head_end = np.where(j0 < rcount, records.offset[np.minimum(rstart + j0, last)], closed)
    head = (j0 > 0) & (lo < head_end)
    tail = hi > np.maximum(lo, closed)  # points of the open bucket in range
    whole = np.maximum(j1 - j0, 0)
    pieces = head + whole + tail
    # Every piece read from the records as if it were one: the record before the first in
    # range for a head, the one after the last for a tail (both fixed below, n of them),
    # so that the 100,000 records are gathered, never scattered (~3x slower).
    at = np.minimum(run_index(rstart + j0 - head, pieces), last)
    p_start = records.offset[at]
    p_stop = np.empty(len(at), np.int64)
    p_stop[:-1] = p_start[1:]  # each record ends where the next begins
    p_bucket = records.bucket[at]
    if width != tier:
        p_bucket = p_bucket * tier // width
    p_total = records.total[at]
    base = np.cumsum(pieces) - pieces
    has = np.flatnonzero(whole)  # the last record in range: ends at the next or at closed
    end = np.where(j1 < rcount, records.offset[np.minimum(rstart + j1, last)], closed)[has]
    tip = base[has] + head[has] + whole[has] - 1
    p_stop[tip] = np.minimum(end, hi[has])
    p_total[tip[end > hi[has]]] = np.nan  # cut by the window's end
    for mask, slots, a, b in ((head, base, lo, np.minimum(head_end, hi)),
                              (tail, base + pieces - 1, np.maximum(lo, closed), hi)):
        where = slots[mask]
        p_start[where] = a[mask]
        p_stop[where] = b[mask]
        p_total[where] = np.nan
        p_bucket[where] = snap.ts[(first + a)[mask]] // width
    shift = np.repeat(first, pieces)
    p_start += shift
    p_stop += shift
    member = np.repeat(members, pieces)
    if width == tier:  # every piece a bucket of its own
        return Cells(member, p_start, p_stop, p_bucket, p_total)
    bounds = segment_bounds(p_bucket, base)
    heads = bounds[:-1]
    return Cells(member[heads], p_start[heads], p_stop[bounds[1:] - 1], p_bucket[heads],
                 np.where(np.diff(bounds) == 1, p_total[heads], np.nan))


def cells_of(snap: Snapshot, sel: Selection, width: int) -> Cells:
    """The non-empty (series, bucket) cells of the selection, ``width`` ns buckets:
    from bucket records where the series keep them, else from the points."""
    counts = sel.counts
    if len(counts) == 0:
        empty = np.empty(0, np.int64)
        return Cells(empty, empty, empty, empty)
    spans = snap.ts[sel.stop - 1] // width - snap.ts[sel.start] // width + 1
    long = spans * EDGE_COST < counts
    by_records = np.zeros(len(counts), dtype=bool)
    t = record_tier(width)
    if t is not None and snap.bucket_records:
        records = snap.bucket_records[t]
        by_records = records.kept[sel.series] & (records.count[sel.series] > 0)
    parts = []
    if by_records.any():
        parts.append(_cells_by_records(snap, sel, np.flatnonzero(by_records), width,
                                       t or 0))
    short, long = ~long & ~by_records, long & ~by_records
    if short.any():
        parts.append(_cells_by_point(snap, sel, np.flatnonzero(short), width))
    if long.any():
        parts.append(_cells_by_edges(snap, sel, np.flatnonzero(long), width))
    if len(parts) == 1:
        return parts[0]
    member = np.concatenate([p.member for p in parts])
    order = np.argsort(member, kind="stable")
    total = None
    if any(p.total is not None for p in parts):
        total = np.concatenate([np.full(len(p.member), np.nan) if p.total is None
                                else p.total for p in parts])[order]
    start, stop, bucket = (np.concatenate([getattr(p, f) for p in parts])[order]
                           for f in ("start", "stop", "bucket"))
    return Cells(member[order], start, stop, bucket, total)


def cell_sums(values: np.ndarray, cells: Cells) -> np.ndarray:
    """The sum of each cell's values: its record's where it has one, else its points'."""
    if cells.total is None:
        return reduce_runs(values, cells.start, cells.stop, np.add)
    out = cells.total.copy()
    todo = np.flatnonzero(np.isnan(out))
    if len(todo):
        out[todo] = reduce_runs(values, cells.start[todo], cells.stop[todo], np.add)
    return out


def cell_extremes(snap: Snapshot, sel: Selection, cells: Cells, width: int,
                  agg: str) -> np.ndarray:
    """The min (``agg`` "min") or max of each cell's values. A cell that is a whole
    closed bucket of a ranked tier reads it from the bucket's sorted values (its first
    or last), the rest from the points. A zero is read again from the points: sorting
    does not order -0.0 and 0.0, and views must not depend on the way taken."""
    ufunc = np.minimum if agg == "min" else np.maximum
    if width not in RANKED_TIERS or not len(cells.start):
        return reduce_runs(snap.value, cells.start, cells.stop, ufunc)
    t = RANKED_TIERS.index(width)
    ready = whole_cells(snap, sel.series, cells.member, cells.start, cells.stop,
                        cells.bucket, width, t, cells.whole(width))
    out = np.empty(len(cells.start))
    out[ready] = snap.ranked[t][cells.start[ready] if agg == "min" else cells.stop[ready] - 1]
    todo = np.flatnonzero(~ready | (out == 0))
    if len(todo):
        out[todo] = reduce_runs(snap.value, cells.start[todo], cells.stop[todo], ufunc)
    return out


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
