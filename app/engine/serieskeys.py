"""Series identity: which labels tell apart points at the same instant, and the traces of
``by=series`` (one per metric and combination of those labels)."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..data.series import run_index
from ..data.store import Snapshot
from .compute import Selection, select
from .view import View

# Per metric, the newest points looked at (spread over its stored series): enough to see
# which labels vary at one instant, and it bounds the cost whatever the dataset's size
# (1M points of 20 hosts: 26 ms with 50,000, ~5 ms with 10,000).
SAMPLE_POINTS = 10_000
MIN_TAIL = 16
# When no two points share an instant, series that report in turn (web-1 at :00, web-2 at
# :07) are told apart by their own points being spaced at least this many times the gap
# between any two consecutive points (2 hosts: 2x; a daily label with runs of days: ~1x).
TURN_GAPS = 1.5


def _combine(key: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Dense ids of the pairs (``key``, ``codes``): one id per distinct pair."""
    joined = key.astype(np.int64) * (int(codes.max(initial=-1)) + 2) + codes + 1
    return np.unique(joined, return_inverse=True)[1].ravel()


def _metric_keys(snap: Snapshot, sids: np.ndarray) -> list[str]:
    """The labels that key the stored series ``sids`` (all of one metric)."""
    tail = max(MIN_TAIL, SAMPLE_POINTS // max(len(sids), 1))
    counts = np.minimum(snap.series_count[sids], tail)
    ts = snap.ts[run_index(snap.series_start[sids] + snap.series_count[sids] - counts, counts)]
    sid = np.repeat(sids, counts)
    order = np.argsort(ts, kind="stable")  # by time, then series (``sids`` ascend)
    ts, sid = ts[order], sid[order]
    # A point repeated in its own series (a row sent twice, a logger's double write) is one
    # point here: it tells no series apart, and its zero gap would hide series taking turns.
    distinct = np.concatenate(([True], (ts[1:] != ts[:-1]) | (sid[1:] != sid[:-1])))
    ts, sid = ts[distinct], sid[distinct]
    instant = np.concatenate(([0], np.cumsum(ts[1:] != ts[:-1])))
    wanted = len(np.unique(_combine(instant, sid)))  # every series apart at every instant
    labels = [name for name, codes in snap.series_labels.items()
              if len(np.unique(codes[sids])) > 1]
    chosen: list[str] = []
    key = instant
    # Greedy: add the label that tells apart the most points sharing an instant, until
    # every series is apart. A label that only describes the instant (a daily weather,
    # the same for every series at that time) tells nothing apart and is never chosen.
    while len(np.unique(key)) < wanted:
        scored = [(len(np.unique(candidate)), name, candidate)
                  for name in labels if name not in chosen
                  for candidate in [_combine(key, snap.series_labels[name][sid])]]
        best = max(scored, default=None, key=lambda s: s[0])
        if best is None or best[0] <= len(np.unique(key)):
            break
        chosen.append(best[1])
        key = best[2]
    # Two series at one instant always differ in a label, which the loop above chose; so
    # within each line of the chosen labels no instant holds two series (one series'
    # repeated points are gone), yet its series may take turns (web-1 at :00, web-2 at
    # :07; in each region, when both regions report at :00 and :07).
    if len(ts) < 3:
        return chosen
    key = np.zeros(len(ts), np.int64)
    for name in chosen:
        key = _combine(key, snap.series_labels[name][sid])
    mean_gap = _mean_gaps(ts, key)
    for name in labels:
        if name in chosen:
            continue
        candidate = _combine(key, snap.series_labels[name][sid])
        if len(np.unique(candidate)) > len(np.unique(key)) and \
                _takes_turns(ts, candidate, mean_gap):
            chosen.append(name)
            key = candidate
    return chosen


def _mean_gaps(ts: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Per point (``ts`` sorted, ns), the mean gap between consecutive points of its
    ``line`` (dense ids); 0 for a line of one point."""
    count = np.bincount(line)
    first = np.full(len(count), np.iinfo(np.int64).max)
    last = np.full(len(count), np.iinfo(np.int64).min)
    np.minimum.at(first, line, ts)
    np.maximum.at(last, line, ts)
    gaps = (last - first) / np.maximum(count - 1, 1)
    return np.take(gaps, line)


def _takes_turns(ts: np.ndarray, group: np.ndarray, mean_gap: np.ndarray) -> bool:
    """True when each group's own points are spaced well apart while the groups of its
    line (``mean_gap``: per point, its line's) together come more often: concurrent series
    in turn. A label that describes stretches of time (rain on two days running) has
    groups whose own points follow each other closely."""
    order = np.argsort(group, kind="stable")  # ts is sorted: each group stays in time order
    g, t, m = group[order], ts[order], mean_gap[order]
    same = g[1:] == g[:-1]
    gaps = (t[1:] - t[:-1])[same]
    if len(gaps) == 0:
        return False
    return float(np.percentile(gaps / m[1:][same], 10)) > TURN_GAPS


def key_labels(snap: Snapshot) -> tuple[str, ...]:
    """The labels that tell series apart, in the dataset's label order.

    ``host`` when several hosts report at one instant (or at staggered instants, each
    host in turn); never a label such as a daily ``weather`` that is the same for every
    point at an instant. A series is one metric and one combination of these labels.
    """
    found: set[str] = set()
    for code in range(len(snap.metrics)):
        sids = np.flatnonzero((snap.series_metric == code) & (snap.series_count > 0))
        if len(sids) > 1:
            found.update(_metric_keys(snap, sids))
    return tuple(name for name in snap.series_labels if name in found)


class SeriesKeys:
    """``key_labels`` per dataset, found again when the data could answer otherwise
    (thread-safe).

    The answer is ``key_labels`` of a snapshot of the same epoch and stored series, with
    as many series still short of ``MIN_TAIL`` points and from half to twice the points:
    the demo's every tick keeps it, while a dataset ingested a point at a time is looked
    at again as its series grow (2 points of 2 hosts in turn cannot tell turns apart, 4
    can), so it ends as a file of the same points loaded at once. Looking again on every
    new point would cost every tick 5-7 ms for 4 hosts' 2 metrics, 45 ms for 10 metrics;
    looking when the points double costs a few looks over a dataset's life.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[tuple[str, int, int], int, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def labels(self, snap: Snapshot) -> tuple[str, ...]:
        """The key labels of ``snap``'s dataset."""
        short = int(np.count_nonzero((snap.series_count > 0) & (snap.series_count < MIN_TAIL)))
        mark = (snap.epoch, len(snap.series_metric), short)
        with self._lock:
            hit = self._known.get(snap.name)
        if hit and hit[0] == mark and hit[1] // 2 < snap.points < 2 * hit[1]:
            return hit[2]
        found = key_labels(snap)
        with self._lock:
            self._known[snap.name] = (mark, snap.points, found)
        return found


@dataclass(frozen=True)
class Split:
    """A label the page offers to split by, and the view's canonical query with it."""

    label: str
    values: int
    query: str


@dataclass(frozen=True)
class TooMany:
    """``by`` found more lines than it draws one by one: ``series`` (by=series) or values
    of the label split by (``by`` that label: a label of 10,000 values made 10,000
    traces, a 4 MB figure that froze the browser)."""

    series: int
    limit: int
    splits: tuple[Split, ...]
    label: str | None = None  # the label split by, when not by=series

    @property
    def _lines(self) -> str:
        return "series" if self.label is None else f"values of {self.label}"

    def short(self) -> str:
        """The notice in a line, for the chart itself."""
        text = (f"{self.series:,} {self._lines}, more than {self.limit}: one line per metric "
                "across them")
        if self.splits:
            text += f"; split by {self.splits[0].label} to see them apart"
        return text

    def as_json(self, band: bool = True) -> dict[str, Any]:
        """The notice in the figure payload: a sentence and the splits offered; ``band``:
        the chart draws the min–max band around each line (``agg=auto``'s mean does; a
        p95 across them has none)."""
        text = (f"{self.series:,} {self._lines}: more than the {self.limit} drawn one by one, "
                "so the chart shows one line per metric across them"
                + (", with their min–max band." if band else "."))
        if self.splits:
            text += " Split by " + " or ".join(s.label for s in self.splits) + " to see them apart."
        return {"kind": "too-many-series", "text": text, "series": self.series,
                "limit": self.limit,
                "split": [{"label": s.label, "values": s.values, "query": s.query}
                          for s in self.splits]}


def trace_names(snap: Snapshot, metric: str, labels: Sequence[str], codes: Sequence[int],
                with_metric: bool) -> str:
    """A series as a trace name: its key label values (and the metric when several)."""
    values = [snap.label_values[name][code] for name, code in zip(labels, codes, strict=True)
              if code >= 0]
    if with_metric or not values:
        values.insert(0, metric)
    return " · ".join(values)


def _splits(snap: Snapshot, view: View, base: Selection, max_series: int) -> tuple[Split, ...]:
    """Labels of ``base``'s series with 2..``max_series`` values: splits the page offers."""
    splits = []
    for name in snap.series_labels:
        count = len(np.unique(snap.series_labels[name][base.series]))
        if 1 < count <= max_series:
            splits.append(Split(name, count, replace(view.chart, by=name).query))
    splits.sort(key=lambda s: (s.values, s.label))
    return tuple(splits)


def select_series(snap: Snapshot, view: View, labels: Sequence[str],
                  max_series: int) -> tuple[Selection, TooMany | None]:
    """The view's selection: for ``by=series`` one trace per series keyed by ``labels``
    (stored series that differ only in other labels are one series), or one per metric
    with a ``TooMany`` notice past ``max_series``; ``by`` a label as ``compute.select``, or
    one per metric with a ``TooMany`` notice when the label has more than ``max_series``
    values among the view's series."""
    if view.by != "series":
        chosen = select(snap, view)
        if view.by in (None, "none") or view.by not in snap.series_labels:
            return chosen, None
        values = len(np.unique(snap.series_labels[view.by][chosen.series]))
        if values <= max_series:
            return chosen, None
        base = select(snap, replace(view, by="none"))
        return base, TooMany(values, max_series, _splits(snap, view, base, max_series),
                             view.by)
    base = select(snap, replace(view, by="none"))
    keys = [name for name in labels if name in snap.series_labels]
    columns = [base.group] + [snap.series_labels[name][base.series].astype(np.int64)
                              for name in keys]
    if len(base.series) == 0:
        return base, None
    rows, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if len(rows) > max_series:
        return base, TooMany(len(rows), max_series, _splits(snap, view, base, max_series))
    several = len(base.names) > 1
    names = [trace_names(snap, base.names[int(row[0])], keys, [int(c) for c in row[1:]],
                         several) for row in rows]
    order = sorted(range(len(rows)), key=lambda i: (int(rows[i][0]), names[i]))
    position = np.empty(len(rows), np.int64)
    position[order] = np.arange(len(rows))
    return (Selection(base.series, base.start, base.stop, position[inverse],
                      tuple(names[i] for i in order)), None)
