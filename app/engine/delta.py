"""Live charts kept up to date by parts: an aggregated view redrawn from its last drawing by
recomputing only the buckets a change touched, and the ``extend_chart`` delta between two
figures of a view (new points appended, trailing points replaced, old ones dropped)."""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from ..data.series import search_runs
from ..data.store import Snapshot
from .cells import (
    bucket_range,
    cells_of,
    few_points_per_cell,
    point_cells,
    reduce_runs,
    trace_cells,
)
from .charts import figure
from .compute import Result, Selection, Trace, aggregate, bucket_starts
from .drawing import ChartLimits, Drawing, auto_bucket, draw, max_series, spacing
from .percentiles import PERCENTILES
from .serieskeys import SeriesKeys, key_labels, select_series
from .view import View

# Trace keys that are the points themselves; every other key must be equal for a delta.
POINTS = ("x", "y")
# A redraw recomputes at most this share of the view's points; past it, drawing the view
# whole costs hardly more (a late point far back, a window moved by half its span).
REDRAW_SHARE = 0.5


def _runs(snap: Snapshot, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, count) of each id in ``series`` in ``snap``'s columns; (0, 0) for ids it
    does not know yet."""
    known = series < len(snap.series_start)
    start = np.zeros(len(series), np.int64)
    count = np.zeros(len(series), np.int64)
    start[known] = snap.series_start[series[known]]
    count[known] = snap.series_count[series[known]]
    return start, count


def changes(before: Snapshot, snap: Snapshot,
            series: np.ndarray) -> tuple[int | None, int | None]:
    """What changed in the points of ``series`` (ids) from ``before`` to ``snap``: the
    newest instant (ns) of the points that left at the start (retention), and the
    earliest instant from which points may differ (appends, late points); None for none.

    Every point strictly between the two is in both, so every bucket strictly between
    them is unchanged. The store only ever writes past what a snapshot holds (past a
    series' count inside its room, or into room never handed out; late points, growth
    and retention move a series elsewhere or copy every series into new columns): a
    series still at the same place of the same columns kept its first points, and
    only its new points are read. Series that moved are compared point by point.
    """
    old_start, old_count = _runs(before, series)
    new_start, new_count = _runs(snap, series)
    same_columns = snap.ts is before.ts and snap.value is before.value
    kept = (new_start == old_start) & (new_count >= old_count) if same_columns else \
        np.zeros(len(series), dtype=bool)
    grew = kept & (new_count > old_count)
    earliest: int | None = (int(snap.ts[(new_start + old_count)[grew]].min())
                            if grew.any() else None)
    dropped: int | None = None
    for i in np.flatnonzero(~kept).tolist():
        a, b = int(old_start[i]), int(new_start[i])
        old_t, old_v = before.ts[a:a + int(old_count[i])], before.value[a:a + int(old_count[i])]
        new_t, new_v = snap.ts[b:b + int(new_count[i])], snap.value[b:b + int(new_count[i])]
        # Retention took the points before the new first one (and perhaps some at its
        # instant, which then differ below and are recomputed).
        left = int(np.searchsorted(old_t, new_t[0], "left")) if len(new_t) else len(old_t)
        n = min(len(old_t) - left, len(new_t))
        a_t, a_v, b_t, b_v = old_t[left:left + n], old_v[left:left + n], new_t[:n], new_v[:n]
        same = (a_t == b_t) & ((a_v == b_v) | (np.isnan(a_v) & np.isnan(b_v)))
        first = int(np.argmin(same)) if not same.all() else n
        if left:
            last = int(old_t[left - 1])
            dropped = last if dropped is None else max(dropped, last)
        instants = [int(t[j]) for t, j in ((old_t, left + first), (new_t, first)) if j < len(t)]
        if instants:
            earliest = min(instants) if earliest is None else min(earliest, *instants)
    return dropped, earliest


def _span(snap: Snapshot, sel: Selection) -> tuple[int, int]:
    """The first and last instant (ns) of the selection: what ``auto_bucket`` spans."""
    if len(sel.start) == 0:
        return 0, 0
    return int(snap.ts[sel.start].min()), int(snap.ts[sel.stop - 1].max())


def narrowed(snap: Snapshot, sel: Selection, lo: int | None, hi: int | None) -> Selection:
    """``sel`` cut to the instants ``lo``..``hi`` (ns, both included; None is open): the
    same traces, only the series with points there."""
    start, stop = sel.start, sel.stop
    if lo is not None:
        start = sel.start + search_runs(snap.ts, sel.start, sel.counts, lo)
    if hi is not None:
        stop = sel.start + search_runs(snap.ts, sel.start, sel.counts, hi, right=True)
    keep = stop > start
    return Selection(sel.series[keep], start[keep], stop[keep], sel.group[keep], sel.names)


def _same_traces(a: Selection, b: Selection) -> bool:
    return (np.array_equal(a.series, b.series) and np.array_equal(a.group, b.group)
            and a.names == b.names)


def _one_each(sel: Selection) -> bool:
    """Every trace one series (``trace_cells`` then merges nothing)."""
    return len(sel.group) == 0 or int(np.bincount(sel.group).max()) <= 1


def aggregate_as(snap: Snapshot, sel: Selection, width: int, agg: str, by_point: bool,
                 one_each: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """``compute.aggregate`` of a part of a view, summed in the order the whole view's
    ``aggregate_rows`` sums it: point by point when ``by_point`` (what
    ``few_points_per_cell`` says of the whole view), else series cell by series cell,
    merged per trace unless the whole view has ``one_each`` series a trace. Per trace:
    (bucket starts in ns, values).

    A sum's last bit depends on its order ((a+b)+(c+d) is not ((a+b)+c)+d), and a part
    (a new bucket, 1-3 points a series cell) would often go the other way than the whole
    view (6 a cell in tests/test_delta.py's fleet): this keeps the redrawn buckets equal
    to the bit. Percentiles are exact
    order statistics whichever way they are found: ``aggregate`` as it is.
    """
    if agg in PERCENTILES:
        return aggregate(snap, sel, width, agg)
    if by_point:
        at, merged = point_cells(snap, sel, width)
        y = merged.count.astype(np.float64) if agg == "count" else \
            merged.combine(snap.value[at], agg)
    else:
        cells = cells_of(snap, sel, width)
        merged = trace_cells(sel, sel.group[cells.member], cells.bucket, cells.counts,
                             bucket_range(snap, sel, width))
        if agg == "count":
            y = merged.count.astype(np.float64)
        else:
            ufunc = {"min": np.minimum, "max": np.maximum}.get(agg, np.add)
            y = merged.combine(reduce_runs(snap.value, cells.start, cells.stop, ufunc), agg)
            if merged.one_each and not one_each and agg in ("sum", "mean"):
                y = y + 0.0  # the whole view's bincount starts each sum at 0.0: -0.0 -> 0.0
    if agg == "mean":
        y = y / merged.count
    x = bucket_starts(merged.bucket, width)
    bounds = np.searchsorted(merged.group, np.arange(len(sel.names) + 1)).tolist()
    return [(x[a:b], y[a:b]) for a, b in pairwise(bounds)]


def redraw(before: Snapshot, drawing: Drawing, snap: Snapshot, view: View,
           limits: ChartLimits, labels: tuple[str, ...]) -> Drawing | None:
    """The drawing of ``view`` over ``snap``, made from ``drawing`` (the same view over
    ``before``, an older version of the same epoch) by recomputing only the buckets the
    change touched: from the bucket of the earliest changed point on, and the bucket a
    moving window's start now falls in. Equal to ``draw(snap, view, ...)`` to the bit, or
    None when it cannot be made so cheaply: other columns (the store copied every series:
    growth, retention), raw points, new or vanished traces, another auto bucket, another
    summing order, a change reaching back to the window's start, or more than
    ``REDRAW_SHARE`` of the view's points to recompute.
    """
    result = drawing.result
    width = result.bucket_ns
    if (snap.epoch != before.epoch or snap.version < before.version or width is None
            or result.agg == "raw" or result.truncated or view.agg == "raw"
            or (view.agg == "auto") != (drawing.bands is not None)):
        return None
    if snap.ts is not before.ts or snap.value is not before.value:
        # Finding what changed would compare every point (2M: 7-20 ms), where drawing the
        # whole view costs 3-4 ms (a whole-history p95 per host); once per compaction.
        return None
    sel, too_many = select_series(snap, view, labels, max_series(limits))
    if not _same_traces(sel, drawing.sel) or too_many != drawing.too_many:
        return None  # a new host, a series that left the window, another split
    if view.agg == "auto":  # auto aggregates only while some trace has too many points
        counts = np.bincount(sel.group, weights=sel.counts, minlength=len(sel.names))
        if len(counts) == 0 or counts.max() <= limits.auto_max_points:
            return None
    chosen = view.bucket_ns or auto_bucket(*_span(snap, sel), limits.auto_max_points,
                                           spacing(snap, sel))
    if chosen != width:
        return None  # a growing span or new spacing changed the auto bucket
    by_point = few_points_per_cell(snap, sel, width, result.agg)
    if result.agg not in PERCENTILES and \
            by_point != few_points_per_cell(before, drawing.sel, width, result.agg):
        return None  # the kept buckets were summed in another order than a whole draw's
    old_lo, _ = view.time_range(before.end)
    lo, hi = view.time_range(snap.end)
    dropped, since = changes(before, snap, sel.series)
    # Old buckets starting in [keep_from, keep_to) are kept as they were; the bucket a
    # moving window now starts in, or the last one retention took points from, and every
    # bucket from the earliest changed point on are recomputed.
    edges = []
    if lo is not None and lo != old_lo:
        if old_lo is None or lo < old_lo:
            return None
        edges.append(lo)
    if dropped is not None:
        edges.append(dropped)
    keep_from = max(edges) // width * width + width if edges else None
    keep_to = None if since is None else since // width * width
    if keep_from is not None and keep_to is not None and keep_from >= keep_to:
        return None  # everything changed: draw it whole
    pieces = []
    if keep_from is not None:
        pieces.append(narrowed(snap, sel, lo, keep_from - 1))
    if keep_to is not None:
        pieces.append(narrowed(snap, sel, keep_to, hi))
    if sum(int(p.counts.sum()) for p in pieces) > REDRAW_SHARE * int(sel.counts.sum()):
        return None  # a late point far back: drawing it whole costs hardly more
    one_each = _one_each(sel)
    aggs = [result.agg] + (["min", "max"] if drawing.bands is not None else [])
    fresh = [[aggregate_as(snap, piece, width, agg,
                           few_points_per_cell(snap, sel, width, agg), one_each)
              for agg in aggs] for piece in pieces]
    left = fresh[0] if keep_from is not None else None
    right = fresh[-1] if keep_to is not None else None
    traces, bands = [], []
    for j, trace in enumerate(result.traces):
        kept = np.ones(len(trace.x), dtype=bool)
        if keep_from is not None:
            kept &= trace.x >= keep_from
        if keep_to is not None:
            kept &= trace.x < keep_to
        old = [trace.y, *(drawing.bands[j] if drawing.bands is not None else ())]
        # In time order: the left edge's bucket, the kept buckets, the touched ones.
        parts = [(trace.x[kept], [values[kept] for values in old])]
        if left is not None:
            parts.insert(0, (left[0][j][0], [per_agg[j][1] for per_agg in left]))
        if right is not None:
            parts.append((right[0][j][0], [per_agg[j][1] for per_agg in right]))
        x = np.concatenate([part[0] for part in parts])
        ys = [np.concatenate([part[1][k] for part in parts]) for k in range(len(old))]
        if len(x) > limits.raw_max_points:
            return None  # the full drawing would keep only the newest: draw it whole
        traces.append(Trace(trace.name, x, ys[0]))
        if drawing.bands is not None:
            bands.append((ys[1], ys[2]))
    return Drawing(sel, Result(tuple(traces), result.agg, width, False),
                   tuple(bands) if drawing.bands is not None else None, too_many)


@dataclass(frozen=True)
class LiveCharts:
    """Figures of views under ``limits``: drawn whole, or redrawn from the last drawing."""

    limits: ChartLimits = field(default_factory=ChartLimits)
    keys: SeriesKeys | None = None

    def labels(self, snap: Snapshot) -> tuple[str, ...] | None:
        """The key labels of ``snap``'s series (cached per dataset when ``keys`` is set)."""
        return self.keys.labels(snap) if self.keys else None

    def draw(self, snap: Snapshot, view: View) -> Drawing:
        """The view's drawing over ``snap``, computed whole."""
        return draw(snap, view, self.limits, self.labels(snap))

    def redraw(self, before: Snapshot, drawing: Drawing, snap: Snapshot,
               view: View) -> Drawing | None:
        """``redraw``: the drawing over ``snap`` from ``drawing`` over ``before``, or None."""
        labels = self.labels(snap)
        return redraw(before, drawing, snap, view, self.limits,
                      key_labels(snap) if labels is None else labels)

    def figure(self, snap: Snapshot, view: View, drawing: Drawing) -> dict[str, Any]:
        """The Plotly figure dict of ``drawing`` (``charts.figure`` under ``limits``)."""
        return figure(snap, view, drawing, self.limits.auto_max_points)


def extension(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The ``extend_chart`` change that turns figure ``old`` into ``new``, or None.

    Per trace (all of them, in order): ``replace`` trailing points of the old trace are
    removed (the key is there only when some trace replaces any), the points of
    ``x``/``y`` appended, and the newest ``max_points`` kept (which drops what left a
    moving window at the start); then, only when some trace needs it,
    ``head`` gives new y values of its first points (a moving window's first bucket,
    partly past the window's start, changes as the window moves). With every ``replace``
    0 and no ``head`` this is exactly ``Plotly.extendTraces(el, {x, y}, traces,
    max_points)``. None when the figures differ elsewhere (layout, trace settings,
    notice), when a trace was thinned for the screen (its kept points move), or when the
    change is as big as the figure.
    """
    if old["layout"] != new["layout"] or len(old["data"]) != len(new["data"]) or \
            old.get("notice") != new.get("notice"):
        return None
    xs, ys, keep, replace, heads = [], [], [], [], []
    for before, after in zip(old["data"], new["data"], strict=True):
        if {k: v for k, v in before.items() if k not in POINTS} != \
                {k: v for k, v in after.items() if k not in POINTS}:
            return None
        if before.get("meta") == "thinned":
            return None
        old_x, new_x = np.asarray(before["x"]), np.asarray(after["x"])
        old_y, new_y = np.asarray(before["y"]), np.asarray(after["y"])
        if len(new_x) == 0 and len(old_x):
            return None  # keeping the newest 0 points means "all" to extendTraces
        # Where the new trace begins in the old one; what follows must match up to where
        # the old trace's points were replaced.
        found = (np.flatnonzero(old_x == new_x[0]) if len(new_x) and len(old_x)
                 else np.empty(0, np.int64))
        begin = int(found[0]) if len(found) else len(old_x)
        n = min(len(old_x) - begin, len(new_x))
        # 0.0 == -0.0, but a min or max that changed sign must reach the client as drawn
        same = (old_x[begin:begin + n] == new_x[:n]) & (
            (old_y[begin:begin + n] == new_y[:n])
            | (np.isnan(old_y[begin:begin + n]) & np.isnan(new_y[:n]))) & (
            np.signbit(old_y[begin:begin + n]) == np.signbit(new_y[:n]))
        head = new_y[:0]
        if n > 1 and not same[0] and same[1]:  # only the first point's value changed
            head, same[0] = new_y[:1], True
        common = int(np.argmin(same)) if not same.all() else n
        xs.append(new_x[common:])
        ys.append(new_y[common:])
        keep.append(len(new_x))
        replace.append(len(old_x) - begin - common)
        heads.append(head)
    if sum(len(x) + len(h) for x, h in zip(xs, heads, strict=True)) >= max(1, sum(keep)):
        return None  # no smaller than the whole figure
    change: dict[str, Any] = {"traces": list(range(len(xs))), "x": xs, "y": ys,
                              "max_points": keep}
    if any(replace):  # only what Plotly.extendTraces needs when nothing is replaced
        change["replace"] = replace
    if any(len(h) for h in heads):
        change["head"] = heads
    if "summary" in new:  # the text alternative names the last values: keep it true
        change["summary"] = new["summary"]
    return change


def extended(figure: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``figure`` with ``change`` applied as the browser applies it (tests and tools): per
    trace, drop ``replace`` trailing points, append ``x``/``y``, keep the newest
    ``max_points``, then set its first y values to ``head``'s."""
    data = [dict(t) for t in figure["data"]]
    replace = change.get("replace") or [0] * len(change["traces"])
    heads = change.get("head") or [[]] * len(change["traces"])
    for index, x, y, keep, cut, head in zip(change["traces"], change["x"], change["y"],
                                            change["max_points"], replace, heads,
                                            strict=True):
        trace = data[index]
        for key, added in (("x", x), ("y", y)):
            points = list(trace[key])
            points = points[:len(points) - cut] + list(added)
            trace[key] = points[max(0, len(points) - keep):]
        trace["y"][:len(head)] = list(head)
    return {**figure, "data": data, **({"summary": change["summary"]}
                                       if "summary" in change else {})}
