"""A server-rendered SVG line chart of a figure: the chart for browsers without JavaScript."""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from .charts import COLOURS  # the live chart's: the SVG and it agree line for line

WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 20, 36
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
    """A tick label: thousands separated, at most four significant digits' decimals."""
    if value == 0:
        return "0"
    places = max(0, min(6, 3 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{places}f}".rstrip("0").rstrip(".") if places else f"{value:,.0f}"


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int)
    return x[keep], y[keep]


def _ms(values: Any) -> np.ndarray:
    """x values (wall-clock ``datetime64[ms]`` or their ISO strings) as int64 ms."""
    return np.asarray(values, dtype="datetime64[ms]").view(np.int64)


def _band_colour(line: dict[str, Any], fallback: str) -> str:
    colour = str(line.get("line", {}).get("color") or fallback)
    return colour if colour.startswith("#") else fallback


def render(figure: dict[str, Any], title: str,
           thresholds: Sequence[tuple[float, str]] = (), width: int = WIDTH,
           height: int = HEIGHT) -> Markup:
    """The figure's traces as an SVG with time and value axes, bands and a legend, ``width``
    x ``height`` user units (a narrow one keeps its labels readable on a phone).

    Metrics on other y axes (``yaxis: "y2"``) are drawn in rows of their own, as the live
    chart does. ``thresholds`` are (value, colour) pairs drawn as horizontal dashed lines
    across the (first) plot; the value axis always reaches them, as plotly's autorange
    does for shapes. Colours come from the dashboard document's allow-list (CSS names,
    #rgb, #rrggbb). The figure's ``summary`` (if any) is the chart's text alternative.
    """
    # Names in the figure are escaped for Plotly; undo that here and escape once, for SVG.
    # Each line keeps its colour (set in the figure, else by its place among the lines).
    # x: wall-clock times in the view's zone (datetime64[ms]), drawn as if they were UTC.
    lines: list[tuple[str, str, str, np.ndarray, np.ndarray]] = []
    bands: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]] = []
    pending: list[dict[str, Any]] = []
    for t in figure["data"]:
        if t.get("meta") == "band":
            pending.append(t)
            continue
        colour = _band_colour(t, COLOURS[len(lines) % len(COLOURS)])
        axis = str(t.get("yaxis", "y"))
        x = _ms(t["x"])
        if len(pending) == 2 and len(x):
            bands.append((axis, colour, _ms(pending[0]["x"]),
                          np.asarray(pending[0]["y"], np.float64),
                          np.asarray(pending[1]["y"], np.float64)))
        pending = []
        lines.append((html.unescape(str(t["name"])), colour, axis, x,
                      np.asarray(t["y"], dtype=np.float64)))
    drawn = [line for line in lines if len(line[3])]
    summary = str(figure.get("summary") or title)
    parts = [f'<svg class="svg-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {width} {height}" aria-label="{escape(summary)}">',
             f"<title>{escape(title)}</title>"]
    if not drawn:
        parts.append(f'<text class="empty" x="{width / 2}" y="{height / 2}" '
                     'text-anchor="middle" fill="#475467">No points in this view</text></svg>')
        return Markup("".join(parts))
    x_lo = min(int(x.min()) for _, _, _, x, _ in drawn)
    x_hi = max(int(x.max()) for _, _, _, x, _ in drawn)
    x_span = max(x_hi - x_lo, 1)
    axes = list(dict.fromkeys(axis for _, _, axis, _, _ in drawn))
    plot_w = width - LEFT - RIGHT
    gap = 24 if len(axes) > 1 else 0
    row_h = (height - TOP - BOTTOM - gap * (len(axes) - 1)) / len(axes)

    def px(x: np.ndarray | float) -> Any:
        return LEFT + (np.asarray(x, dtype=np.float64) - x_lo) / x_span * plot_w

    parts.append('<g class="y-ticks" font-size="11" fill="#475467" text-anchor="end">')
    scales = {}
    for row, axis in enumerate(axes):
        top = TOP + row * (row_h + gap)
        values = [y[np.isfinite(y)] for _, _, a, _, y in drawn if a == axis]
        values += [np.concatenate((lo, hi)) for a, _, _, lo, hi in bands if a == axis]
        levels = [float(value) for value, _ in thresholds] if row == 0 else []
        y_lo = min([*(float(v.min()) for v in values if len(v)), *levels], default=0.0)
        y_hi = max([*(float(v.max()) for v in values if len(v)), *levels], default=1.0)
        if y_lo == y_hi:
            y_lo, y_hi = y_lo - 1, y_hi + 1
        scales[axis] = (top, y_lo, y_hi)
        parts.append(f'<rect class="frame" x="{LEFT}" y="{top:.1f}" width="{plot_w}" '
                     f'height="{row_h:.1f}" stroke="#d0d5dd" fill="none"/>')
        for tick in nice_ticks(y_lo, y_hi, 5 if len(axes) == 1 else 3):
            tick_y = top + (1 - (tick - y_lo) / (y_hi - y_lo)) * row_h
            parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" '
                         f'y1="{tick_y:.1f}" y2="{tick_y:.1f}" stroke="#eaecf0"/>'
                         f'<text x="{LEFT - 6}" y="{tick_y + 4:.1f}">'
                         f"{escape(format_value(tick))}</text>")
    parts.append("</g>")

    def py(axis: str, y: np.ndarray | float) -> Any:
        top, y_lo, y_hi = scales[axis]
        return top + (1 - (np.asarray(y, dtype=np.float64) - y_lo) / (y_hi - y_lo)) * row_h

    ticks, fmt = time_ticks(x_lo, x_hi, min(6, max(2, plot_w // 110)))  # ~110 units a label
    parts.append('<g class="x-ticks" font-size="11" fill="#475467" text-anchor="middle">')
    for tick in ticks:
        tick_x = float(px(tick))
        label = datetime.fromtimestamp(tick / 1000, UTC).strftime(fmt)
        parts.append(f'<line class="grid" x1="{tick_x:.1f}" x2="{tick_x:.1f}" y1="{TOP}" '
                     f'y2="{height - BOTTOM}" stroke="#eaecf0"/><text x="{tick_x:.1f}" '
                     f'y="{height - BOTTOM + 16}">'
                     f"{escape(label)}</text>")
    parts.append("</g>")
    for axis, colour, x, low, high in bands:
        ok = np.isfinite(low) & np.isfinite(high)
        if ok.sum() < 2:
            continue
        xs, lo = _thin(x[ok], low[ok])
        hi = _thin(x[ok], high[ok])[1]
        outline = [*zip(px(xs), py(axis, hi), strict=True),
                   *zip(px(xs[::-1]), py(axis, lo[::-1]), strict=True)]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in outline)
        parts.append(f'<polygon class="band" fill="{colour}" fill-opacity="0.18" '
                     f'stroke="none" points="{points}"/>')
    for name, colour, axis, trace_x, trace_y in drawn:
        x, y = _thin(trace_x, trace_y)
        ok = np.isfinite(y)
        if ok.sum() == 1:  # a polyline of one point draws nothing: mark it
            parts.append(f'<circle class="trace" r="3" fill="{colour}" '
                         f'cx="{float(px(x[ok][0])):.1f}" cy="{float(py(axis, y[ok][0])):.1f}">'
                         f"<title>{escape(name)}</title></circle>")
            continue
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(x[ok]), py(axis, y[ok]),
                                                              strict=True))
        parts.append(f'<polyline class="trace" fill="none" stroke-width="1.5" '
                     f'stroke="{colour}" points="{points}">'
                     f"<title>{escape(name)}</title></polyline>")
    if thresholds:
        first = axes[0]
        parts.append('<g class="thresholds" font-size="11" text-anchor="end">')
        for value, colour in thresholds:
            line_y = float(py(first, value))
            parts.append(f'<line class="threshold" data-value="{escape(format_value(value))}" '
                         f'x1="{LEFT}" x2="{width - RIGHT}" y1="{line_y:.1f}" y2="{line_y:.1f}" '
                         f'stroke="{escape(colour)}" stroke-width="1.5" stroke-dasharray="6 4"/>'
                         f'<text x="{width - RIGHT - 4}" y="{line_y - 4:.1f}" '
                         f'fill="{escape(colour)}">{escape(format_value(value))}</text>')
        parts.append("</g>")
    notice = figure.get("notice")
    if notice:  # by=series found too many series: say so above the plot
        parts.append(f'<text class="notice" x="{LEFT}" y="{TOP - 4}" font-size="12" '
                     f'fill="#475467">{escape(str(notice.get("text", "")))}</text>')
    parts.append('<g class="legend" font-size="12" fill="#1d2330">')
    per_row = max(1, (width - LEFT) // 200)  # legend entries 200 units apart
    for slot, (name, colour, _, _, _) in enumerate(drawn):
        lx, ly = LEFT + 8 + (slot % per_row) * 200, TOP + 14 + (slot // per_row) * 16
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" '
                     f'fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{ly}">{escape(name)}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))
