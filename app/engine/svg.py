"""A server-rendered SVG line chart of a figure: the chart for browsers without JavaScript."""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from markupsafe import Markup, escape

# Plotly's default colour sequence, so the SVG and the live chart agree.
COLOURS = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A",
           "#19d3f3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52")
WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
MAX_POINTS = 1000  # per polyline; more adds bytes, not detail, at this width
SECOND_MS = 1000
TIME_STEPS_MS = [s * SECOND_MS for s in (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400,
    365 * 86400)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering ``low``..``high``."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high == low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step) + 1)]


def time_ticks(low_ms: int, high_ms: int, count: int = 6) -> tuple[list[int], str]:
    """Tick instants (ms) and the strftime format that fits the span."""
    span = max(high_ms - low_ms, 1)
    step = next((s for s in TIME_STEPS_MS if span / s <= count), TIME_STEPS_MS[-1])
    first = -(-low_ms // step) * step
    ticks = list(range(first, high_ms + 1, step))
    if step < 60 * SECOND_MS:
        fmt = "%H:%M:%S"
    elif span <= 86400 * SECOND_MS:
        fmt = "%H:%M"
    elif step < 86400 * SECOND_MS:
        fmt = "%m-%d %H:%M"
    else:
        fmt = "%Y-%m-%d"
    return ticks, fmt


def format_value(value: float) -> str:
    """A tick label: short, without float noise."""
    return f"{value:.6g}"


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int)
    return x[keep], y[keep]


def render(figure: dict[str, Any], title: str,
           thresholds: Sequence[tuple[float, str]] = ()) -> Markup:
    """The figure's traces as an SVG with time and value axes and a legend.

    ``thresholds`` are (value, colour) pairs drawn as horizontal dashed lines across the
    plot; the value axis always reaches them, as plotly's autorange does for shapes.
    Colours come from the dashboard document's allow-list (CSS names, #rgb, #rrggbb).
    """
    # Names in the figure are escaped for Plotly; undo that here and escape once, for SVG.
    # Each trace keeps its index, so its colour is the one the live chart gives it.
    # x: wall-clock times in the view's zone (datetime64[ms]), drawn as if they were UTC.
    traces = [(i, html.unescape(str(t["name"])),
               np.asarray(t["x"], dtype="datetime64[ms]").view(np.int64),
               np.asarray(t["y"], dtype=np.float64)) for i, t in enumerate(figure["data"])]
    traces = [(i, n, x, y) for i, n, x, y in traces if len(x)]
    parts = [f'<svg class="svg-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    if not traces:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                     "No points in this view</text></svg>")
        return Markup("".join(parts))
    x_lo = min(int(x.min()) for _, _, x, _ in traces)
    x_hi = max(int(x.max()) for _, _, x, _ in traces)
    finite = [y[np.isfinite(y)] for _, _, _, y in traces]
    levels = [float(value) for value, _ in thresholds]
    y_lo = min([*(float(f.min()) for f in finite if len(f)), *levels], default=0.0)
    y_hi = max([*(float(f.max()) for f in finite if len(f)), *levels], default=1.0)
    if y_lo == y_hi:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    x_span = max(x_hi - x_lo, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: np.ndarray | float) -> Any:
        return LEFT + (np.asarray(x, dtype=np.float64) - x_lo) / x_span * plot_w

    def py(y: np.ndarray | float) -> Any:
        return TOP + (1 - (np.asarray(y, dtype=np.float64) - y_lo) / (y_hi - y_lo)) * plot_h

    parts.append(f'<g class="axes" stroke="#d0d5dd" fill="none">'
                 f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/></g>')
    parts.append('<g class="y-ticks" font-size="11" fill="#475467" text-anchor="end">')
    for tick in nice_ticks(y_lo, y_hi):
        tick_y = float(py(tick))
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{tick_y:.1f}" '
                     f'y2="{tick_y:.1f}" stroke="#eaecf0"/><text x="{LEFT - 6}" '
                     f'y="{tick_y + 4:.1f}">'
                     f"{escape(format_value(tick))}</text>")
    parts.append("</g>")
    ticks, fmt = time_ticks(x_lo, x_hi)
    parts.append('<g class="x-ticks" font-size="11" fill="#475467" text-anchor="middle">')
    for tick in ticks:
        tick_x = float(px(tick))
        label = datetime.fromtimestamp(tick / 1000, UTC).strftime(fmt)
        parts.append(f'<line x1="{tick_x:.1f}" x2="{tick_x:.1f}" y1="{TOP}" '
                     f'y2="{HEIGHT - BOTTOM}" stroke="#eaecf0"/><text x="{tick_x:.1f}" '
                     f'y="{HEIGHT - BOTTOM + 16}">'
                     f"{escape(label)}</text>")
    parts.append("</g>")
    for i, name, trace_x, trace_y in traces:
        x, y = _thin(trace_x, trace_y)
        ok = np.isfinite(y)
        colour = COLOURS[i % len(COLOURS)]
        if ok.sum() == 1:  # a polyline of one point draws nothing: mark it
            parts.append(f'<circle class="trace" r="3" fill="{colour}" '
                         f'cx="{float(px(x[ok][0])):.1f}" cy="{float(py(y[ok][0])):.1f}">'
                         f"<title>{escape(name)}</title></circle>")
            continue
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(x[ok]), py(y[ok]), strict=True))
        parts.append(f'<polyline class="trace" fill="none" stroke-width="1.5" '
                     f'stroke="{colour}" points="{points}">'
                     f"<title>{escape(name)}</title></polyline>")
    if thresholds:
        parts.append('<g class="thresholds" font-size="11" text-anchor="end">')
        for value, colour in thresholds:
            line_y = float(py(value))
            parts.append(f'<line class="threshold" data-value="{escape(format_value(value))}" '
                         f'x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{line_y:.1f}" y2="{line_y:.1f}" '
                         f'stroke="{escape(colour)}" stroke-width="1.5" stroke-dasharray="6 4"/>'
                         f'<text x="{WIDTH - RIGHT - 4}" y="{line_y - 4:.1f}" '
                         f'fill="{escape(colour)}">{escape(format_value(value))}</text>')
        parts.append("</g>")
    parts.append('<g class="legend" font-size="12" fill="#1d2330">')
    for slot, (i, name, _, _) in enumerate(traces):
        lx, ly = LEFT + 8 + (slot % 4) * 200, TOP + 14 + (slot // 4) * 16
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" '
                     f'fill="{COLOURS[i % len(COLOURS)]}"/>'
                     f'<text x="{lx + 14}" y="{ly}">{escape(name)}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))
