"""Exact percentiles per (trace, bucket) cell, by linear interpolation between closest ranks
(as numpy, pandas and DuckDB's ``quantile_cont``), from ranked buckets where they help:
buckets of a ranked tier's width, and buckets that the tier's buckets tile."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..data.series import RANKED_TIERS, run_index, search_runs
from ..data.store import Snapshot

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
# Several series' ranked runs in one cell are bracketed (a few binary searches each)
# only when the runs are long: 5 hosts x 60 points a minute sort a few values instead of
# 300 (24h/1m p95 by region over 1M points: 3.4 ms, against 5.0 unbracketed); runs of 14
# points are quicker selected raw (100 symbols, 1h: 25 ms, against 32 bracketed).
BRACKET_MIN = 16
# Cells of this many values on average are narrowed by a histogram before selecting;
# smaller ones are grouped whole (24h/1m by market, 3 values a cell: 1.4 ms, against 4).
NARROW_FROM = 64
# A run's count below a cell's estimate lies within 7 places of the run's own quantile
# rank for 99% of runs (10M points, 5m/15m p50-p99: median 1-3 places, 99th 2-10): a
# search of 15 places (4 steps, 2-3 cache lines) before the whole run's (6 steps).
REACH = 7


def _interpolate(low: np.ndarray, high: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """``low`` to ``high`` by ``frac`` (0..1, float64 arrays of one length), rounded as
    numpy's quantile rounds it: from ``high`` back when ``frac >= 0.5``. So answers equal
    ``np.quantile`` and pandas' ``Series.quantile`` to the bit, not one ulp off in ~1% of
    cells (DuckDB's ``quantile_cont`` always goes from ``low``, and differs from numpy
    there). Both roundings are computed and one is picked per cell by their bits: a masked
    copy or ``np.where`` costs 3-10x more on cells whose fractions are mixed, and a third
    array of cells makes glibc return and fault in its pages on every call (+1.3 ms for
    111,120 cells)."""
    out: np.ndarray = np.subtract(high, low)
    down: np.ndarray = np.subtract(1.0, frac)
    down *= out
    np.subtract(high, down, out=down)
    out *= frac
    out += low
    bits, other = out.view(np.int64), down.view(np.int64)
    other ^= bits  # the bits in which the two differ ...
    other *= frac >= 0.5  # ... kept where ``down`` is the answer (integers: exact)
    bits ^= other
    return out


def _lerp(low: np.ndarray, high: np.ndarray, frac: float) -> np.ndarray:
    """``_interpolate`` for cells of one count (so one fraction): the rounding picked
    once, three numpy calls."""
    if frac >= 0.5:
        down: np.ndarray = high - (high - low) * (1.0 - frac)
        return down
    up: np.ndarray = low + (high - low) * frac
    return up


def ranks(counts: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low rank, high rank, fraction) of the ``q`` quantile of ``counts`` values each."""
    pos = q * (counts - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, counts - 1)
    return low, high, pos - low


def select_ranks(values: np.ndarray, bounds: np.ndarray, low: np.ndarray, high: np.ndarray,
                 frac: np.ndarray) -> np.ndarray:
    """Per segment ``values[bounds[i]:bounds[i+1]]`` (none empty): its ranks ``low[i]`` and
    ``high[i]`` interpolated by ``frac[i]``.

    Segments of one length and ranks (quantile ranks depend on the length only) are the
    rows of one grid and ``np.partition`` selects along the rows: linear work, one numpy
    call per distinct length (5,760 cells of ~170 values: 6 ms, against 24 ms sorting).
    """
    counts = np.diff(bounds)
    at_low, at_high = np.empty(len(counts)), np.empty(len(counts))  # the ranks' values
    order = np.lexsort((high, low, counts))
    counts, low, high = counts[order], low[order], high[order]
    edges = np.flatnonzero((np.diff(counts) != 0) | (np.diff(low) != 0)
                           | (np.diff(high) != 0)) + 1
    for lo_i, hi_i in zip(np.concatenate(([0], edges)).tolist(),
                          np.append(edges, len(counts)).tolist(), strict=True):
        segments = order[lo_i:hi_i]
        length, a, b = int(counts[lo_i]), int(low[lo_i]), int(high[lo_i])
        grid = values[bounds[segments][:, None] + np.arange(length)]
        if length > 1:
            grid = np.partition(grid, (a, b) if b != a else a, axis=1)
        at_low[segments], at_high[segments] = grid[:, a], grid[:, b]
    # Once, after: ``frac`` may differ within a group (narrowed cells keep the ranks' place
    # among fewer values, not the fraction of their count).
    return _interpolate(at_low, at_high, frac)


def quantile_segments(values: np.ndarray, bounds: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile of each segment ``values[bounds[i]:bounds[i+1]]`` (none empty)."""
    return select_ranks(values, bounds, *ranks(np.diff(bounds), q))


def group_order(key: np.ndarray, keys: int) -> np.ndarray:
    """A stable order of ``key`` (0 <= key < keys). numpy's stable sort is a radix sort
    for 16-bit integers (1M keys: 12 ms, against 20 ms as int64), so keys below 2**32
    are sorted by their low, then their high 16 bits."""
    if keys <= 1 << 16:
        order: np.ndarray = np.argsort(key.astype(np.uint16), kind="stable")
        return order
    if keys <= 1 << 32:
        low = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
        high = np.argsort((key[low] >> 16).astype(np.uint16), kind="stable")
        order = low[high]
        return order
    order = np.argsort(key, kind="stable")
    return order


class Slots:
    """Cells laid out by their number of values, so that cells sharing a count (and so
    their quantile ranks) are adjacent: each such group is one grid of rows, a view of
    the values, selected in place (no index grid to gather through)."""

    def __init__(self, counts: np.ndarray) -> None:
        self.cells = np.argsort(counts, kind="stable")  # cell in each slot
        self.of_cell = np.empty(len(counts), np.int64)  # slot of each cell
        self.of_cell[self.cells] = np.arange(len(counts))
        self.sizes = counts[self.cells]

    def quantiles(self, values: np.ndarray, q: float) -> np.ndarray:
        """Per cell, the ``q`` quantile of its values; ``values`` hold the cells' values
        slot after slot (reordered in place)."""
        out = np.empty(len(self.cells))
        low, high, frac = ranks(self.sizes, q)
        bounds = np.concatenate(([0], np.cumsum(self.sizes))).tolist()
        edges = (np.flatnonzero(np.diff(self.sizes)) + 1).tolist()
        for first, last in zip([0, *edges], [*edges, len(self.sizes)], strict=True):
            length, a, b = int(self.sizes[first]), int(low[first]), int(high[first])
            grid = values[bounds[first]:bounds[last]].reshape(last - first, length)
            if length > 1:
                grid.partition((a, b) if b != a else a, axis=1)
            out[self.cells[first:last]] = _lerp(grid[:, a], grid[:, b], float(frac[first]))
        return out


def grouped_quantiles(values: np.ndarray, owner: np.ndarray, counts: np.ndarray,
                      q: float) -> np.ndarray:
    """The ``q`` quantile per cell of ``values``, each owned by cell ``owner`` (any order),
    cell ``i`` holding ``counts[i]`` of them: grouped by cell, then selected."""
    slots = Slots(counts)
    order = group_order(slots.of_cell[owner], len(counts))
    return slots.quantiles(values[order], q)


def narrowed_quantiles(values: np.ndarray, owner: np.ndarray, counts: np.ndarray,
                       q: float) -> np.ndarray:
    """The same answer as ``grouped_quantiles``, without grouping every value: each value
    falls in one of ``bins`` equal slices of the values' range per cell; counting them
    (one ``bincount``) tells which slice of each cell holds the quantile's two ranks, and
    only those slices' values (a few per cell) are grouped and selected.

    Exact: the slice of a value never decreases as the value grows (a difference and a
    product by a positive constant round monotonically), so every value of an earlier
    slice is at most every value of a later one. 720 cells of 1,400 values: 13 ms,
    against 25 ms grouping them all.
    """
    n = len(counts)
    low, high, frac = ranks(counts, q)
    least, most = float(values.min()), float(values.max())
    if not np.isfinite(most - least) or most == least:
        return grouped_quantiles(values, owner, counts, q)
    # ~4 values a slice: the counts stay in cache (720 cells x 512 slices: 3 MB; 4x as
    # many slices made bincount 4x slower) and a cell keeps a few values.
    bins = int(min(1024, max(16, 1 << int(len(values) // (4 * n)).bit_length())))
    key = ((values - least) * ((bins - 1) / (most - least))).astype(np.int64)
    key += owner * bins
    seen = np.cumsum(np.bincount(key, minlength=n * bins))  # values in slices up to each
    before = np.cumsum(counts) - counts  # values of the cells before each cell
    at_low = np.searchsorted(seen, before + low, side="right")
    at_high = np.searchsorted(seen, before + high, side="right")
    below = np.where(at_low > 0, seen[np.maximum(at_low - 1, 0)], 0) - before
    wanted = np.zeros(n * bins, dtype=bool)  # the slices holding a quantile's ranks
    wanted[run_index(at_low, at_high - at_low + 1)] = True
    keep = wanted[key]
    kept_owner = owner[keep]
    kept = np.bincount(kept_owner, minlength=n)
    order = group_order(kept_owner, n)
    return select_ranks(values[keep][order], np.concatenate(([0], np.cumsum(kept))),
                        low - below, high - below, frac)


def quantiles_by_owner(values: np.ndarray, owner: np.ndarray, counts: np.ndarray,
                       q: float) -> np.ndarray:
    """The ``q`` quantile per cell of ``values`` owned by cell ``owner`` (any order), cell
    ``i`` holding ``counts[i]``: narrowed by a histogram first when cells are large."""
    if len(values) >= NARROW_FROM * len(counts):
        return narrowed_quantiles(values, owner, counts, q)
    return grouped_quantiles(values, owner, counts, q)


def one_run_quantiles(column: np.ndarray, owner: np.ndarray, start: np.ndarray,
                      lengths: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile per cell when cell ``owner[i]`` is the one run
    ``column[start[i]:start[i] + lengths[i]]`` (none empty): runs of one length are the
    rows of one grid, gathered from the column and selected along the rows, without
    grouping values by cell first (300,000 runs of ~3 values: 15 ms, against 50 ms)."""
    out = np.empty(len(owner))
    order = group_order(lengths, int(lengths.max()) + 1)
    sizes = lengths[order]
    low, high, frac = ranks(sizes, q)
    edges = (np.flatnonzero(np.diff(sizes)) + 1).tolist()
    for first, last in zip([0, *edges], [*edges, len(sizes)], strict=True):
        runs = order[first:last]
        length, a, b = int(sizes[first]), int(low[first]), int(high[first])
        grid = column[start[runs][:, None] + np.arange(length)]
        if length > 1:
            grid.partition((a, b) if b != a else a, axis=1)
        out[owner[runs]] = _lerp(grid[:, a], grid[:, b], float(frac[first]))
    return out


def run_quantiles(column: np.ndarray, owner: np.ndarray, start: np.ndarray,
                  lengths: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile per cell of the runs ``column[start[i]:start[i] + lengths[i]]``,
    each owned by cell ``owner[i]`` (cells 0..k-1, each with at least one run). Small
    cells: runs are ordered by cell, not points (72,000 runs of 14 points: 5x fewer)."""
    counts = np.bincount(owner, weights=lengths).astype(np.int64)
    if len(counts) and int(counts.sum()) >= NARROW_FROM * len(counts):
        return narrowed_quantiles(column[run_index(start, lengths)],
                                  np.repeat(owner, lengths), counts, q)
    if len(owner) == len(counts):  # a run per cell: rows of a grid read straight from runs
        return one_run_quantiles(column, owner, start, lengths, q)
    slots = Slots(counts)
    order = group_order(slots.of_cell[owner], len(slots.cells))
    return slots.quantiles(column[run_index(start[order], lengths[order])], q)


def record_tier(width: int) -> int | None:
    """The index of the coarsest ``RANKED_TIERS`` tier whose buckets tile ``width``-ns
    buckets (a 15-minute bucket is 3 whole 5-minute ones), or None."""
    for t in reversed(range(len(RANKED_TIERS))):
        if width % RANKED_TIERS[t] == 0:
            return t
    return None


class TierRuns(NamedTuple):
    """Trace cells cut into sorted runs of a ranked tier (its closed buckets) and loose
    pieces (points of a bucket cut by the window, or of the open bucket)."""

    owner: np.ndarray  # int64 trace cell per run, runs in column order (within a series)
    start: np.ndarray  # int64 position of the run in ``ranked[tier]``
    length: np.ndarray  # int64 values in the run (> 0)
    loose_owner: np.ndarray  # int64 trace cell per loose piece
    loose_start: np.ndarray  # int64 position of the piece in ``value``
    loose_length: np.ndarray  # int64 values in the piece (> 0)
    usable: np.ndarray  # bool per trace cell: all its values are in these runs and pieces


def tier_runs(snap: Snapshot, series: np.ndarray, member: np.ndarray, start: np.ndarray,
              stop: np.ndarray, bucket: np.ndarray, owner: np.ndarray, n: int, width: int,
              t: int) -> TierRuns | None:
    """The cells (as ``cell_quantiles`` takes them) of ``width``-ns buckets, which tier
    ``t`` tiles, cut into the tier's closed buckets (sorted runs of ``ranked[t]``, found
    from the series' bucket records) and loose pieces. Cells of series that keep no
    records are not usable. None: no records at all."""
    if not snap.bucket_records or not len(member):
        return None
    records = snap.bucket_records[t]
    per = width // RANKED_TIERS[t]  # tier buckets in a bucket
    k = len(member)
    head = np.flatnonzero(np.concatenate(([True], member[1:] != member[:-1])))
    tail = np.append(head[1:] - 1, k - 1)
    m = len(head)
    sid = series[member[head]]
    first = snap.series_start[sid]
    lo, hi = start[head], stop[tail]
    closed = first + snap.series_ranked[t, sid]
    end = np.clip(closed, lo, hi)  # the ranked part of the range: [lo, end)
    kept = records.kept[sid] & (records.count[sid] > 0)
    if not kept.any():
        return None
    rstart = records.start[sid]
    rcount = np.where(kept, records.count[sid], 0)
    j0 = search_runs(records.offset, rstart, rcount, lo - first)
    j1 = search_runs(records.offset, rstart, rcount, end - first)
    nrec = j1 - j0
    at = run_index(rstart + j0, nrec)
    rec_member = np.repeat(np.arange(m), nrec)
    shift = first[rec_member]
    r_start = records.offset[at] + shift
    last = len(records.offset) - 1
    r_end = np.where(at == (rstart + rcount - 1)[rec_member], closed[rec_member],
                     records.offset[np.minimum(at + 1, last)] + shift)
    r_stop = np.minimum(r_end, hi[rec_member])
    # The cell of each record: cells are ordered by member, then bucket.
    low_bucket = int(bucket.min())
    span = int(bucket.max()) - low_bucket + 1
    if m * span >= 1 << 62:
        return None
    cell_key = np.repeat(np.arange(m), tail - head + 1) * span + (bucket - low_bucket)
    r_cell = np.searchsorted(cell_key, rec_member * span
                             + (records.bucket[at] // per - low_bucket))
    # A record cut by the window's end is a loose piece, as are the points before the
    # first record in range (a bucket cut by the window's start) and the open bucket.
    cut = r_stop < r_end
    first_rec = np.where(j0 < rcount, records.offset[np.minimum(rstart + j0, last)] + first,
                         end)
    head_stop = np.minimum(first_rec, end)
    tail_start = np.maximum(lo, closed)
    usable_member = kept & ((hi <= tail_start) | (tail_start >= start[tail]))
    loose_cell = np.concatenate((head, tail, r_cell[cut]))
    loose_start = np.concatenate((lo, tail_start, r_start[cut]))
    loose_count = np.concatenate((head_stop - lo, hi - tail_start, (r_stop - r_start)[cut]))
    # Series whose records do not cover their cells give neither runs nor pieces.
    whole = ~cut & usable_member[rec_member]
    run_cell, run_start = r_cell[whole], r_start[whole]
    run_count = (r_stop - r_start)[whole]
    filled = (loose_count > 0) & np.concatenate((usable_member, usable_member,
                                                 usable_member[rec_member[cut]]))
    loose_cell, loose_start, loose_count = (loose_cell[filled], loose_start[filled],
                                            loose_count[filled])
    usable = np.ones(n, dtype=bool)
    usable[owner[np.repeat(~usable_member, tail - head + 1)]] = False
    return TierRuns(owner[run_cell], run_start, run_count, owner[loose_cell], loose_start,
                    loose_count, usable)


def count_below(array: np.ndarray, start: np.ndarray, counts: np.ndarray,
                x: np.ndarray, near: np.ndarray | None = None, reach: int = REACH) -> np.ndarray:
    """Per sorted run ``array[start[i]:start[i] + counts[i]]`` (none empty): how many of
    its values are below ``x[i]``. ``search_runs`` with fewer numpy calls a step.

    ``near`` (optional, per run): a place in the run where the count likely is; only
    ``reach`` places either side of it are searched first (a step or two of cache lines,
    not the whole run's), and only runs whose count lies outside them are searched whole.
    """
    if near is None or not len(counts):
        whole: np.ndarray = _search(array, start - 1, start + counts - 1, x,
                                    int(counts.max(initial=1))) - start
        return whole
    first = np.maximum(near - reach, 0)
    last = np.minimum(near + reach, counts - 1)
    below: np.ndarray = _search(array, start + first - 1, start + last, x, 2 * reach + 1) - start
    # Exact unless every searched value fell on one side and the run goes on past them.
    unsure = np.flatnonzero(((below == first) & (first > 0))
                            | ((below == last + 1) & (last < counts - 1)))
    if len(unsure):
        below[unsure] = count_below(array, start[unsure], counts[unsure], x[unsure])
    return below


def _search(array: np.ndarray, at: np.ndarray, last: np.ndarray, x: np.ndarray,
            span: int) -> np.ndarray:
    """Per i, one past the last place in ``at[i] + 1 .. last[i]`` (``span`` places at most,
    sorted) holding a value below ``x[i]`` (``at[i] + 1``: none)."""
    step = 1 << (span.bit_length() - 1)  # steps of step, step/2, .. 1 reach 2*step-1 >= span
    while step:
        probe = np.minimum(at + step, last)
        at = np.where(array[probe] < x, probe, at)
        step >>= 1
    found: np.ndarray = at + 1
    return found


def _pick_ranks(rows: np.ndarray, k_low: np.ndarray,
                k_high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``rows`` (a 2-d array, copied into), its ``k_low``-th and ``k_high``-th
    smallest values (0 <= k_low <= k_high < row length). Short rows are sorted (one
    call); long ones are partitioned, one call per distinct pair of ranks."""
    index = np.arange(len(rows))
    if rows.shape[1] <= 64:
        rows.sort(axis=1)
        return rows[index, k_low], rows[index, k_high]
    a, b = np.empty(len(rows)), np.empty(len(rows))
    pairs = k_low * rows.shape[1] + k_high
    order = np.argsort(pairs, kind="stable")
    edges = np.flatnonzero(np.diff(pairs[order])) + 1
    for lo_i, hi_i in zip([0, *edges.tolist()], [*edges.tolist(), len(order)], strict=True):
        chosen = order[lo_i:hi_i]
        x, y = int(k_low[chosen[0]]), int(k_high[chosen[0]])
        part = np.partition(rows[chosen], (x, y) if y != x else x, axis=1)
        a[chosen], b[chosen] = part[:, x], part[:, y]
    return a, b


def _window_pass(ranked: np.ndarray, start: np.ndarray, counts: np.ndarray, at: np.ndarray,
                 cell_of: np.ndarray, low: np.ndarray, high: np.ndarray, margin: int,
                 shift: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One try of ``_windowed`` over runs in column order (``cell_of``: each one's cell,
    0..len(low)-1): a window of ``2 * margin + 2`` values in each run, from ``shift -
    margin`` places after ``at`` (moved inside the run). Returns (cells whose answer the
    windows held, their rank ``low`` values, their rank ``high`` values)."""
    k = len(low)
    w = 2 * margin + 2
    run_end = start + counts
    first = np.minimum(np.maximum(start + at + shift[cell_of] - margin, start), run_end - w)
    # The values just outside each window: the answer must lie between the highest before
    # any window and the lowest after any: then none outside is counted on the wrong side
    # (one equal to the answer is counted with it either way).
    fence_low = np.where(first > start, ranked[np.maximum(first - 1, 0)], -np.inf)
    after = first + w
    fence_high = np.where(after < run_end, ranked[np.minimum(after, len(ranked) - 1)],
                          np.inf)
    change = np.flatnonzero(cell_of[1:] != cell_of[:-1]) + 1
    if len(change) == k - 1:  # each cell's runs together (a cell of one series)
        heads = np.concatenate(([0], change))
        cell_order = cell_of[heads]
        per_cell = np.diff(np.append(heads, len(cell_of)))
        low, high = low[cell_order], high[cell_order]
    else:
        by_cell = group_order(cell_of, k)
        cell_order = np.arange(k)
        per_cell = np.bincount(cell_of, minlength=k)
        heads = np.cumsum(per_cell) - per_cell
        fence_low, fence_high = fence_low[by_cell], fence_high[by_cell]
        first, start, counts = first[by_cell], start[by_cell], counts[by_cell]
    fence_low = np.maximum.reduceat(fence_low, heads)
    fence_high = np.minimum.reduceat(fence_high, heads)
    skipped = np.add.reduceat(first - start, heads)  # values before the windows
    fits = np.minimum.reduceat(counts, heads) >= w
    k_low, k_high = low - skipped, high - skipped
    found, v_low, v_high = [], [], []
    for runs_each in np.unique(per_cell).tolist():
        group = np.flatnonzero((per_cell == runs_each) & fits & (k_low >= 0)
                               & (k_high < runs_each * w))
        if not len(group):
            continue
        # Each window place gathered for every run at once (1-d gathers: 5x quicker than
        # one gather of every run's window), then laid out one row a cell.
        at_rows = first[run_index(heads[group], np.full(len(group), runs_each))]
        columns = np.empty((w, len(at_rows)))
        for j in range(w):
            np.take(ranked, at_rows + j, out=columns[j])
        rows = columns.reshape(w, len(group), runs_each).transpose(1, 2, 0)
        a, b = _pick_ranks(rows.reshape(len(group), runs_each * w), k_low[group],
                           k_high[group])
        good = (a >= fence_low[group]) & (b <= fence_high[group])
        found.append(cell_order[group[good]])
        v_low.append(a[good])
        v_high.append(b[good])
    if not found:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    return np.concatenate(found), np.concatenate(v_low), np.concatenate(v_high)


def _windowed(ranked: np.ndarray, owner: np.ndarray, start: np.ndarray, counts: np.ndarray,
              n: int, q: float, out: np.ndarray) -> np.ndarray:
    """Trace cells made only of sorted runs (``owner``: each run's cell; runs in column
    order): an estimate of each cell's answer (the mean of its runs' own quantiles) is
    found in every run by one binary search, which also counts the cell's values below
    it; a few values of each run about where the answer should be (a window) are
    selected from together per cell. Exact when the values before the windows are at
    most the answer and those after at least (checked on the values just outside each
    window). Fills ``out`` for those cells and returns which they are."""
    done = np.zeros(n, dtype=bool)
    if not len(owner):
        return done
    cells = np.flatnonzero(np.bincount(owner, minlength=n))
    k = len(cells)
    remap = np.zeros(n, np.int64)
    remap[cells] = np.arange(k)
    cell_of = remap[owner]
    per_cell = np.bincount(cell_of, minlength=k)
    total = np.bincount(cell_of, weights=counts, minlength=k).astype(np.int64)
    low, high, frac = ranks(total, q)
    r_low, r_high, r_frac = ranks(counts, q)
    guess = ranked[start + r_low]  # an estimate only: rounding either way will do
    guess += (ranked[start + r_high] - guess) * r_frac
    estimate = np.bincount(cell_of, weights=guess, minlength=k) / per_cell
    at = count_below(ranked, start, counts, estimate[cell_of], near=r_low)
    below = np.bincount(cell_of, weights=at, minlength=k).astype(np.int64)
    # The answer is about (low - below) / runs places past the estimate in each run.
    ahead = (low - below) / per_cell
    shift = np.round(ahead).astype(np.int64)
    # Wide enough for nearly every cell (the rest try again with windows 4x as wide).
    margin = 1 + int(np.ceil(1.5 * np.sqrt(np.quantile(np.abs(ahead), 0.9))))
    todo = np.arange(k)
    for widen in (1, 4):
        if widen > 1:  # the cells missed, with wider windows
            use = np.zeros(k, dtype=bool)
            use[todo] = True
            keep = use[cell_of]
            remap = np.full(k, -1, np.int64)
            remap[todo] = np.arange(len(todo))
            found, a, b = _window_pass(ranked, start[keep], counts[keep], at[keep],
                                       remap[cell_of[keep]], low[todo], high[todo],
                                       margin * widen, shift[todo])
            found = todo[found]
        else:
            found, a, b = _window_pass(ranked, start, counts, at, cell_of, low, high,
                                       margin, shift)
        out[cells[found]] = _interpolate(a, b, frac[found])
        done[cells[found]] = True
        todo = np.setdiff1d(todo, found, assume_unique=True)
        if not len(todo):
            break
    return done


def _tiled(ranked: np.ndarray, value: np.ndarray, runs: TierRuns, n: int, q: float,
           out: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Trace cells made of sorted runs and loose pieces: the answer lies between the
    lowest and the highest of the runs' own quantiles; binary searches (runs) and
    comparisons (loose pieces) count what lies below that bracket, and only the values
    inside it are selected. Fills ``out`` where the bracket held; returns where that is."""
    use = todo[runs.owner]
    owner, start, counts = runs.owner[use], runs.start[use], runs.length[use]
    use = todo[runs.loose_owner]
    loose_owner, loose_start, loose_count = (runs.loose_owner[use], runs.loose_start[use],
                                             runs.loose_length[use])
    total = (np.bincount(owner, weights=counts, minlength=n)
             + np.bincount(loose_owner, weights=loose_count, minlength=n)).astype(np.int64)
    loose_value = value[run_index(loose_start, loose_count)]
    loose_owner = np.repeat(loose_owner, loose_count)
    low, high, frac = ranks(np.maximum(total, 1), q)
    lo_value, hi_value = np.full(n, np.inf), np.full(n, -np.inf)
    if len(owner):
        i_low = np.floor(q * (counts - 1)).astype(np.int64)
        i_high = np.minimum(counts - 1, i_low + 2)
        np.minimum.at(lo_value, owner, ranked[start + i_low])
        np.maximum.at(hi_value, owner, ranked[start + i_high])
    below_run = search_runs(ranked, start, counts, lo_value[owner])
    upto_run = search_runs(ranked, start, counts, hi_value[owner], right=True)
    loose_lo, loose_hi = lo_value[loose_owner], hi_value[loose_owner]
    inside = (loose_value >= loose_lo) & (loose_value <= loose_hi)
    below = (np.bincount(owner, weights=below_run, minlength=n)
             + np.bincount(loose_owner, weights=loose_value < loose_lo, minlength=n)
             ).astype(np.int64)
    upto = below + (np.bincount(owner, weights=upto_run - below_run, minlength=n)
                    + np.bincount(loose_owner, weights=inside, minlength=n)).astype(np.int64)
    done: np.ndarray = todo & runs.usable & (total > 0) & (below <= low) & (upto >= high + 1)
    tied = done & (lo_value == hi_value)  # every value in the bracket is the answer
    out[tied] = lo_value[tied]
    chosen = np.flatnonzero(done & ~tied)
    if not len(chosen):
        return done
    keep = (done & ~tied)[owner]
    lengths = (upto_run - below_run)[keep]
    picked = inside & (done & ~tied)[loose_owner]
    values = np.concatenate((ranked[run_index((start + below_run)[keep], lengths)],
                             loose_value[picked]))
    remap = np.full(n, -1, np.int64)
    remap[chosen] = np.arange(len(chosen))
    within = remap[np.concatenate((np.repeat(owner[keep], lengths), loose_owner[picked]))]
    order = group_order(within, len(chosen))
    totals = np.bincount(within, minlength=len(chosen)).astype(np.int64)
    bounds = np.concatenate(([0], np.cumsum(totals)))
    out[chosen] = select_ranks(values[order], bounds, low[chosen] - below[chosen],
                               high[chosen] - below[chosen], frac[chosen])
    return done


def whole_ranked(snap: Snapshot, series: np.ndarray, member: np.ndarray, start: np.ndarray,
                  stop: np.ndarray, bucket: np.ndarray, width: int, tier: int) -> np.ndarray:
    """Cells that are whole closed buckets of their series, so ``ranked[start:stop]`` holds
    their values sorted. Only a series' first and last cells in range can be cut by the
    window's edges (then the ranked run holds values outside the range too)."""
    if len(member) == 0:
        return np.zeros(0, dtype=bool)
    sid = series[member]
    ready: np.ndarray = stop <= snap.series_start[sid] + snap.series_ranked[tier, sid]
    head = np.flatnonzero(np.concatenate(([True], member[1:] != member[:-1])))
    tail = np.append(head[1:] - 1, len(member) - 1)
    first = snap.series_start[sid[head]]
    cut = (start[head] > first) & (snap.ts[np.maximum(start[head] - 1, 0)] // width
                                   == bucket[head])
    ready[head[cut]] = False
    end = first + snap.series_count[sid[head]]
    cut = (stop[tail] < end) & (snap.ts[np.minimum(stop[tail], len(snap.ts) - 1)] // width
                                == bucket[tail])
    ready[tail[cut]] = False
    return ready


def _bracketed(ranked: np.ndarray, owner: np.ndarray, start: np.ndarray,
               counts: np.ndarray, n: int, todo: np.ndarray, q: float,
               out: np.ndarray) -> np.ndarray:
    """Cells of several long ranked runs: the answer lies between the lowest and the
    highest of the runs' own quantiles; binary searches count what lies below that
    bracket and only the values inside it are sorted. Fills ``out`` for the cells where
    the bracket held and returns which those are."""
    use = todo[owner]
    owner, start, counts = owner[use], start[use], counts[use]
    total = np.bincount(owner, weights=counts, minlength=n).astype(np.int64)
    low, high, frac = ranks(np.maximum(total, 1), q)
    i_low = np.floor(q * (counts - 1)).astype(np.int64)
    i_high = np.minimum(counts - 1, i_low + 2)
    lo_value, hi_value = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(lo_value, owner, ranked[start + i_low])
    np.maximum.at(hi_value, owner, ranked[start + i_high])
    below_run = search_runs(ranked, start, counts, lo_value[owner])
    upto_run = search_runs(ranked, start, counts, hi_value[owner], right=True)
    below = np.bincount(owner, weights=below_run, minlength=n).astype(np.int64)
    upto = np.bincount(owner, weights=upto_run, minlength=n).astype(np.int64)
    done = todo & (below <= low) & (upto >= high + 1)
    keep = done[owner]
    chosen = np.flatnonzero(done)
    if len(chosen):
        remap = np.full(n, -1, np.int64)
        remap[chosen] = np.arange(len(chosen))
        within = remap[owner[keep]]
        lengths = (upto_run - below_run)[keep]
        order = group_order(within, len(chosen))
        values = ranked[run_index((start[keep] + below_run[keep])[order], lengths[order])]
        totals = np.bincount(within, weights=lengths, minlength=len(chosen)).astype(np.int64)
        bounds = np.concatenate(([0], np.cumsum(totals)))
        out[chosen] = select_ranks(values, bounds, low[chosen] - below[chosen],
                                   high[chosen] - below[chosen], frac[chosen])
    return done


def whole_cells(snap: Snapshot, series: np.ndarray, member: np.ndarray, start: np.ndarray,
                stop: np.ndarray, bucket: np.ndarray, width: int, tier: int,
                known: np.ndarray | None = None) -> np.ndarray:
    """``whole_ranked``, taking the cells ``known`` to be whole (those a bucket record
    gave) on trust and testing only the others."""
    if known is None:
        return whole_ranked(snap, series, member, start, stop, bucket, width, tier)
    out = known.copy()
    rest = np.flatnonzero(~known)
    if len(rest):
        out[rest] = whole_ranked(snap, series, member[rest], start[rest], stop[rest],
                                 bucket[rest], width, tier)
    return out


def cell_quantiles(snap: Snapshot, series: np.ndarray, member: np.ndarray, start: np.ndarray,
                   stop: np.ndarray, bucket: np.ndarray, owner: np.ndarray, n: int,
                   width: int, q: float, one_each: bool = False,
                   whole: np.ndarray | None = None) -> np.ndarray:
    """Exact ``q`` quantile of each of ``n`` trace cells, made of series cells (selected
    series ``series[member]``, column positions ``start``..``stop``, bucket number, ordered
    by member then bucket), each owned by trace cell ``owner`` (``one_each``: one series
    cell per trace cell).

    ``whole`` (optional, per series cell): cells known to be whole closed buckets of a
    ranked tier of ``width``. A trace cell that is one whole closed bucket of one series
    reads two ranked values; several long ranked runs are bracketed; the rest is
    selected from raw values. Buckets that a tier tiles (3m of minutes, 15m of 5
    minutes, 24h of hours) are cut into the tier's sorted runs (``tier_runs``): cells of
    whole runs are answered from a few values of each run about the answer
    (``_windowed``), those with points of a cut or open bucket by brackets (``_tiled``);
    whole-history 15m over 10M points: 55 ms -> ~18 of minute runs, ~5 of 5-minute runs.
    """
    out = np.empty(n)
    counts = stop - start
    todo = np.ones(n, dtype=bool)
    if width in RANKED_TIERS and n:
        tier = RANKED_TIERS.index(width)
        ranked = snap.ranked[tier]
        if one_each:  # every trace cell one series cell: no runs to count per cell
            single = np.flatnonzero(whole_cells(snap, series, member, start, stop, bucket,
                                                 width, tier, whole))
            several = np.zeros(n, dtype=bool)
        else:
            runs = np.bincount(owner, minlength=n)
            long_runs = np.bincount(owner, weights=counts, minlength=n) >= BRACKET_MIN * runs
            # Ranked runs only help a cell of one run, or of several long ones.
            hopeful = np.flatnonzero(((runs == 1) | long_runs)[owner])
            ready = np.zeros(len(owner), dtype=bool)
            ready[hopeful] = whole_cells(snap, series, member[hopeful], start[hopeful],
                                         stop[hopeful], bucket[hopeful], width, tier,
                                         None if whole is None else whole[hopeful])
            all_ready = np.bincount(owner, weights=(~ready).astype(np.float64),
                                    minlength=n) == 0
            single = np.flatnonzero(all_ready[owner] & (runs[owner] == 1))
            several = all_ready & long_runs
        low, high, frac = ranks(counts[single], q)
        base = start[single]
        out[owner[single]] = _interpolate(ranked[base + low], ranked[base + high], frac)
        todo[owner[single]] = False
        several &= todo
        if several.any():
            todo &= ~_bracketed(ranked, owner, start, counts, n, several, q, out)
    tiled = record_tier(width) if width not in RANKED_TIERS and n else None
    if tiled is not None:
        pieces = tier_runs(snap, series, member, start, stop, bucket, owner, n, width, tiled)
        if pieces is not None and pieces.usable.any():
            ranked = snap.ranked[tiled]
            only_runs = pieces.usable & (np.bincount(pieces.loose_owner, minlength=n) == 0)
            use = only_runs[pieces.owner]
            todo &= ~_windowed(ranked, pieces.owner[use], pieces.start[use],
                               pieces.length[use], n, q, out)
            todo &= ~_tiled(ranked, snap.value, pieces, n, q, out, todo)
    rest = np.flatnonzero(todo)
    if len(rest):
        remap = np.full(n, -1, np.int64)
        remap[rest] = np.arange(len(rest))
        use = todo[owner]
        out[rest] = run_quantiles(snap.value, remap[owner[use]], start[use], counts[use], q)
    return out
