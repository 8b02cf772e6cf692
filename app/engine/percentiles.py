"""Exact percentiles per (trace, bucket) cell, by linear interpolation between closest ranks
(as numpy, pandas and DuckDB's ``quantile_cont``), from ranked buckets where they help."""
from __future__ import annotations

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


def _interpolate(low: np.ndarray, high: np.ndarray, frac: np.ndarray) -> np.ndarray:
    out: np.ndarray = low + (high - low) * frac
    return out


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
    out = np.empty(len(counts))
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
        out[segments] = _interpolate(grid[:, a], grid[:, b], frac[segments])
    return out


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
            out[self.cells[first:last]] = _interpolate(grid[:, a], grid[:, b],
                                                       frac[first:last])
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
        out[owner[runs]] = _interpolate(grid[:, a], grid[:, b], frac[first:last])
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
    reads two ranked values;
    several long ranked runs are bracketed; the rest is selected from raw values.
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
    rest = np.flatnonzero(todo)
    if len(rest):
        remap = np.full(n, -1, np.int64)
        remap[rest] = np.arange(len(rest))
        use = todo[owner]
        out[rest] = run_quantiles(snap.value, remap[owner[use]], start[use], counts[use], q)
    return out
