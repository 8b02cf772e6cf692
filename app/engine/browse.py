"""What the view page shows beside the chart: facets, per-trace stats, the rows table."""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..data.store import Snapshot
from ..instants import DURATION_UNITS, SECOND, format_instants_in, parse_duration
from .compute import Result, Selection, aggregate, codes_of, member, series_mask, time_parts
from .view import View

FACET_LIMIT = 30
# Units as people read them after a number: "last 6 h of data", "15 min".
UNIT_WORDS = (("d", "d"), ("h", "h"), ("m", "min"), ("s", "s"))


@dataclass(frozen=True)
class FacetValue:
    """One value of a label, its point count, and whether the view filters on it."""

    value: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Facet:
    """A label's values, most frequent first (at most ``FACET_LIMIT`` shown)."""

    label: str
    values: tuple[FacetValue, ...]
    hidden: int  # values with points that did not make the cut


def facets(snap: Snapshot, view: View, limit: int = FACET_LIMIT) -> list[Facet]:
    """Counts per label value in the view's time range and metrics.

    Each label is counted under the view's filters on the *other* labels, so a
    user can add a second value of a label already filtered (as faceted search does).
    """
    # Counted per series (points in range), then summed per label value: no per-point work.
    metric_ok = np.flatnonzero(member(snap.series_metric, codes_of(snap.metrics, view.metrics)))
    in_range = np.zeros(len(snap.series_metric), dtype=np.int64)
    in_range[metric_ok] = [p.stop - p.start for p in time_parts(snap, view, metric_ok)]
    out = []
    for label, names in snap.label_values.items():
        keep = series_mask(snap, view, skip=label)
        counts = np.bincount(snap.series_labels[label] + 1, weights=in_range * keep,
                             minlength=len(names) + 1)[1:].astype(np.int64)
        selected = set(view.filter_values(label))
        shown = [i for i in np.flatnonzero(counts)]
        shown.sort(key=lambda i: (-counts[i], names[i]))
        values = [FacetValue(names[i], int(counts[i]), names[i] in selected) for i in shown]
        hidden = max(0, len(values) - limit)
        values = values[:limit]
        present = {v.value for v in values}
        values += [FacetValue(v, 0 if v not in names else int(counts[names.index(v)]), True)
                   for v in sorted(selected - present)]
        out.append(Facet(label, tuple(values), hidden))
    return out


def facet_id(label: str, value: str) -> str:
    """A stable HTML id for a facet value's link, whatever characters the value has: live
    updates morph the facets in place and keep the link someone focused by this id."""
    digest = hashlib.blake2s(f"{label}\0{value}".encode(), digest_size=6).hexdigest()
    return f"facet-{digest}"


def duration_words(duration: str) -> str:
    """A window or bucket (``6h``, ``90s``, ``2d``, ``15m``) as people write it: ``6 h``,
    ``90 s``, ``2 d``, ``15 min``; ``all`` and ``auto`` as they are."""
    try:
        ns = parse_duration(duration)
    except ValueError:
        return duration
    for unit, word in UNIT_WORDS:
        if ns % DURATION_UNITS[unit] == 0 and (unit != "d" or ns >= 2 * DURATION_UNITS["d"]):
            return f"{ns // DURATION_UNITS[unit]:,} {word}"
    return f"{ns // SECOND:,} s"


def age_words(seconds: float) -> str:
    """How long ago something happened, ``seconds`` before now: ``just now``, ``5 s ago``,
    ``2 min ago``, ``3 h ago``, ``4 d ago`` (``... from now`` when it is ahead of the clock).
    static/dash.js writes the same words as time passes."""
    if abs(seconds) < 2:
        return "just now"
    whole = abs(seconds)
    if whole < 60:
        text = f"{whole // 1:.0f} s"
    elif whole < 3600:
        text = f"{whole // 60:.0f} min"
    elif whole < 2 * 86400:
        text = f"{whole // 3600:.0f} h"
    else:
        text = f"{whole // 86400:,.0f} d"
    return f"{text} ago" if seconds > 0 else f"{text} from now"


@dataclass(frozen=True)
class Stats:
    """Summary of one trace's raw points in the view."""

    name: str
    count: int
    min: float | None
    mean: float | None
    max: float | None
    last: float | None
    last_at: int | None  # ns


def stats(snap: Snapshot, sel: Selection) -> list[Stats]:
    """Count, min, mean, max and last value per trace, over raw (not aggregated) points."""
    n = len(sel.names)
    out = [Stats(name, 0, None, None, None, None, None) for name in sel.names]
    found: list[list[tuple[int, float, float, float, int, float]]] = [[] for _ in range(n)]
    for sid, part, g in zip(sel.series.tolist(), sel.parts, sel.group.tolist(), strict=True):
        values = snap.series_value[sid][part]
        found[g].append((len(values), float(values.sum()), float(values.min()),
                         float(values.max()), int(snap.series_ts[sid][part.stop - 1]),
                         float(values[-1])))
    for g, parts in enumerate(found):
        if not parts:
            continue
        count = sum(p[0] for p in parts)
        # The newest point; at equal times the later series, as merged rows order them.
        newest = max(range(len(parts)), key=lambda i: (parts[i][4], i))
        out[g] = Stats(sel.names[g], count, min(p[2] for p in parts),
                       sum(p[1] for p in parts) / count, max(p[3] for p in parts),
                       parts[newest][5], parts[newest][4])
    return out


@dataclass(frozen=True)
class Rows:
    """The view's rows, newest first: raw points, or one row per trace and bucket."""

    columns: tuple[str, ...]
    total: int
    _get: Any  # (start, stop) -> list of row tuples, newest first

    def page(self, number: int, size: int) -> list[tuple[Any, ...]]:
        """Rows of 1-based page ``number`` (never more than ``size``)."""
        start = (number - 1) * size
        return self._get(start, min(start + size, self.total)) if start < self.total else []

    def pages(self, size: int) -> int:
        """How many pages of ``size`` (at least 1)."""
        return max(1, -(-self.total // size))

    def chunks(self, size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """Every row, newest first, in chunks (for exports)."""
        for start in range(0, self.total, size):
            yield self._get(start, min(start + size, self.total))


def rows(snap: Snapshot, view: View, sel: Selection, result: Result) -> Rows:
    """The rows behind the chart: raw points when it draws points, else aggregated buckets."""
    labels = tuple(snap.label_values)
    if result.agg == "raw":
        points = snap.merged(sel.series, sel.parts)
        newest_first = np.arange(len(points.ts))[::-1]

        def get_raw(start: int, stop: int) -> list[tuple[Any, ...]]:
            idx = newest_first[start:stop]
            label_cols = [[snap.label_values[name][c] if c >= 0 else "" for c in
                           points.labels[name][idx]] for name in labels]
            stamps = format_instants_in(points.ts[idx], view.tz)
            return [(t, snap.metrics[m], float(v), *ls) for t, m, v, *ls in
                    zip(stamps, points.metric[idx], points.value[idx], *label_cols,
                        strict=True)]

        return Rows(("timestamp", "metric", "value", *labels), len(newest_first), get_raw)

    if result.truncated:  # the chart kept only the newest buckets; the rows keep all
        assert result.bucket_ns is not None
        traces = aggregate(snap, sel, result.bucket_ns, result.agg)
        group = np.concatenate([np.full(len(x), i) for i, (x, _) in enumerate(traces)]
                               or [np.empty(0, np.int64)])
        starts = np.concatenate([x for x, _ in traces] or [np.empty(0, np.int64)])
        out = np.concatenate([y for _, y in traces] or [np.empty(0)])
    else:  # the chart's traces are the aggregated rows already
        group = np.concatenate([np.full(len(t.x), i) for i, t in enumerate(result.traces)]
                               or [np.empty(0, np.int64)])
        starts = np.concatenate([t.x for t in result.traces] or [np.empty(0, np.int64)])
        out = np.concatenate([t.y for t in result.traces] or [np.empty(0)])
    order = np.lexsort((group, -starts))  # newest bucket first, then trace order

    def get_agg(start: int, stop: int) -> list[tuple[Any, ...]]:
        idx = order[start:stop]
        return [(t, sel.names[int(g)], float(v))
                for t, g, v in zip(format_instants_in(starts[idx], view.tz), group[idx], out[idx],
                                   strict=True)]

    return Rows(("timestamp", "series", result.agg), len(order), get_agg)


# A spreadsheet may run a cell starting with one of these as a formula (OWASP's CSV
# injection list: = + - @, tab, carriage return; line feed and NUL too, and the
# full-width forms some spreadsheets read as the same) -- also after leading spaces,
# which Excel and LibreOffice skip.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d",
                 "\uff20")


def neutralise(cell: Any) -> Any:
    """A text cell a spreadsheet would execute, made inert with a leading quote."""
    if isinstance(cell, str) and (cell.startswith(FORMULA_START)
                                  or cell.lstrip().startswith(FORMULA_START)):
        return "'" + cell
    return cell


def csv_chunks(table: Rows) -> Iterator[str]:
    """The rows as CSV text (header first), chunk by chunk, formulas neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise(c) for c in table.columns])
    for chunk in table.chunks():
        writer.writerows([neutralise(c) for c in row] for row in chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def json_chunks(table: Rows, meta: dict[str, Any]) -> Iterator[bytes]:
    """``{...meta, "columns": [...], "rows": [{column: value}, ...]}``, chunk by chunk."""
    head = orjson.dumps({**meta, "columns": list(table.columns)})
    yield head[:-1] + b',"rows":['
    first = True
    for chunk in table.chunks():
        body = orjson.dumps([dict(zip(table.columns, row, strict=True)) for row in chunk])[1:-1]
        if body:
            yield body if first else b"," + body
            first = False
    yield b"]}"
