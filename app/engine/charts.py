"""Drawings -> Plotly figure dicts (numpy arrays inside; app.jsoncodec encodes them); the
``extend_chart`` deltas between two of them are ``app.engine.delta``'s."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..data.store import Snapshot
from ..instants import clocks_change, format_local, wall_clock_ms
from .compute import Columns, Result, Trace
from .drawing import ChartLimits, Drawing, draw, thin
from .serieskeys import SeriesKeys
from .view import View

# Markers help when a trace has few points; lines alone read better when dense.
MARKERS_BELOW = 60
AGG_LABELS = {"raw": "", "mean": "mean", "sum": "sum", "min": "min", "max": "max",
              "count": "count", "p50": "p50", "p90": "p90", "p95": "p95", "p99": "p99"}
# Plotly's default colour sequence (the SVG chart uses the same): set on each line so a
# band, drawn as two extra traces, takes its line's colour and not the next one's.
COLOURS = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A",
           "#19d3f3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52")
BAND_OPACITY = 0.18
# Units read from metric names: a suffix (latency_ms) or a name that is a percentage.
UNIT_SUFFIXES = {
    "ms": "ms", "millis": "ms", "milliseconds": "ms", "us": "µs", "micros": "µs",
    "ns": "ns", "s": "s", "sec": "s", "secs": "s", "seconds": "s", "bytes": "B",
    "kb": "kB", "mb": "MB", "gb": "GB", "pct": "%", "percent": "%", "percentage": "%",
    "hz": "Hz", "rps": "req/s", "qps": "req/s", "celsius": "°C",
}
PERCENT_NAMES = frozenset(("cpu", "mem", "memory", "disk", "util", "utilization"))
ROW_GAP = 0.1  # between stacked rows (metrics in different units), as a share of the plot
# The modebar offers what helps reading a chart; never the cloud upload or the logo.
CONFIG = {
    "responsive": True,
    "displaylogo": False,
    "showLink": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
}


def plotly_text(text: str) -> str:
    """Text for Plotly labels: it reads a few HTML tags in them, so data must not carry any."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unit_of(metric: str, values: np.ndarray | None = None) -> str | None:
    """The unit a metric's name says (``latency_ms`` -> ms), ``%`` for ``cpu``/``mem``
    when every value lies in 0..100, else None (no unit is claimed)."""
    name = metric.lower()
    suffix = name.rsplit("_", 1)[-1] if "_" in name else ""
    if suffix in UNIT_SUFFIXES:
        return UNIT_SUFFIXES[suffix]
    if name in PERCENT_NAMES and values is not None and len(values):
        finite = values[np.isfinite(values)]
        if len(finite) == 0 or (finite.min() >= 0 and finite.max() <= 100):
            return "%"
    return None


def decimals(values: np.ndarray) -> int:
    """Decimal places that give about four significant digits at this magnitude."""
    finite = np.abs(values[np.isfinite(values)]) if len(values) else values
    if len(finite) == 0 or float(finite.max()) == 0:
        return 0
    digits = math.floor(math.log10(float(finite.max()))) + 1
    return max(0, min(6, 4 - digits))


def number_format(places: int) -> str:
    """A d3 format: thousands separators, ``places`` decimals, trailing zeros dropped."""
    return f",.{places}~f"


def title_of(view: View, result: Result, bands: bool) -> str:
    """What the chart shows: metrics, and the aggregation with the bucket really used."""
    title = plotly_text(", ".join(view.metrics) or "value")
    if result.agg != "raw":
        title = f"{AGG_LABELS[result.agg]}({title}) per {result.bucket}"
        if bands:
            title += ", band: min–max"
    return title


def _trace_metrics(snap: Snapshot, drawing: Drawing) -> list[str]:
    """The metric of each trace (the first series' metric: a trace never mixes metrics)."""
    first: dict[int, int] = {}
    for i, g in enumerate(drawing.sel.group.tolist()):
        first.setdefault(g, i)
    return [snap.metrics[int(snap.series_metric[drawing.sel.series[first[g]]])]
            if g in first else "" for g in range(len(drawing.sel.names))]


def _rows(view: View, snap: Snapshot, drawing: Drawing, columns: Columns
          ) -> tuple[list[int], list[tuple[str | None, list[str]]]]:
    """Each trace's row, and per row its unit and metrics: one row per unit (a metric
    without a known unit has a row of its own); one row when the chart counts points."""
    metrics = _trace_metrics(snap, drawing)
    if drawing.result.agg == "count" or len(view.metrics) < 2:
        return [0] * len(metrics), [(None if drawing.result.agg == "count" else
                                     _unit(view.metrics[0] if view.metrics else "", metrics,
                                           columns), list(view.metrics))]
    rows: list[tuple[str | None, list[str]]] = []
    where: dict[str, int] = {}
    for metric in view.metrics:
        unit = _unit(metric, metrics, columns)
        found = next((i for i, (u, _) in enumerate(rows) if unit is not None and u == unit),
                     None)
        if found is None:
            rows.append((unit, []))
            found = len(rows) - 1
        rows[found][1].append(metric)
        where[metric] = found
    return [where.get(m, 0) for m in metrics], rows


def _unit(metric: str, metrics: list[str], columns: Columns) -> str | None:
    if metric not in metrics:
        return unit_of(metric, None)
    return unit_of(metric, _values_of(columns, [m == metric for m in metrics]))


def _values_of(columns: Columns, chosen: list[bool]) -> np.ndarray:
    """The values of the chosen traces (one flag per trace), trace after trace."""
    if all(chosen):
        return columns.y
    picked: np.ndarray = columns.y[np.repeat(np.array(chosen, bool),
                                              columns.ends - columns.starts)]
    return picked


def _axis_name(row: int) -> str:
    return "y" if row == 0 else f"y{row + 1}"


def _span(columns: Columns, shown: np.ndarray) -> tuple[int, int] | None:
    """(first, last) instant in ns over the ``shown`` traces (those with points, each in
    time order); None: no points."""
    if not len(shown):
        return None
    if len(shown) == 1:  # one line: two reads, not four numpy calls
        i = int(shown[0])
        return int(columns.x[columns.starts[i]]), int(columns.x[columns.ends[i] - 1])
    return (int(columns.x[columns.starts[shown]].min()),
            int(columns.x[columns.ends[shown] - 1].max()))


def _time_title(view: View, span: tuple[int, int] | None) -> str:
    """``time (Europe/Berlin)``; where the zone's clocks change inside the chart, say that the
    axis follows the clocks (an hour drawn twice or skipped), so no one misreads the gap."""
    if span is not None and clocks_change(*span, view.tz):
        return (f"time ({view.tz}, as clocks read: they change in this range, "
                "so an hour repeats or is skipped)")
    return f"time ({view.tz})"


def figure(snap: Snapshot, view: View, drawing: Drawing,
           max_points: int = 2000) -> dict[str, Any]:
    """The Plotly figure (``data``, ``layout``, ``config``, and ``notice`` when the page
    should say something) for a view's drawing; traces longer than ``max_points`` are
    thinned for the screen keeping each slice's extremes."""
    result = drawing.result
    # The traces as columns: one wall-clock conversion for them all and slices of it,
    # not a conversion per trace (10,000 traces: 24 ms of numpy calls).
    columns = result.columns()
    names, x, y, starts, ends = columns
    shown = np.flatnonzero(ends > starts)  # the traces with points
    span = _span(columns, shown)
    row_of, rows = _rows(view, snap, drawing, columns)
    places = [decimals(_values_of(columns, [r == row for r in row_of]))
              for row in range(len(rows))]
    fits = ((ends - starts <= max_points) | (max_points < 4)).tolist()  # ``thin`` leaves them
    # Whole traces' times are all needed (every trace drawn whole, or bands), or else
    # each trace's drawn ones (most thinned: converting the rest would be wasted).
    wall = wall_clock_ms(x, view.tz) if all(fits) or drawing.bands is not None else None
    data: list[dict[str, Any]] = []
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        colour = COLOURS[i % len(COLOURS)]
        if fits[i]:
            shown_x = wall[a:b] if wall is not None else wall_clock_ms(x[a:b], view.tz)
            shown_y, thinned = y[a:b], False
        else:
            thin_x, shown_y = thin(x[a:b], y[a:b], max_points)
            shown_x, thinned = wall_clock_ms(thin_x, view.tz), len(thin_x) < b - a
        row = row_of[i]
        unit = rows[row][0]
        name = plotly_text(names[i])
        axis = _axis_name(row)
        if drawing.bands is not None:
            low, high = drawing.bands[i]
            band = {"type": "scatter", "mode": "lines", "legendgroup": name,
                    "showlegend": False, "hoverinfo": "skip", "line": {"width": 0},
                    "x": wall[a:b] if wall is not None else wall_clock_ms(x[a:b], view.tz),
                    "yaxis": axis, "meta": "band"}
            data.append({**band, "name": f"{name} min", "y": low})
            data.append({**band, "name": f"{name} max", "y": high, "fill": "tonexty",
                         "fillcolor": _rgba(colour, BAND_OPACITY)})
        suffix = f" {unit}" if unit and unit != "%" else (unit or "")
        data.append({
            "type": "scatter",
            "mode": "lines+markers" if len(shown_x) < MARKERS_BELOW else "lines",
            "name": name,
            "legendgroup": name,
            "line": {"color": colour, "width": 1.5},
            "marker": {"color": colour, "size": 5},
            "yaxis": axis,
            # "raw" or the aggregation: deltas only apply to raw points drawn whole.
            "meta": "thinned" if thinned else result.agg,
            # Hover values keep their trailing zeros ("20.00" beside "25.94"), ticks drop them.
            "hovertemplate": f"%{{y:,.{places[row]}f}}{plotly_text(suffix)}",
            # Wall-clock strings in the view's zone: plotly.js would draw numbers
            # (ms) in each browser's own zone, and every browser must agree.
            "x": shown_x,
            "y": shown_y,
        })
    title = title_of(view, result, drawing.bands is not None)
    layout: dict[str, Any] = {
        "title": {"text": f"{plotly_text(snap.name)}: {title}", "x": 0, "xanchor": "left",
                  "xref": "paper", "font": {"size": 15}},
        "xaxis": {"type": "date", "title": {"text": _time_title(view, span)},
                  "hoverformat": "%Y-%m-%d %H:%M:%S", "anchor": _axis_name(len(rows) - 1),
                  "automargin": True},
        "hovermode": "x unified",
        "showlegend": len(names) > 1,
        # At the foot of the figure, under the time axis' title, whatever the height.
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"},
        # Room on the right for the modebar, upright: it never covers the title.
        "modebar": {"orientation": "v"},
        "margin": {"l": 56, "r": 36, "t": 48, "b": 40},
        # Same view, same uirevision: a user's zoom survives live updates.
        "uirevision": view.chart.query,
        "autosize": True,
    }
    height = (1 - ROW_GAP * (len(rows) - 1)) / len(rows)
    for row, (unit, metrics) in enumerate(rows):
        text = plotly_text(", ".join(metrics) or "value")
        if result.agg != "raw":
            text = f"{AGG_LABELS[result.agg]}({text})"
        if unit and result.agg != "count":
            text += f" ({plotly_text(unit)})"
        top = 1 - row * (height + ROW_GAP)
        layout["yaxis" if row == 0 else f"yaxis{row + 1}"] = {
            "title": {"text": text}, "rangemode": "normal", "separatethousands": True,
            "tickformat": number_format(places[row]), "anchor": "x", "automargin": True,
            "domain": [max(0.0, round(top - height, 6)), round(top, 6)],
        }
    if not len(x):
        layout["annotations"] = [{"text": "No points in this view", "showarrow": False,
                                  "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]
    if result.truncated:
        layout["title"]["text"] += " (newest points only)"
    units = [rows[row][0] for row in row_of]
    out: dict[str, Any] = {"data": data, "layout": layout, "config": CONFIG,
                           "summary": summary(snap.name, view, title, columns, shown, span,
                                              units, places, row_of)}
    if drawing.too_many is not None:
        out["notice"] = drawing.too_many.as_json(drawing.bands is not None)
        # The chart says it too, above the plot (the page adds the links to split).
        layout.setdefault("annotations", []).append({
            "text": plotly_text(drawing.too_many.short()), "showarrow": False,
            "xref": "paper", "yref": "paper", "x": 0, "y": 1, "xanchor": "left",
            "yanchor": "bottom", "font": {"size": 12}, "name": "notice"})
    return out


SUMMARY_LINES = 6  # last values named in the text alternative; the rest are counted


def summary(dataset: str, view: View, title: str, columns: Columns, shown: np.ndarray,
            span: tuple[int, int] | None, units: list[str | None], places: list[int],
            row_of: list[int]) -> str:
    """The chart in words, for screen readers: what it shows, its time span (``span``,
    ns) in the view's zone, and the last value of the first few ``shown`` traces (those
    with points)."""
    text = f"Chart of {dataset}: {title.replace('&lt;', '<').replace('&amp;', '&')}."
    if span is None:
        return text + " No points in this view."
    text += (f" {len(shown)} line{'s' if len(shown) != 1 else ''} from "
             f"{format_local(span[0], view.tz)} to {format_local(span[1], view.tz)} "
             f"({view.tz}).")
    values = []
    for i in shown[:SUMMARY_LINES].tolist():
        value = float(columns.y[columns.ends[i] - 1])
        unit, digits = units[i], places[row_of[i]]
        spaced = "" if not unit else unit if unit == "%" else f" {unit}"
        values.append(f"{columns.names[i]} {value:,.{digits}f}{spaced}")
    text += " Last values: " + ", ".join(values)
    if len(shown) > SUMMARY_LINES:
        text += f", and {len(shown) - SUMMARY_LINES} more"
    return text + "."


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def build(snap: Snapshot, view: View, limits: ChartLimits | None = None,
          keys: SeriesKeys | None = None) -> dict[str, Any]:
    """The Plotly figure dict of ``view`` over ``snap`` (``data``, ``layout``, ``config``
    and maybe ``notice``, as ``figure`` builds it; numpy arrays inside): its traces
    selected, computed and drawn under ``limits`` (``ChartLimits()`` when None)."""
    limits = limits or ChartLimits()
    drawing = draw(snap, view, limits, keys.labels(snap) if keys else None)
    return figure(snap, view, drawing, limits.auto_max_points)


__all__ = ["CONFIG", "Trace", "build", "figure", "plotly_text", "unit_of"]
