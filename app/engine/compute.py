"""View x snapshot -> traces: slice by time, filter label codes, split, aggregate."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """The rows of a snapshot that a view selects, and the trace each belongs to."""

    rows: np.ndarray  # indices into the snapshot, in time order
    group: np.ndarray  # trace number per selected row
    names: tuple[str, ...]  # trace names by number


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
    """``column`` is one of ``codes``: comparisons for a few codes (np.isin is ~100x slower)."""
    if len(codes) == 0:
        return np.zeros(len(column), dtype=bool)
    if len(codes) > 8:
        mask: np.ndarray = np.isin(column, codes, kind="table")
        return mask
    mask = column == codes[0]
    for code in codes[1:]:
        mask |= column == code
    return mask


def time_slice(snap: Snapshot, view: View) -> slice:
    """The rows inside the view's time range, found by binary search on the sorted times."""
    n = len(snap)
    lo, hi = view.time_range(int(snap.ts[-1]) if n else None)
    i0 = int(np.searchsorted(snap.ts, lo, "left")) if lo is not None else 0
    i1 = int(np.searchsorted(snap.ts, hi, "right")) if hi is not None else n
    return slice(i0, max(i0, i1))


def label_mask(snap: Snapshot, part: slice, label: str, values: tuple[str, ...]) -> np.ndarray:
    """Rows of ``part`` whose ``label`` is one of ``values``; none if the label is gone
    (the file lost that column since the view was made)."""
    if label not in snap.labels:
        return np.zeros(part.stop - part.start, dtype=bool)
    return member(snap.labels[label][part], codes_of(snap.label_values[label], values))


def select(snap: Snapshot, view: View) -> Selection:
    """Rows of ``view`` in ``snap``: a searchsorted time slice, then code filters on it only."""
    part = time_slice(snap, view)
    i0 = part.start
    metric_codes = codes_of(snap.metrics, view.metrics)
    mask = member(snap.metric[part], metric_codes)
    for label, values in view.filters:
        mask &= label_mask(snap, part, label, values)
    rows = i0 + np.flatnonzero(mask)
    # Trace number = metric position x split value, numbered in a stable order.
    metric_pos = np.full(len(snap.metrics), -1, dtype=np.int64)
    metric_pos[metric_codes] = np.arange(len(metric_codes))
    positions = metric_pos[snap.metric[rows]]
    metric_names = [snap.metrics[c] for c in metric_codes]
    if view.by is None or view.by not in snap.labels:
        return Selection(rows, positions, tuple(metric_names))
    split_codes = snap.labels[view.by][rows].astype(np.int64)
    present, split_index = np.unique(split_codes, return_inverse=True)
    split_names = [snap.label_values[view.by][c] if c >= 0 else "(none)" for c in present]
    group = positions * len(present) + split_index
    names = [f"{m} · {s}" if len(metric_names) > 1 else s
             for m in metric_names for s in split_names]
    return Selection(rows, group, tuple(names))


def choose_bucket(first_ns: int, last_ns: int, max_points: int) -> int:
    """The finest bucket that brings ``first_ns``..``last_ns`` under ``max_points`` buckets."""
    for bucket in AUTO_BUCKETS:
        if last_ns // bucket - first_ns // bucket + 1 <= max_points:
            return bucket
    return AUTO_BUCKETS[-1]


def _segments(keys: list[np.ndarray]) -> np.ndarray:
    """Start index of each run of equal keys (arrays already sorted together)."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    change[0:1] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


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


def aggregate(ts: np.ndarray, values: np.ndarray, group: np.ndarray, bucket_ns: int,
              agg: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate points per (group, bucket): returns (group, bucket start ns, value)."""
    if len(ts) == 0:
        return group[:0], ts[:0], values[:0].astype(np.float64)
    bucket = ts // bucket_ns
    if agg not in PERCENTILES:
        dense = _aggregate_dense(bucket, values, group, agg)
        if dense is not None:
            g, b, out = dense
            return g, bucket_starts(b, bucket_ns), out
    if agg in PERCENTILES:
        order = np.lexsort((values, bucket, group))
        g, b, v = group[order], bucket[order], values[order]
    elif len(group) and group.min() == group.max():
        g, b, v = group, bucket, values  # one trace: already in time order
    else:
        order = np.argsort(group, kind="stable")  # ts is sorted, so buckets stay sorted
        g, b, v = group[order], bucket[order], values[order]
    starts = _segments([g, b])
    counts = np.diff(np.append(starts, len(v)))
    if agg == "count":
        out = counts.astype(np.float64)
    elif agg == "sum":
        out = np.add.reduceat(v, starts)
    elif agg == "min":
        out = np.minimum.reduceat(v, starts)
    elif agg == "max":
        out = np.maximum.reduceat(v, starts)
    elif agg in PERCENTILES:
        # Linear interpolation between closest ranks, as numpy and pandas do by default.
        pos = PERCENTILES[agg] * (counts - 1)
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, counts - 1)
        frac = pos - low
        out = v[starts + low] + (v[starts + high] - v[starts + low]) * frac
    else:  # mean
        out = np.add.reduceat(v, starts) / counts
    return g[starts], bucket_starts(b[starts], bucket_ns), out


def _aggregate_dense(bucket: np.ndarray, values: np.ndarray, group: np.ndarray,
                     agg: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One O(n) pass with bincount over (group, bucket) cells, when there are few cells."""
    first = int(bucket.min())
    width = int(bucket.max()) - first + 1
    groups = int(group.max()) + 1
    if groups * width > max(4 * len(values), 1 << 16):
        return None  # too sparse: the sorting path uses less memory
    key = group * width + (bucket - first)
    cells = groups * width
    counts = np.bincount(key, minlength=cells)
    out: np.ndarray
    if agg == "count":
        out = counts.astype(np.float64)
    elif agg in ("sum", "mean"):
        out = np.bincount(key, weights=values, minlength=cells)
        if agg == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                out = out / counts
    else:
        out = np.full(cells, np.inf if agg == "min" else -np.inf)
        (np.minimum if agg == "min" else np.maximum).at(out, key, values)
    used = np.flatnonzero(counts)
    return used // width, used % width + first, out[used]


def _split(group: np.ndarray, x: np.ndarray, y: np.ndarray,
           names: tuple[str, ...]) -> list[Trace]:
    order = np.argsort(group, kind="stable")
    g, x, y = group[order], x[order], y[order]
    bounds = np.searchsorted(g, np.arange(len(names) + 1))
    return [Trace(name, x[bounds[i]:bounds[i + 1]], y[bounds[i]:bounds[i + 1]])
            for i, name in enumerate(names)]


def _raw_fits(ts: np.ndarray, group: np.ndarray, n_traces: int, max_points: int) -> bool:
    """True when every trace has at most ``max_points`` points and one point per instant."""
    if n_traces == 0 or len(ts) == 0:
        return True
    if np.bincount(group, minlength=n_traces).max() > max_points:
        return False
    order = np.lexsort((ts, group))
    g, t = group[order], ts[order]
    return not bool(np.any((g[1:] == g[:-1]) & (t[1:] == t[:-1])))


def run(snap: Snapshot, view: View, auto_max_points: int = 5000,
        raw_max_points: int = 50000, sel: Selection | None = None) -> Result:
    """Compute the traces of ``view`` over ``snap`` (from ``sel`` if already selected)."""
    if sel is None:
        sel = select(snap, view)
    ts, values = snap.ts[sel.rows], snap.value[sel.rows]
    agg = view.agg
    if agg == "auto":
        agg = "raw" if _raw_fits(ts, sel.group, len(sel.names), auto_max_points) else "mean"
    bucket_ns = None
    if agg == "raw":
        x, y, group = ts, values, sel.group
    else:
        bucket_ns = view.bucket_ns or choose_bucket(
            int(ts[0]) if len(ts) else 0, int(ts[-1]) if len(ts) else 0, auto_max_points)
        group, x, y = aggregate(ts, values, sel.group, bucket_ns, agg)
    traces = _split(group, x, y, sel.names)
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
    """The view's selected rows and its traces, for pages and exports."""
    sel = select(snap, view)
    return sel, run(snap, view, limits.auto_max_points, limits.raw_max_points, sel)
