"""What the view page shows beside the chart: facets, per-trace stats, the rows table."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..data.store import Snapshot
from ..instants import DURATION_UNITS, SECOND, format_instants_in, parse_duration
from .cells import reduce_runs
from .compute import Result, aggregate_rows
from .drawing import ChartLimits, analyse
from .selection import Selection, codes_of, member, series_mask, time_bounds
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
    start, stop = time_bounds(snap, view, metric_ok)
    in_range[metric_ok] = stop - start
    out = []
    for label, names in snap.label_values.items():
        keep = series_mask(snap, view, skip=label)
        counts = np.bincount(snap.series_labels[label] + 1, weights=in_range * keep,
                             minlength=len(names) + 1)[1:].astype(np.int64)
        shown = np.flatnonzero(counts)
        hidden = max(0, len(shown) - limit)
        if hidden:  # only values at least as frequent as the limit-th can be shown
            cut = np.partition(counts[shown], hidden)[hidden]
            shown = shown[counts[shown] >= cut]
        ranked = sorted(shown.tolist(), key=lambda i: (-counts[i], names[i]))[:limit]
        selected = set(view.filter_values(label))
        values = [FacetValue(names[i], int(counts[i]), names[i] in selected) for i in ranked]
        present = {v.value for v in values}
        missing = sorted(selected - present)
        codes = codes_of(names, tuple(missing)).tolist()
        found = dict(zip([names[c] for c in codes], codes, strict=True))
        values += [FacetValue(v, int(counts[found[v]]) if v in found else 0, True)
                   for v in missing]
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
    if not len(sel.series):
        return out
    group = sel.group
    count = np.bincount(group, weights=sel.counts, minlength=n).astype(np.int64)
    total = np.bincount(group, weights=reduce_runs(snap.value, sel.start, sel.stop, np.add),
                        minlength=n)
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(low, group, reduce_runs(snap.value, sel.start, sel.stop, np.minimum))
    np.maximum.at(high, group, reduce_runs(snap.value, sel.start, sel.stop, np.maximum))
    # The newest point; at equal times the later series, as merged rows order them.
    last_at = snap.ts[sel.stop - 1]
    order = np.lexsort((np.arange(len(group)), last_at, group))
    newest = order[np.searchsorted(group[order], np.arange(n), side="right") - 1]
    for g in np.flatnonzero(count).tolist():
        i = int(newest[g])
        out[g] = Stats(sel.names[g], int(count[g]), float(low[g]), float(total[g] / count[g]),
                       float(high[g]), float(snap.value[sel.stop[i] - 1]), int(last_at[i]))
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


def view_rows(snap: Snapshot, view: View, limits: ChartLimits) -> tuple[Selection, Rows]:
    """The view's selected series and the rows behind its chart, in the chart's buckets
    (``analyse`` then ``rows``: pages, exports and dashboard tables show the same)."""
    sel, result = analyse(snap, view, limits)
    return sel, rows(snap, view, sel, result)


def rows(snap: Snapshot, view: View, sel: Selection, result: Result) -> Rows:
    """The rows behind the chart: raw points when it draws points, else aggregated buckets."""
    labels = tuple(snap.label_values)
    if result.agg == "raw":
        points = snap.merged(sel.series, sel.start, sel.stop)
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
        group, starts, out = aggregate_rows(snap, sel, result.bucket_ns, result.agg)
    else:  # the chart's traces are the aggregated rows already
        _, starts, out, first, last = result.columns()
        group = np.repeat(np.arange(len(first)), last - first)
    order = np.lexsort((group, -starts))  # newest bucket first, then trace order

    def get_agg(start: int, stop: int) -> list[tuple[Any, ...]]:
        idx = order[start:stop]
        return [(t, sel.names[int(g)], float(v))
                for t, g, v in zip(format_instants_in(starts[idx], view.tz), group[idx], out[idx],
                                   strict=True)]

    return Rows(("timestamp", "series", result.agg), len(order), get_agg)


# CSV injection (OWASP): a spreadsheet may run a text cell whose first character is one of
# ``= + - @`` (tab, CR, LF and NUL too), also after leading spaces, which Excel and
# LibreOffice skip. They also read the full-width and small forms (``＝ ＋ － ＠ ﹦ ﹢ ﹣ ﹫``)
# as the same signs, and skip invisible format characters (zero-width space, word joiner,
# byte-order mark) and other control characters before one: ``\u200b=1`` or ``\x0b=1``
# ran. So a text cell is neutralised (a leading ``'``, OWASP's advice) when, after any
# whitespace, control or format characters, its first character is one of ``= + - @``
# once NFKC-normalised, or when it starts with a control character at all.
FORMULA_SIGNS = frozenset("=+-@")
# Skipped before a formula sign: control (Cc: tab, CR, NUL, VT...), format (Cf: ZWSP, word
# joiner, BOM...) and space separators (Zs, Zl, Zp).
SKIPPED = frozenset(("Cc", "Cf", "Zs", "Zl", "Zp"))
# A text cell that is just a number (a label ``-2``, ``+1.5e3``) is read as that number
# and runs nothing: it stays as it is, as numbers in value columns do.
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def is_formula(cell: str) -> bool:
    """True if a spreadsheet could run text ``cell`` as a formula (or its start is hidden)."""
    if not cell or PLAIN_NUMBER.fullmatch(cell):
        return False
    if unicodedata.category(cell[0]) == "Cc":
        return True
    for char in cell:
        if unicodedata.category(char) not in SKIPPED and not char.isspace():
            return unicodedata.normalize("NFKC", char)[:1] in FORMULA_SIGNS
    return False


def neutralise(cell: Any) -> Any:
    """``cell`` with a leading ``'`` if it is text a spreadsheet could run; else as it is
    (numbers always)."""
    return "'" + cell if isinstance(cell, str) and is_formula(cell) else cell


def csv_chunks(table: Rows) -> Iterator[str]:
    """The rows as CSV text (header first), chunk by chunk, every cell through
    ``neutralise``: the one rule for every CSV the product writes for people."""
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
