"""Traces -> Plotly figure dicts (numpy arrays inside; app.jsoncodec encodes them)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.store import Snapshot
from ..instants import wall_clock_ms
from .compute import Result, run
from .view import View

# Markers help when a trace has few points; lines alone read better when dense.
MARKERS_BELOW = 60
AGG_LABELS = {"raw": "", "mean": "mean", "sum": "sum", "min": "min", "max": "max",
              "count": "count", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}


def plotly_text(text: str) -> str:
    """Text for Plotly labels: it reads a few HTML tags in them, so data must not carry any."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def axis_title(view: View, result: Result) -> str:
    """The y axis title: metrics, and the aggregation with its bucket when there is one."""
    title = plotly_text(", ".join(view.metrics) or "value")
    if result.agg != "raw":
        title = f"{AGG_LABELS[result.agg]}({title}) per {result.bucket}"
    return title


def figure(dataset: str, view: View, result: Result) -> dict[str, Any]:
    """The Plotly figure (``data`` and ``layout``) for a view's result."""
    data = []
    for trace in result.traces:
        data.append({
            "type": "scatter",
            "mode": "lines+markers" if len(trace.x) < MARKERS_BELOW else "lines",
            "name": plotly_text(trace.name),
            # "raw" or the aggregation: deltas only apply to raw points.
            "meta": result.agg,
            # Wall-clock strings in the view's zone: plotly.js would draw numbers
            # (ms) in each browser's own zone, and every browser must agree.
            "x": wall_clock_ms(trace.x, view.tz),
            "y": trace.y,
        })
    layout: dict[str, Any] = {
        "title": {"text": f"{plotly_text(dataset)}: {axis_title(view, result)}"},
        "xaxis": {"type": "date", "title": {"text": f"time ({view.tz})"}},
        "yaxis": {"title": {"text": axis_title(view, result)}, "rangemode": "normal"},
        "showlegend": len(data) > 1,
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        # Same view, same uirevision: a user's zoom survives live updates.
        "uirevision": view.chart.query,
        "autosize": True,
    }
    if not any(len(t.x) for t in result.traces):
        layout["annotations"] = [{"text": "No points in this view", "showarrow": False,
                                  "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]
    if result.truncated:
        layout["title"]["text"] += " (newest points only)"
    return {"data": data, "layout": layout}


def build(snap: Snapshot, view: View, auto_max_points: int = 5000,
          raw_max_points: int = 50000) -> dict[str, Any]:
    """Query and draw: the figure of ``view`` over ``snap``."""
    return figure(snap.name, view, run(snap, view, auto_max_points, raw_max_points))


def delta(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """What ``Plotly.extendTraces`` needs to turn figure ``old`` into ``new``, or None.

    Only for figures that drew raw points and only grew: same traces, same layout,
    and each new trace is the tail of the old one followed by new points (a moving
    window drops points at the start; ``max_points`` keeps that many).
    """
    if old["layout"] != new["layout"] or len(old["data"]) != len(new["data"]):
        return None
    xs, ys, max_points = [], [], []
    for before, after in zip(old["data"], new["data"], strict=True):
        if {k: v for k, v in before.items() if k not in ("x", "y")} != \
                {k: v for k, v in after.items() if k not in ("x", "y")}:
            return None
        if before.get("meta") != "raw":
            return None
        old_x, new_x = np.asarray(before["x"]), np.asarray(after["x"])
        old_y, new_y = np.asarray(before["y"]), np.asarray(after["y"])
        kept = len(new_x) - _grown_by(old_x, new_x, old_y, new_y)
        if kept < 0:
            return None
        xs.append(new_x[kept:])
        ys.append(new_y[kept:])
        max_points.append(len(new_x))
    if not any(len(x) for x in xs):
        return None
    return {"traces": list(range(len(xs))), "x": xs, "y": ys, "max_points": max_points}


def _grown_by(old_x: np.ndarray, new_x: np.ndarray, old_y: np.ndarray,
              new_y: np.ndarray) -> int:
    """How many points ``new`` appends to a tail of ``old``; -1 if it is not such a figure."""
    if len(old_x) == 0:
        return len(new_x)
    if len(new_x) == 0:
        return -1
    start = int(np.searchsorted(old_x, new_x[0], side="left"))  # where new begins in old
    overlap = len(old_x) - start
    if overlap > len(new_x):
        return -1  # points went missing at the end
    if not (np.array_equal(old_x[start:], new_x[:overlap])
            and np.array_equal(old_y[start:], new_y[:overlap], equal_nan=True)):
        return -1  # a point was inserted or changed inside the window
    return len(new_x) - overlap
