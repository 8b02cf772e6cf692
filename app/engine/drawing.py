"""How a view is drawn: which traces (series), raw points or buckets with their min–max
band, and thinning to the screen that keeps every extreme."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from tsdownsample import MinMaxDownsampler

from ..data.series import run_index
from ..data.store import Snapshot
from ..instants import DAY, HOUR, MINUTE, SECOND, format_duration
from .compute import Result, Selection, Trace, aggregate, run
from .serieskeys import SeriesKeys, TooMany, key_labels, select_series
from .view import View

# The buckets auto picks from: round steps people read at a glance ("per 5m").
NICE_BUCKETS = (SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
                MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
                HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY,
                14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY)
# Data a little late or early (a sample every 60.4 s) still counts as one-minute data.
SPACING_SLACK = 0.9
SPACING_SAMPLE = 1000  # newest gaps looked at per series


@dataclass(frozen=True)
class ChartLimits:
    """What a view's chart, stats, table and exports draw at most, one value for all of
    them: ``auto`` draws raw points up to ``auto_max_points`` a trace (also the screen's
    budget per trace), ``raw`` keeps the newest ``raw_max_points``, ``by=series`` draws
    ``max_series`` traces (``DASH_AUTO_MAX_POINTS``, ``DASH_RAW_MAX_POINTS``,
    ``DASH_MAX_SERIES``)."""

    auto_max_points: int = 2000
    raw_max_points: int = 50000
    max_series: int = 20


@dataclass(frozen=True)
class Drawing:
    """What the chart of a view draws at one version."""

    sel: Selection
    result: Result  # the lines; what stats, table and exports show too
    bands: tuple[tuple[np.ndarray, np.ndarray], ...] | None  # per trace (min, max) per bucket
    too_many: TooMany | None  # by=series found more series than it draws one by one


def spacing(snap: Snapshot, sel: Selection) -> int | None:
    """The data's own step in ns: the median gap between a series' consecutive points."""
    counts = np.minimum(sel.counts, SPACING_SAMPLE + 1)
    ts = snap.ts[run_index(sel.stop - counts, counts)]
    step = np.diff(ts)
    within = np.ones(len(step), dtype=bool)  # gaps between two series' runs are no gaps
    within[(np.cumsum(counts) - 1)[:-1]] = False
    pooled = step[within & (step > 0)]
    return int(np.median(pooled)) if len(pooled) else None


def auto_bucket(first: int, last: int, max_buckets: int, step: int | None) -> int:
    """The finest round bucket that brings ``first``..``last`` (ns) under ``max_buckets``
    buckets and is no finer than the data's own ``step``: one-minute data is never drawn
    "per 10s", whose buckets would each hold one point or none."""
    floor = 0 if step is None else step * SPACING_SLACK
    for bucket in NICE_BUCKETS:
        if bucket >= floor and last // bucket - first // bucket + 1 <= max_buckets:
            return bucket
    return NICE_BUCKETS[-1]


def _span(snap: Snapshot, sel: Selection) -> tuple[int, int]:
    """(first, last) instant in ns of the selected points; (0, 0) for none."""
    if len(sel.start) == 0:
        return 0, 0
    return int(snap.ts[sel.start].min()), int(snap.ts[sel.stop - 1].max())


def _raw_fits(result: Result, max_points: int) -> bool:
    """Every trace fits the screen and holds at most one point per instant."""
    return all(len(t.x) <= max_points and not bool(np.any(t.x[1:] == t.x[:-1]))
               for t in result.traces)


def max_series(limits: ChartLimits) -> int:
    """The most series ``by=series`` draws one by one under ``limits``."""
    return limits.max_series


def draw(snap: Snapshot, view: View, limits: ChartLimits,
         labels: tuple[str, ...] | None = None) -> Drawing:
    """The traces of ``view`` over ``snap`` and how to draw them.

    ``agg=auto`` draws raw points while every trace fits ``limits.auto_max_points`` with
    one point per instant; otherwise the mean per bucket with each bucket's min and max
    as a band. A ``bucket=auto`` is the finest round one that fits and is no finer than
    the data's own spacing. ``labels`` are the series' key labels (found if not given).
    """
    keys = key_labels(snap) if labels is None else labels
    sel, too_many = select_series(snap, view, keys, max_series(limits))
    count = np.bincount(sel.group, weights=sel.counts, minlength=len(sel.names))
    if view.agg == "auto" and (len(count) == 0 or count.max() <= limits.auto_max_points):
        raw = run(snap, replace(view, agg="raw"), limits.auto_max_points,
                  limits.raw_max_points, sel)
        if _raw_fits(raw, limits.auto_max_points):
            return Drawing(sel, raw, None, too_many)
    if view.agg == "raw":
        return Drawing(sel, run(snap, view, limits.auto_max_points, limits.raw_max_points, sel),
                       None, too_many)
    chosen = view
    if view.bucket == "auto":
        bucket = auto_bucket(*_span(snap, sel), limits.auto_max_points, spacing(snap, sel))
        chosen = replace(chosen, bucket=format_duration(bucket))
    if view.agg != "auto":
        return Drawing(sel, run(snap, chosen, limits.auto_max_points, limits.raw_max_points,
                                sel), None, too_many)
    result = run(snap, replace(chosen, agg="mean"), limits.auto_max_points,
                 limits.raw_max_points, sel)
    width = chosen.bucket_ns
    assert width is not None
    lows = aggregate(snap, sel, width, "min")
    highs = aggregate(snap, sel, width, "max")
    # run keeps the newest raw_max_points buckets of a trace: the band keeps the same.
    # (Lengths from the result's columns: its traces need not be made.)
    columns = result.columns()
    kept = (columns.ends - columns.starts).tolist()
    bands = tuple((low[len(low) - n:], high[len(high) - n:])
                  for n, (_, low), (_, high) in zip(kept, lows, highs, strict=True))
    return Drawing(sel, result, bands, too_many)


def analyse(snap: Snapshot, view: View, limits: ChartLimits,
            keys: SeriesKeys | None = None) -> tuple[Selection, Result]:
    """The view's selected series and its traces as the chart draws them (for pages,
    stats, tables and exports: the same buckets as the chart). Raises nothing for a valid
    ``View``: metrics, labels or values ``snap`` no longer has select no series."""
    drawing = draw(snap, view, limits, keys.labels(snap) if keys else None)
    return drawing.sel, drawing.result


def thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of a trace for the screen, keeping the lowest and highest
    point of each of ``max_points / 2`` equal time slices (every spike stays visible)."""
    if len(x) <= max_points or max_points < 4:
        return x, y
    finite = np.isfinite(y)
    if not finite.all():  # gaps stay gaps: thin the drawn points only
        x, y = x[finite], y[finite]
        if len(x) <= max_points:
            return x, y
    downsampler = MinMaxDownsampler()  # type: ignore[no-untyped-call]  # its __init__ is untyped
    keep = downsampler.downsample(x, y, n_out=max_points - max_points % 2)
    return x[keep], y[keep]


def thin_trace(trace: Trace, max_points: int) -> Trace:
    """``trace`` (int64 ns x, float64 y) thinned for the screen by ``thin``: at most
    ``max_points`` points, each time slice's lowest and highest kept; unchanged when it
    fits or ``max_points`` is under 4."""
    x, y = thin(trace.x, trace.y, max_points)
    return Trace(trace.name, x, y)
