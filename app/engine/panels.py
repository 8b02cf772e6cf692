"""What a dashboard panel shows besides the chart: a stat's numbers and trend lines, and
the colour a threshold gives them. No Flask; pages render these values."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from ..data.dashboards.fields import REDUCERS  # what a document may ask, what is computed
from ..data.store import Snapshot
from . import browse
from .cells import reduce_runs
from .compute import Selection

SPARK_WIDTH, SPARK_HEIGHT = 240, 48
SPARK_POINTS = 120  # a trend line this small shows no more detail past ~2 points a pixel
MAX_STATS = 12  # numbers one stat panel shows (one per trace); the rest are counted
# A threshold further from the data than this many times the data's own span is not drawn
# (static/dashboard.js applies the same rule): the value axis would have to reach it, and a
# threshold at -1e308 squashes the data into one flat line (or, in Plotly, into NaN).
THRESHOLD_REACH = 10.0


@dataclass(frozen=True)
class StatValue:
    """One trace's number on a stat panel, and the colour of the highest threshold it reaches."""

    name: str
    value: float | None  # None: the trace has no points in the view (count is never None)
    color: str | None


def reduce_traces(snap: Snapshot, sel: Selection, reduce: str) -> list[tuple[str, float | None]]:
    """``reduce`` (last, mean, min, max, sum, count) of each trace's raw points, in trace order.

    Raw points, not the chart's buckets: a stat of an ``agg=p95`` view still says the
    largest value that arrived. ``last`` is the newest point, as the view page's stats
    say it. A trace without points has no number, except its count of 0.
    """
    if reduce not in REDUCERS:
        raise ValueError(f"reduce {reduce!r} is not one of {', '.join(REDUCERS)}")
    stats = browse.stats(snap, sel)
    if reduce == "count":
        return [(stat.name, float(stat.count)) for stat in stats]
    if reduce == "sum":  # summed per series, then per trace: no mean x count rounding
        sums = np.bincount(sel.group, minlength=len(sel.names),
                           weights=reduce_runs(snap.value, sel.start, sel.stop, np.add))
        return [(stat.name, float(sums[i]) if stat.count else None)
                for i, stat in enumerate(stats)]
    return [(stat.name, getattr(stat, reduce)) for stat in stats]


def threshold_color(value: float | None, thresholds: Sequence[tuple[float, str]]) -> str | None:
    """The colour of the highest threshold ``value`` reaches (``>=``); None below them all."""
    if value is None:
        return None
    reached = [(level, color) for level, color in thresholds if value >= level]
    return max(reached)[1] if reached else None


def stat_values(snap: Snapshot, sel: Selection, reduce: str,
                thresholds: Sequence[tuple[float, str]]) -> list[StatValue]:
    """Each trace's reduced number with its threshold colour."""
    return [StatValue(name, value, threshold_color(value, thresholds))
            for name, value in reduce_traces(snap, sel, reduce)]


def split_thresholds(figure: dict[str, Any], thresholds: Sequence[tuple[float, str]]
                     ) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """(drawn, off the chart): the thresholds within ``THRESHOLD_REACH`` spans of the data
    of ``figure``'s traces, and the rest, which the panel names in words. A chart without
    points draws none and names none."""
    values = [np.asarray(trace.get("y", ()), dtype=np.float64) for trace in figure["data"]]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if not len(finite):
        return [], []
    low, high = float(finite.min()), float(finite.max())
    span = (high - low) or max(abs(high), 1.0)
    reach = THRESHOLD_REACH * span
    drawn = [(value, color) for value, color in thresholds
             if low - reach <= value <= high + reach]
    return drawn, [level for level in thresholds if level not in drawn]


def sparkline(trace: dict[str, Any], color: str | None) -> Markup:
    """A small trend line (SVG, no axes) of one figure trace's ``y`` values."""
    y = np.asarray(trace.get("y", ()), dtype=np.float64)
    y = y[np.isfinite(y)]
    if len(y) > SPARK_POINTS:
        y = y[np.linspace(0, len(y) - 1, SPARK_POINTS).round().astype(int)]
    stroke = escape(color or "#98a2b3")
    head = (f'<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" aria-hidden="true" '
            f'viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" preserveAspectRatio="none">')
    if len(y) < 2:
        return Markup(head + "</svg>")
    low, high = float(y.min()), float(y.max())
    span = high - low or 1.0
    xs = np.linspace(1, SPARK_WIDTH - 1, len(y))
    ys = SPARK_HEIGHT - 2 - (y - low) / span * (SPARK_HEIGHT - 4)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
    return Markup(f'{head}<polyline fill="none" stroke="{stroke}" stroke-width="2" '
                  f'vector-effect="non-scaling-stroke" points="{points}"/></svg>')
