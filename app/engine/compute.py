"""View x snapshot -> traces: pick series, slice each by time, split, aggregate per bucket."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.series import RANKED_TIERS, bucket_bounds, sort_segments
from ..data.store import Snapshot
from ..instants import FIRST_INSTANT, SECOND, format_duration
from .view import BUCKETS, View

# Buckets "auto" may pick beyond the ones a URL can name, for spans of years.
AUTO_BUCKETS = sorted({b for b in BUCKETS.values() if b} | {7 * 86400 * SECOND,
                                                            30 * 86400 * SECOND,
                                                            365 * 86400 * SECOND})
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class Trace:
    """One line of the chart: a name and its points (x in ns, sorted)."""

    name: str
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Selection:
    """The series a view selects, the slice of each inside its time range, and their traces."""

    series: np.ndarray  # int64 ids of the selected series that have points in range
    parts: tuple[slice, ...]  # per selected series: its points inside the time range
    group: np.ndarray  # trace number per selected series
    names: tuple[str, ...]  # trace names by number

    @property
    def counts(self) -> np.ndarray:
        """Points in range per selected series."""
        return np.array([p.stop - p.start for p in self.parts], dtype=np.int64)


@dataclass(frozen=True)
class Result:
    """What a view shows at one version."""

    traces: tuple[Trace, ...]
    agg: str  # "raw" or the aggregation applied
    bucket_ns: int | None
    truncated: bool  # some trace was cut to its newest points

    @property
    def bucket(self) -> str | None:
        """The bucket's name ("1m"), or its length in seconds when auto picked a longer one."""
        if self.bucket_ns is None:
            return None
        return format_duration(self.bucket_ns)


def codes_of(values: tuple[str, ...], wanted: tuple[str, ...]) -> np.ndarray:
    """Codes of the ``wanted`` values among ``values`` (values not present are left out)."""
    index = {v: i for i, v in enumerate(values)}
    return np.array([index[w] for w in wanted if w in index], dtype=np.int32)


def member(column: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """A boolean mask, one per entry of ``column`` (int codes): True where it is one of
    ``codes``; all False for no codes."""
    if len(codes) == 0:
        return np.zeros(len(column), dtype=bool)
    return np.isin(column, codes)


def label_mask(snap: Snapshot, label: str, values: tuple[str, ...]) -> np.ndarray:
    """Series whose ``label`` is one of ``values``; none if the label is gone
    (the file lost that column since the view was made)."""
    if label not in snap.series_labels:
        return np.zeros(len(snap.series_metric), dtype=bool)
    return member(snap.series_labels[label], codes_of(snap.label_values[label], values))


def series_mask(snap: Snapshot, view: View, skip: str | None = None) -> np.ndarray:
    """Series of the view's metrics that pass its label filters (all but ``skip``'s)."""
    keep = member(snap.series_metric, codes_of(snap.metrics, view.metrics))
    for label, values in view.filters:
        if label != skip:
            keep &= label_mask(snap, label, values)
    return keep


def time_parts(snap: Snapshot, view: View, series: np.ndarray) -> list[slice]:
    """Each series' points inside the view's time range, by binary search on its times."""
    lo, hi = view.time_range(snap.end)
    parts = []
    for i in series.tolist():
        ts = snap.series_ts[i]
        a = int(np.searchsorted(ts, lo, "left")) if lo is not None else 0
        b = int(np.searchsorted(ts, hi, "right")) if hi is not None else len(ts)
        parts.append(slice(a, max(a, b)))
    return parts


def series_name(snap: Snapshot, sid: int, with_metric: bool) -> str:
    """A series as a trace name: its label values (and metric when several are shown)."""
    values = [snap.label_values[name][int(codes[sid])]
              for name, codes in snap.series_labels.items() if codes[sid] >= 0]
    if with_metric or not values:
        values.insert(0, snap.metrics[int(snap.series_metric[sid])])
    return " · ".join(values)


def select(snap: Snapshot, view: View) -> Selection:
    """The series of ``view`` with points in its time range, and the trace of each.

    ``by`` None or "none": one trace per metric; "series": one per series; a label:
    one per (metric, value of that label).
    """
    candidates = np.flatnonzero(series_mask(snap, view))
    cuts = time_parts(snap, view, candidates)
    filled = [i for i, cut in enumerate(cuts) if cut.stop > cut.start]
    series = candidates[filled].astype(np.int64)
    parts = tuple(cuts[i] for i in filled)
    metric_codes = codes_of(snap.metrics, view.metrics)
    metric_pos = np.full(len(snap.metrics), -1, dtype=np.int64)
    metric_pos[metric_codes] = np.arange(len(metric_codes))
    positions = metric_pos[snap.series_metric[series]]
    metric_names = [snap.metrics[c] for c in metric_codes]
    if view.by == "series":
        names = [series_name(snap, int(sid), len(metric_names) > 1) for sid in series]
        order = sorted(range(len(series)), key=lambda i: (positions[i], names[i]))
        group = np.empty(len(series), np.int64)
        group[order] = np.arange(len(series))
        return Selection(series, parts, group, tuple(names[i] for i in order))
    if view.by is None or view.by not in snap.series_labels:
        return Selection(series, parts, positions, tuple(metric_names))
    split_codes = snap.series_labels[view.by][series].astype(np.int64)
    present, split_index = np.unique(split_codes, return_inverse=True)
    split_names = [snap.label_values[view.by][c] if c >= 0 else "(none)" for c in present]
    group = positions * len(present) + split_index.ravel()
    names = [f"{m} · {s}" if len(metric_names) > 1 else s
             for m in metric_names for s in split_names]
    return Selection(series, parts, group, tuple(names))


def choose_bucket(first_ns: int, last_ns: int, max_points: int) -> int:
    """The finest bucket that brings ``first_ns``..``last_ns`` under ``max_points`` buckets."""
    for bucket in AUTO_BUCKETS:
        if last_ns // bucket - first_ns // bucket + 1 <= max_points:
            return bucket
    return AUTO_BUCKETS[-1]


@dataclass(frozen=True)
class Cells:
    """One series' points in range cut into buckets: the non-empty ones."""

    sid: int
    part: slice
    bucket: np.ndarray  # int64 bucket number (start // width) per cell
    bounds: np.ndarray  # cell i is part.start + bounds[i] .. part.start + bounds[i + 1]

    @property
    def counts(self) -> np.ndarray:
        """Points per cell."""
        return np.diff(self.bounds)


def bucket_starts(bucket: np.ndarray, bucket_ns: int) -> np.ndarray:
    """The start (ns) of each bucket number (``ts // bucket_ns``).

    A bucket that begins before ``FIRST_INSTANT`` (1678-01-01, the earliest instant
    stored) is drawn from there: its true start may not fit int64 ns, and the product
    wrapped around (a point of 1677 bucketed by day showed up in 2262).
    """
    lowest = -(-FIRST_INSTANT // bucket_ns)  # the first bucket starting at FIRST_INSTANT or later
    starts: np.ndarray = np.where(bucket < lowest, FIRST_INSTANT,
                                  np.maximum(bucket, lowest) * bucket_ns)
    return starts


def cells_of(ts: np.ndarray, part: slice, sid: int, width: int) -> Cells:
    """The non-empty buckets of ``ts[part]``: binary searches when buckets are fewer than points."""
    t = ts[part]
    first, last = int(t[0]) // width, int(t[-1]) // width
    if last - first + 1 <= len(t):
        edges = np.searchsorted(t, np.arange(first + 1, last + 1, dtype=np.int64) * width)
        bounds = np.concatenate(([0], edges, [len(t)]))
        counts = np.diff(bounds)
        used = np.flatnonzero(counts)
        buckets = first + used
        bounds = np.concatenate((bounds[used], [len(t)]))
    else:
        bounds = bucket_bounds(t, width)
        buckets = t[bounds[:-1]] // width
    return Cells(sid, part, buckets.astype(np.int64), bounds.astype(np.int64))


def aggregate(snap: Snapshot, sel: Selection, width: int,
              agg: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per trace: (bucket starts in ns, values) of ``agg`` over ``width``-ns buckets."""
    cells = [cells_of(snap.series_ts[sid], part, sid, width)
             for sid, part in zip(sel.series.tolist(), sel.parts, strict=True)]
    members: list[list[int]] = [[] for _ in sel.names]
    for i, g in enumerate(sel.group.tolist()):
        members[g].append(i)
    out = []
    for chosen in members:
        if not chosen:
            out.append((np.empty(0, np.int64), np.empty(0)))
        elif agg in PERCENTILES:
            out.append(percentiles(snap, [cells[i] for i in chosen], width, PERCENTILES[agg]))
        else:
            out.append(reduce_cells(snap, [cells[i] for i in chosen], width, agg))
    return out


def reduce_cells(snap: Snapshot, cells: list[Cells], width: int,
                 agg: str) -> tuple[np.ndarray, np.ndarray]:
    """count/sum/min/max/mean per bucket over one trace's series: reduceat on each series'
    slice (~0.4 ns a point), then the partial results merged bucket by bucket."""
    buckets, counts, stats = [], [], []
    for c in cells:
        values = snap.series_value[c.sid][c.part]
        starts = c.bounds[:-1]
        buckets.append(c.bucket)
        counts.append(c.counts)
        if agg in ("sum", "mean"):
            stats.append(np.add.reduceat(values, starts))
        elif agg == "min":
            stats.append(np.minimum.reduceat(values, starts))
        elif agg == "max":
            stats.append(np.maximum.reduceat(values, starts))
    bucket = np.concatenate(buckets)
    count = np.concatenate(counts)
    stat = np.concatenate(stats) if stats else count.astype(np.float64)
    if len(cells) > 1:  # several series in one trace: merge equal buckets
        order = np.argsort(bucket, kind="stable")
        bucket, count, stat = bucket[order], count[order], stat[order]
        starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
        bucket, count = bucket[starts], np.add.reduceat(count, starts)
        reducer = {"min": np.minimum, "max": np.maximum}.get(agg, np.add)
        stat = reducer.reduceat(stat, starts)
    if agg == "count":
        y = count.astype(np.float64)
    elif agg == "mean":
        y = stat / count
    else:
        y = stat.astype(np.float64)
    return bucket_starts(bucket, width), y


def _interpolate(low: np.ndarray, high: np.ndarray, frac: np.ndarray) -> np.ndarray:
    out: np.ndarray = low + (high - low) * frac
    return out


def _ranks(counts: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation between closest ranks, as numpy, pandas, DuckDB's quantile_cont."""
    pos = q * (counts - 1)
    low = np.floor(pos).astype(np.int64)
    high = np.minimum(low + 1, counts - 1)
    return low, high, pos - low


def quantile_segments(values: np.ndarray, bounds: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile of each segment ``values[bounds[i]:bounds[i+1]]`` (none empty)."""
    counts = np.diff(bounds)
    low, high, frac = _ranks(counts, q)
    if len(counts) and counts.max() <= 512:  # small segments: sort them all at once
        ordered = sort_segments(values, bounds)
        return _interpolate(ordered[bounds[:-1] + low], ordered[bounds[:-1] + high], frac)
    out = np.empty(len(counts))
    for i, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
        lo, hi = int(low[i]), int(high[i])
        chosen = np.partition(values[a:b], [lo, hi] if hi != lo else lo)
        out[i] = chosen[lo] + (chosen[hi] - chosen[lo]) * frac[i]
    return out


def percentiles(snap: Snapshot, cells: list[Cells], width: int,
                q: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``q`` quantile per bucket over one trace's series.

    One series per trace and a ranked tier's width: whole closed buckets are read
    from the ranked values (two look-ups a bucket); the rest is selected from raw.
    """
    tier = RANKED_TIERS.index(width) if width in RANKED_TIERS else -1
    if len(cells) == 1:
        c = cells[0]
        ts, values = snap.series_ts[c.sid], snap.series_value[c.sid]
        counts = c.counts
        out = np.empty(len(counts))
        todo = np.ones(len(counts), dtype=bool)
        if tier >= 0:
            ranked = snap.series_ranked[c.sid][tier]
            starts = c.part.start + c.bounds[:-1]
            ends = c.part.start + c.bounds[1:]
            ready = ends <= len(ranked)
            # A bucket cut by the window's edge holds only some of its ranked values.
            if c.part.start > 0 and int(ts[c.part.start - 1]) // width == int(c.bucket[0]):
                ready[0] = False
            if c.part.stop < len(ts) and int(ts[c.part.stop]) // width == int(c.bucket[-1]):
                ready[-1] = False
            low, high, frac = _ranks(counts[ready], q)
            base = starts[ready]
            out[ready] = _interpolate(ranked[base + low], ranked[base + high], frac)
            todo = ~ready
        if todo.any():
            idx = np.flatnonzero(todo)
            part_values = values[c.part]
            pieces = [part_values[c.bounds[i]:c.bounds[i + 1]] for i in idx.tolist()]
            if len(idx) == len(counts):
                out[:] = quantile_segments(part_values, c.bounds, q)
            else:
                bounds = np.concatenate(([0], np.cumsum(counts[idx])))
                out[idx] = quantile_segments(np.concatenate(pieces), bounds, q)
        return bucket_starts(c.bucket, width), out
    return _merged_percentiles(snap, cells, width, tier, q)


def _gather(array: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``array[starts[i]:starts[i] + lengths[i]]`` for every i, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return array[:0]
    offsets = np.cumsum(lengths) - lengths
    return array[np.repeat(starts - offsets, lengths) + np.arange(total)]


def _search_runs(ranked: np.ndarray, starts: np.ndarray, lengths: np.ndarray, x: np.ndarray,
                 right: bool) -> np.ndarray:
    """Per run ``ranked[starts[i]:starts[i] + lengths[i]]`` (sorted): how many values are
    below ``x[i]`` (or at most ``x[i]`` when ``right``). One binary search over all runs."""
    lo, hi = starts.copy(), starts + lengths
    last = len(ranked) - 1
    while True:
        active = lo < hi
        if not active.any():
            below: np.ndarray = lo - starts
            return below
        mid = (lo + hi) // 2
        seen = ranked[np.minimum(mid, last)]
        go = active & ((seen <= x) if right else (seen < x))
        lo = np.where(go, mid + 1, lo)
        hi = np.where(active & ~go, mid, hi)


def _select_ranks(values: np.ndarray, cell: np.ndarray, n_cells: int, low: np.ndarray,
                  high: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Per cell ``c`` (ids 0..n_cells-1, each with values), the interpolated ranks."""
    order = np.argsort(cell, kind="stable")
    values = values[order]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(cell, minlength=n_cells))))
    counts = np.diff(bounds)
    if len(counts) and counts.max() <= 512:
        ordered = sort_segments(values, bounds)
        return _interpolate(ordered[bounds[:-1] + low], ordered[bounds[:-1] + high], frac)
    out = np.empty(n_cells)
    for i, (a, b) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
        lo, hi = int(low[i]), int(high[i])
        chosen = np.partition(values[a:b], [lo, hi] if hi != lo else lo)
        out[i] = chosen[lo] + (chosen[hi] - chosen[lo]) * frac[i]
    return out


def _merged_percentiles(snap: Snapshot, cells: list[Cells], width: int, tier: int,
                        q: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``q`` quantile per bucket of a trace made of several series.

    Where every series' share of a bucket is a ranked run, the answer lies between the
    lowest and highest of the runs' own quantiles: binary searches count what lies
    below that bracket, and only the values inside it are sorted (a few hundred of
    72,000 for p95 over 20 similar hosts). Buckets without ranked runs (the open one,
    those cut by the window) are selected from their raw values.
    """
    buckets = np.unique(np.concatenate([c.bucket for c in cells]))
    n = len(buckets)
    total = np.zeros(n, np.int64)
    ready = np.full(n, tier >= 0)
    shares = []
    for c in cells:
        idx = np.searchsorted(buckets, c.bucket)
        counts = c.counts
        starts = c.part.start + c.bounds[:-1]
        total[idx] += counts
        if tier >= 0:
            ts = snap.series_ts[c.sid]
            ok = starts + counts <= len(snap.series_ranked[c.sid][tier])
            if c.part.start > 0 and int(ts[c.part.start - 1]) // width == int(c.bucket[0]):
                ok[0] = False
            if c.part.stop < len(ts) and int(ts[c.part.stop]) // width == int(c.bucket[-1]):
                ok[-1] = False
            ready[idx[~ok]] = False
        shares.append((c.sid, idx, starts, counts))
    low, high, frac = _ranks(total, q)
    out = np.empty(n)
    done = np.zeros(n, dtype=bool)
    if ready.any():
        lo_value, hi_value = np.full(n, np.inf), np.full(n, -np.inf)
        for sid, idx, starts, counts in shares:
            ranked = snap.series_ranked[sid][tier]
            use = ready[idx]
            first = starts[use]
            i_low = np.floor(q * (counts[use] - 1)).astype(np.int64)
            i_high = np.minimum(counts[use] - 1, i_low + 2)
            cell = idx[use]
            lo_value[cell] = np.minimum(lo_value[cell], ranked[first + i_low])
            hi_value[cell] = np.maximum(hi_value[cell], ranked[first + i_high])
        below, upto = np.zeros(n, np.int64), np.zeros(n, np.int64)
        found = []
        for sid, idx, starts, counts in shares:
            ranked = snap.series_ranked[sid][tier]
            use = ready[idx]
            cell = idx[use]
            b = _search_runs(ranked, starts[use], counts[use], lo_value[cell], right=False)
            u = _search_runs(ranked, starts[use], counts[use], hi_value[cell], right=True)
            below[cell] += b
            upto[cell] += u
            found.append((ranked, cell, starts[use] + b, u - b))
        done = ready & (below <= low) & (upto >= high + 1)
        picked = [(_gather(ranked, first[done[cell]], length[done[cell]]),
                   np.repeat(cell[done[cell]], length[done[cell]]))
                  for ranked, cell, first, length in found]
        chosen = np.flatnonzero(done)
        remap = np.full(n, -1, np.int64)
        remap[chosen] = np.arange(len(chosen))
        if len(chosen):
            out[chosen] = _select_ranks(np.concatenate([v for v, _ in picked]),
                                        remap[np.concatenate([c for _, c in picked])],
                                        len(chosen), low[chosen] - below[chosen],
                                        high[chosen] - below[chosen], frac[chosen])
    rest = np.flatnonzero(~done)
    if len(rest):
        remap = np.full(n, -1, np.int64)
        remap[rest] = np.arange(len(rest))
        values, cell_ids = [], []
        for sid, idx, starts, counts in shares:
            use = ~done[idx]
            values.append(_gather(snap.series_value[sid], starts[use], counts[use]))
            cell_ids.append(np.repeat(remap[idx[use]], counts[use]))
        out[rest] = _select_ranks(np.concatenate(values), np.concatenate(cell_ids), len(rest),
                                  low[rest], high[rest], frac[rest])
    return bucket_starts(buckets, width), out


def _trace_points(snap: Snapshot, sel: Selection,
                  chosen: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """One trace's raw points in time order: a slice of its series, or series merged."""
    if len(chosen) == 1:
        sid, part = int(sel.series[chosen[0]]), sel.parts[chosen[0]]
        return snap.series_ts[sid][part], snap.series_value[sid][part]
    if not chosen:
        return np.empty(0, np.int64), np.empty(0)
    merged = snap.merged(sel.series[chosen], [sel.parts[i] for i in chosen])
    return merged.ts, merged.value


def _members(sel: Selection) -> list[list[int]]:
    members: list[list[int]] = [[] for _ in sel.names]
    for i, g in enumerate(sel.group.tolist()):
        members[g].append(i)
    return members


def _raw_fits(snap: Snapshot, sel: Selection, max_points: int) -> bool:
    """True when every trace has at most ``max_points`` points and one point per instant."""
    counts = np.bincount(sel.group, weights=sel.counts, minlength=len(sel.names))
    if len(counts) and counts.max() > max_points:
        return False
    for chosen in _members(sel):
        ts, _ = _trace_points(snap, sel, chosen)
        if len(ts) > 1 and bool(np.any(ts[1:] == ts[:-1])):
            return False
    return True


def run(snap: Snapshot, view: View, auto_max_points: int = 5000,
        raw_max_points: int = 50000, sel: Selection | None = None) -> Result:
    """Compute the traces of ``view`` over ``snap`` (from ``sel`` if already selected)."""
    if sel is None:
        sel = select(snap, view)
    agg = view.agg
    if agg == "auto":
        agg = "raw" if _raw_fits(snap, sel, auto_max_points) else "mean"
    bucket_ns = None
    if agg == "raw":
        traces = [Trace(name, *_trace_points(snap, sel, chosen))
                  for name, chosen in zip(sel.names, _members(sel), strict=True)]
    else:
        firsts = [int(snap.series_ts[s][p.start]) for s, p in zip(sel.series.tolist(),
                                                                   sel.parts, strict=True)]
        lasts = [int(snap.series_ts[s][p.stop - 1]) for s, p in zip(sel.series.tolist(),
                                                                     sel.parts, strict=True)]
        bucket_ns = view.bucket_ns or choose_bucket(min(firsts, default=0),
                                                          max(lasts, default=0),
                                                          auto_max_points)
        traces = [Trace(name, x, y) for name, (x, y) in
                  zip(sel.names, aggregate(snap, sel, bucket_ns, agg), strict=True)]
    truncated = any(len(t.x) > raw_max_points for t in traces)
    if truncated:
        traces = [Trace(t.name, t.x[-raw_max_points:], t.y[-raw_max_points:]) for t in traces]
    return Result(tuple(traces), agg, bucket_ns, truncated)


@dataclass(frozen=True)
class Limits:
    """Points per trace: ``auto`` draws raw points up to ``auto_max_points``, ``raw`` keeps
    the newest ``raw_max_points`` (``DASH_AUTO_MAX_POINTS``, ``DASH_RAW_MAX_POINTS``)."""

    auto_max_points: int = 5000
    raw_max_points: int = 50000


def analyse(snap: Snapshot, view: View, limits: Limits) -> tuple[Selection, Result]:
    """The view's selected series and its traces, for pages and exports."""
    sel = select(snap, view)
    return sel, run(snap, view, limits.auto_max_points, limits.raw_max_points, sel)
