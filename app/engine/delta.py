"""Live charts kept up to date by parts: an aggregated view redrawn from its last drawing by
recomputing only the buckets a change touched, and the ``extend_chart`` delta between two
figures of a view (new points appended, trailing points replaced, old ones dropped)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.store import Snapshot
from .charts import figure
from .compute import Result, Selection, Trace, aggregate
from .drawing import ChartLimits, Drawing, auto_bucket, draw, max_series, spacing
from .serieskeys import SeriesKeys, key_labels, select_series
from .view import View

# Trace keys that are the points themselves; every other key must be equal for a delta.
POINTS = ("x", "y")


def _starts_alike(old: np.ndarray, new: np.ndarray) -> bool:
    """True when ``new`` begins at ``old``'s first element in memory: the store only ever
    writes past the end of what a snapshot holds (``SeriesPoints``), and ``old`` keeps its
    buffer alive, so ``new[:len(old)]`` is ``old`` without comparing a value."""
    return len(new) >= len(old) and old.ctypes.data == new.ctypes.data


def changes(before: Snapshot, snap: Snapshot,
            series: np.ndarray) -> tuple[int | None, int | None]:
    """What changed in the points of ``series`` (ids) from ``before`` to ``snap``: the
    newest instant (ns) of the points that left at the start (retention), and the
    earliest instant from which points may differ (appends, late points); None for none.

    Every point strictly between the two is in both, so every bucket strictly between
    them is unchanged. Appends in time order cost nothing to find (the buffers are
    shared); buffers the store copied (growth, late points, retention) are compared
    element by element, past the points that left.
    """
    dropped: int | None = None
    earliest: int | None = None
    for sid in series.tolist():
        new_t, new_v = snap.series_ts[sid], snap.series_value[sid]
        if sid >= len(before.series_ts):
            old_t, old_v = new_t[:0], new_v[:0]
        else:
            old_t, old_v = before.series_ts[sid], before.series_value[sid]
        if _starts_alike(old_t, new_t) and _starts_alike(old_v, new_v):
            left, first = 0, len(old_t)
        else:
            left = int(np.searchsorted(old_t, new_t[0], "left")) if len(new_t) else len(old_t)
            n = min(len(old_t) - left, len(new_t))
            a_t, a_v, b_t, b_v = old_t[left:left + n], old_v[left:left + n], new_t[:n], new_v[:n]
            same = (a_t == b_t) & ((a_v == b_v) | (np.isnan(a_v) & np.isnan(b_v)))
            first = int(np.argmin(same)) if not same.all() else n
            if left:
                last = int(old_t[left - 1])
                dropped = last if dropped is None else max(dropped, last)
        instants = [int(t[i]) for t, i in ((old_t, left + first), (new_t, first)) if i < len(t)]
        if instants:
            earliest = min(instants) if earliest is None else min(earliest, *instants)
    return dropped, earliest


def _span(snap: Snapshot, sel: Selection) -> tuple[int, int]:
    """The first and last instant (ns) of the selection: what ``auto_bucket`` spans."""
    pairs = [(int(snap.series_ts[s][p.start]), int(snap.series_ts[s][p.stop - 1]))
             for s, p in zip(sel.series.tolist(), sel.parts, strict=True)]
    return min((a for a, _ in pairs), default=0), max((b for _, b in pairs), default=0)


def narrowed(snap: Snapshot, sel: Selection, lo: int | None, hi: int | None) -> Selection:
    """``sel`` cut to the instants ``lo``..``hi`` (ns, both included; None is open): the
    same traces, only the series with points there."""
    keep, parts = [], []
    for i, (sid, part) in enumerate(zip(sel.series.tolist(), sel.parts, strict=True)):
        ts = snap.series_ts[sid]
        a = part.start if lo is None else max(part.start, int(np.searchsorted(ts, lo, "left")))
        b = part.stop if hi is None else min(part.stop, int(np.searchsorted(ts, hi, "right")))
        if b > a:
            keep.append(i)
            parts.append(slice(a, b))
    index = np.array(keep, dtype=np.int64)
    return Selection(sel.series[index], tuple(parts), sel.group[index], sel.names)


def _same_traces(a: Selection, b: Selection) -> bool:
    return (np.array_equal(a.series, b.series) and np.array_equal(a.group, b.group)
            and a.names == b.names)


def redraw(before: Snapshot, drawing: Drawing, snap: Snapshot, view: View,
           limits: ChartLimits, labels: tuple[str, ...]) -> Drawing | None:
    """The drawing of ``view`` over ``snap``, made from ``drawing`` (the same view over
    ``before``, an older version of the same epoch) by recomputing only the buckets the
    change touched: from the bucket of the earliest changed point on, and the bucket a
    moving window's start now falls in. Equal to ``draw(snap, view, ...)``, or None when it
    cannot be made so cheaply: raw points, new or vanished traces, another auto bucket, a
    change reaching back to the window's start, or half the view's points to recompute.
    """
    result = drawing.result
    width = result.bucket_ns
    if (snap.epoch != before.epoch or snap.version < before.version or width is None
            or result.agg == "raw" or result.truncated or view.agg == "raw"
            or (view.agg == "auto") != (drawing.bands is not None)):
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
    if 2 * sum(int(p.counts.sum()) for p in pieces) > int(sel.counts.sum()):
        return None  # a late point far back: drawing it whole costs hardly more
    aggs = [result.agg] + (["min", "max"] if drawing.bands is not None else [])
    fresh = [[aggregate(snap, piece, width, agg) for agg in aggs] for piece in pieces]
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
    removed, the points of ``x``/``y`` appended, and the newest ``max_points`` kept (which
    drops what left a moving window at the start). With every ``replace`` 0 this is
    exactly ``Plotly.extendTraces(el, {x, y}, traces, max_points)``. None when the figures
    differ elsewhere (layout, trace settings, notice), when a trace was thinned for the
    screen (its kept points move), or when the change is as big as the figure.
    """
    if old["layout"] != new["layout"] or len(old["data"]) != len(new["data"]) or \
            old.get("notice") != new.get("notice"):
        return None
    xs, ys, keep, replace = [], [], [], []
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
        same = (old_x[begin:begin + n] == new_x[:n]) & (
            (old_y[begin:begin + n] == new_y[:n])
            | (np.isnan(old_y[begin:begin + n]) & np.isnan(new_y[:n])))
        common = int(np.argmin(same)) if not same.all() else n
        xs.append(new_x[common:])
        ys.append(new_y[common:])
        keep.append(len(new_x))
        replace.append(len(old_x) - begin - common)
    if sum(len(x) for x in xs) >= max(1, sum(keep)):
        return None  # no smaller than the whole figure
    change: dict[str, Any] = {"traces": list(range(len(xs))), "x": xs, "y": ys,
                              "max_points": keep, "replace": replace}
    if "summary" in new:  # the text alternative names the last values: keep it true
        change["summary"] = new["summary"]
    return change


def extended(figure: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """``figure`` with ``change`` applied as the browser applies it (tests and tools): per
    trace, drop ``replace`` trailing points, append ``x``/``y``, keep the newest
    ``max_points``."""
    data = [dict(t) for t in figure["data"]]
    replace = change.get("replace") or [0] * len(change["traces"])
    for index, x, y, keep, cut in zip(change["traces"], change["x"], change["y"],
                                      change["max_points"], replace, strict=True):
        trace = data[index]
        for key, added in (("x", x), ("y", y)):
            points = list(trace[key])
            points = points[:len(points) - cut] + list(added)
            trace[key] = points[max(0, len(points) - keep):]
    return {**figure, "data": data, **({"summary": change["summary"]}
                                       if "summary" in change else {})}
