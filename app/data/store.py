"""In-memory datasets: points grouped per series in time order, label codes, version, epoch."""
from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .buckets import Records
from .errors import DatasetFailed, Rejected, UnknownDataset
from .schema import Batch, Schema
from .series import SeriesColumns, run_index, search_runs

MIN_CAPACITY = 1024
MAX_WARNINGS = 20
SMALL_BATCH = 32
# Versions whose change time is kept: a page that missed more than this many is told the
# oldest kept one (lateness understated, never overstated).
CHANGES_KEPT = 64


def new_epoch() -> str:
    """A fresh epoch token: versions of different epochs are not comparable."""
    return uuid.uuid4().hex[:12]


class Categories:
    """Distinct values of one label (or the metric names), each with a stable integer code."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        for value in values:
            self.code(value)

    def code(self, value: str) -> int:
        """The code of ``value``, added if new."""
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Codes for an object array of values (None -> -1), adding new values."""
        if len(values) <= SMALL_BATCH:  # dict lookups beat factorize's set-up cost
            return np.array([-1 if v is None or v != v else self.code(str(v)) for v in values],
                            dtype=np.int32)
        local, uniques = pd.factorize(values, use_na_sentinel=True)
        mapping = np.array([self.code(str(u)) for u in uniques] + [-1], dtype=np.int32)
        return mapping[local]  # local == -1 picks the trailing -1

    def count_new(self, values: np.ndarray) -> int:
        """How many distinct values of an object array (None = missing) are not known yet."""
        present = [v for v in values if v is not None and v == v] if len(values) <= SMALL_BATCH \
            else pd.unique(values[pd.notna(values)])
        return sum(1 for v in {str(v) for v in present} if v not in self.index)


def check_values(column: str, known: Categories, values: np.ndarray, limit: int) -> None:
    """``Rejected`` naming ``column`` if ``values`` would take it past ``limit`` distinct
    values (0 = no limit); nothing is changed either way."""
    if not limit or len(known.values) + len(values) <= limit:
        return  # cannot pass it: no need to count
    total = len(known.values) + known.count_new(values)
    if total > limit:
        raise Rejected(f"label {column!r} would hold {total:,} distinct values; the limit "
                       f"is {limit:,} (DASH_MAX_LABEL_VALUES): nothing was stored. Values "
                       "like ids or timestamps belong in a metric or nowhere, not in a label")


class SeriesNames:
    """The series' display texts and their sort orders, one instance per set of series.

    Series are append-only and their texts never change, so every snapshot taken while
    no series is added shares one instance, and each order is sorted once, on first use:
    a ``by=series`` view over 10,000 series then picks its traces' order out of the
    sorted ids (0.1 ms) instead of building and sorting 10,000 strings (2.6 ms) per query.
    """

    def __init__(self, metrics: tuple[str, ...], series_metric: np.ndarray,
                 texts: tuple[str, ...]) -> None:
        self.metrics = metrics
        self.series_metric = series_metric  # int32 metric code per series
        self.texts = texts  # per series: its label values joined (" · "), or ""

    @cached_property
    def alone(self) -> np.ndarray:
        """Per series (an object array of str): its trace name when one metric is shown,
        its text or, when it has no labels, its metric's name. An array, as picking
        10,000 of them is one ``take`` (0.1 ms; 0.5 ms from a tuple)."""
        metrics = self.metrics
        names = np.empty(len(self.texts), object)
        names[:] = [text or metrics[m]
                    for text, m in zip(self.texts, self.series_metric.tolist(), strict=True)]
        return names

    @cached_property
    def by_alone(self) -> np.ndarray:
        """int64 series ids ordered by ``alone`` name, then id."""
        return _order(self.alone.tolist())

    @cached_property
    def by_text(self) -> np.ndarray:
        """int64 series ids ordered by text, then id: within one metric, the order of their
        ``"metric · text"`` names (the bare metric, text "", first)."""
        return _order(self.texts)


def _order(keys: Sequence[str]) -> np.ndarray:
    """int64 indices of ``keys`` in sorted order (Python's str order), ties by index."""
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), np.int64)


@dataclass(frozen=True)
class MergedPoints:
    """Points of some series merged into time order (equal times in series order)."""

    ts: np.ndarray  # int64 ns, sorted
    series: np.ndarray  # int64 series id per point
    metric: np.ndarray  # int32 codes into Snapshot.metrics
    value: np.ndarray  # float64
    labels: dict[str, np.ndarray]  # int32 codes into label_values[name]; -1 = missing


@dataclass(frozen=True)
class Snapshot:
    """A consistent read-only view of a dataset at one version (arrays are not copied).

    Points are held per series (one metric and one combination of label values), each
    series a time-ordered run of the shared columns ``ts``/``value``: series ``i`` is
    ``ts[series_start[i]:series_start[i] + series_count[i]]``. A metric filter or a
    split picks series, never masks points.
    """

    name: str
    version: int
    epoch: str
    metrics: tuple[str, ...]
    label_values: dict[str, tuple[str, ...]]
    series_metric: np.ndarray  # int32 metric code per series
    series_labels: dict[str, np.ndarray]  # int32 label codes per series; -1 = missing
    series_text: tuple[str, ...]  # per series: its label values joined (" · "), or ""
    series_names: SeriesNames  # the texts' sort orders (shared by snapshots, sorted lazily)
    series_start: np.ndarray  # int64 per series: where its points start in the columns
    series_count: np.ndarray  # int64 per series: its points
    # Per RANKED_TIERS, per series: how many of its values, from series_start on, are
    # ranked (sorted within each closed bucket) in ``ranked``.
    series_ranked: np.ndarray  # int64 (tiers, series)
    ts: np.ndarray  # int64 ns, every series' run (and room nobody reads)
    value: np.ndarray  # float64, aligned with ts
    ranked: tuple[np.ndarray, ...]  # per RANKED_TIERS: float64, aligned with ts
    points: int
    start: int | None  # oldest time (ns), None when empty
    end: int | None  # newest time (ns)
    # Per RANKED_TIERS: where each closed bucket of the series dense enough starts, its
    # number and its sum (``buckets.Records``); empty: none kept.
    bucket_records: tuple[Records, ...] = ()

    def __len__(self) -> int:
        return self.points

    def merged(self, series: np.ndarray | None = None, start: np.ndarray | None = None,
               stop: np.ndarray | None = None) -> MergedPoints:
        """Points of ``series`` (default all), each from column position ``start`` to
        ``stop`` (default all its points), in time order."""
        ids = (np.arange(len(self.series_start)) if series is None
               else np.asarray(series, np.int64))
        lo = self.series_start[ids] if start is None else start
        hi = self.series_start[ids] + self.series_count[ids] if stop is None else stop
        at = run_index(lo, hi - lo)
        sid = np.repeat(ids, hi - lo)
        order = np.argsort(self.ts[at], kind="stable")  # merges the already sorted runs
        at, sid = at[order], sid[order]
        return MergedPoints(self.ts[at], sid, self.series_metric[sid], self.value[at],
                            {name: codes[sid] for name, codes in self.series_labels.items()})


class Dataset:
    """One dataset's points, grouped per series, each series kept sorted by time."""

    def __init__(self, name: str, schema: Schema, source: str = "memory",
                 retention: int = 0, max_age_ns: int = 0, max_label_values: int = 0) -> None:
        self.name = name
        self.schema = schema
        self.source = source  # "file" or "memory"
        self.retention = retention  # points kept; 0 = no limit
        self.max_age_ns = max_age_ns  # kept back from the newest point; 0 = no limit
        self.max_label_values = max_label_values  # distinct values per label; 0 = no limit
        self.version = 0
        self.epoch = new_epoch()
        self.updated_at = time.time()
        # (version, updated_at) of the latest changes: when a page's first missed version
        # came to be ("Behind · updates N s late" counts from it).
        self._changes: deque[tuple[int, float]] = deque(maxlen=CHANGES_KEPT)
        self.skipped = 0
        # What reading the source assumed or left out, for people (the newest MAX_WARNINGS).
        self.warnings: tuple[str, ...] = ()
        self.rows = 0  # source rows; a wide row holds one point per metric
        self.metrics = Categories(schema.metrics)
        self.label_names: tuple[str, ...] = schema.labels
        self.labels = {name: Categories() for name in schema.labels}
        self.columns = SeriesColumns()
        self._series_index: dict[tuple[int, ...], int] = {}
        # (metric, *label codes) per series, rows past len(self._series_index) unused.
        self._codes = np.zeros((64, 1 + len(self.label_names)), np.int32)
        self._texts: list[str] = []  # label values joined, per series
        self._names: SeriesNames | None = None  # None: series were added since
        self._end: int | None = None
        self._snapshot: Snapshot | None = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self.columns.points

    @property
    def start(self) -> int | None:
        """Oldest timestamp in memory (ns), or None when empty."""
        cols = self.columns
        held = np.flatnonzero(cols.count[:cols.series])
        return int(cols.ts[cols.start[held]].min()) if len(held) else None

    @property
    def end(self) -> int | None:
        """Newest timestamp in memory (ns), or None when empty."""
        return self._end if self.columns.points else None

    def admit(self, batch: Batch) -> None:
        """``Rejected`` if ``batch`` would give a label (or, in long form, the metric names)
        more than ``max_label_values`` distinct values; nothing is changed either way."""
        with self._lock:
            if self.schema.kind == "long":
                check_values("metric", self.metrics, batch.metric, self.max_label_values)
            for name, values in batch.labels.items():
                if name in self.labels:
                    check_values(name, self.labels[name], values, self.max_label_values)

    def append(self, batch: Batch) -> int:
        """Add long-form points (any order) and return the new version; ``Rejected`` (and
        nothing added) past ``max_label_values``."""
        with self._lock:
            self.admit(batch)
            k = len(batch)
            self.skipped += batch.skipped
            self.rows += k if batch.rows is None else batch.rows
            if k:
                if k == 1:
                    self._append_one(batch)
                else:
                    self._append_many(batch)
                newest = int(batch.ts.max()) if k > 1 else int(batch.ts[0])
                self._end = newest if self._end is None else max(self._end, newest)
                self._apply_retention()
            self.version += 1
            self._snapshot = None
            self.updated_at = time.time()
            self._changes.append((self.version, self.updated_at))
            return self.version

    def _series_id(self, key: tuple[int, ...]) -> int:
        found = self._series_index.get(key)
        if found is None:
            found = self._series_index[key] = self.columns.add_series()
            if found == len(self._codes):
                grown = np.zeros((len(self._codes) * 2, self._codes.shape[1]), np.int32)
                grown[:found] = self._codes
                self._codes = grown
            self._codes[found] = key
            self._texts.append(" · ".join(self.labels[name].values[code] for name, code in
                                          zip(self.label_names, key[1:], strict=True)
                                          if code >= 0))
            self._names = None
        return found

    def _append_one(self, batch: Batch) -> None:
        """The common live case, one point: dict look-ups and scalar writes, no arrays."""
        codes = [self.metrics.code(str(batch.metric[0]))]
        for name in self.label_names:
            column = batch.labels.get(name)
            value = None if column is None else column[0]
            codes.append(-1 if value is None or value != value else self.labels[name].code(
                str(value)))
        sid = self._series_id(tuple(codes))
        self.columns.append_one(sid, int(batch.ts[0]), float(batch.value[0]))

    def _append_many(self, batch: Batch) -> None:
        k = len(batch)
        codes = [self.metrics.encode(batch.metric)]
        codes += [self.labels[name].encode(batch.labels[name]) if name in batch.labels
                  else np.full(k, -1, np.int32) for name in self.label_names]
        by_time = np.argsort(batch.ts, kind="stable")  # ~free when already in order
        sid = self._series_ids([c[by_time] for c in codes])  # new series in order of time
        order = by_time[np.argsort(sid, kind="stable")]  # by series, then time
        sid = np.sort(sid, kind="stable")
        ts = batch.ts[order].astype(np.int64)
        self.columns.append(sid, ts, batch.value[order].astype(np.float64))

    def _series_ids(self, codes: list[np.ndarray]) -> np.ndarray:
        """Series id per point for (metric, *label) code columns, registering new series."""
        bases = [len(self.metrics.values)] + [len(self.labels[n].values) + 1
                                              for n in self.label_names]
        if np.prod(np.array(bases, dtype=np.float64)) < 2.0 ** 62:
            key = codes[0].astype(np.int64)
            for base, column in zip(bases[1:], codes[1:], strict=True):
                key = key * base + (column + 1)  # mixed radix: one int64 per combination
            uniques, first, local = np.unique(key, return_index=True, return_inverse=True)
            keys = []
            for u in uniques[np.argsort(first)].tolist():
                parts = []
                for base in reversed(bases[1:]):
                    u, code = divmod(u, base)
                    parts.append(code - 1)
                keys.append((u, *reversed(parts)))
        else:  # too many combinations for one int64: compare rows
            rows, first, local = np.unique(np.stack(codes, axis=1), axis=0, return_index=True,
                                           return_inverse=True)
            keys = [tuple(r) for r in rows[np.argsort(first)].tolist()]
        # Register new series in order of first appearance, so ids follow time.
        by_first = np.argsort(first)
        mapping = np.empty(len(keys), dtype=np.int64)
        mapping[by_first] = [self._series_id(key) for key in keys]
        return mapping[local.ravel()]

    def _apply_retention(self) -> None:
        # Drop the oldest points once 25% over the limit, so the copies are amortised.
        if not (self.retention or self.max_age_ns):
            return
        cols = self.columns
        n = cols.points
        drop = 0
        if self.retention and n > self.retention * 1.25:
            drop = n - self.retention
        starts, counts = cols.start[:cols.series], cols.count[:cols.series]
        if self.max_age_ns and self._end is not None:
            old = int(search_runs(cols.ts, starts, counts, self._end - self.max_age_ns).sum())
            if old > max(MIN_CAPACITY, n // 4):
                drop = max(drop, old)
        if not drop:
            return
        # The `drop` oldest points: all before the newest time dropped, then at that
        # time as many as needed, series by series.
        times = cols.ts[run_index(starts, counts)]
        last = times[np.argpartition(times, drop - 1)[drop - 1]]
        before = search_runs(cols.ts, starts, counts, last)
        at = search_runs(cols.ts, starts, counts, last, right=True) - before
        extra = drop - int(before.sum())
        take = np.clip(extra - (np.cumsum(at) - at), 0, at)
        cols.drop_oldest(before + take)
        self.rows = round(self.rows * (n - drop) / n)  # rows kept, pro rata

    def warn(self, sentences: Iterable[str]) -> None:
        """Keep ``sentences`` among the dataset's warnings (the newest ``MAX_WARNINGS``)."""
        with self._lock:
            self.warnings = (*self.warnings, *sentences)[-MAX_WARNINGS:]

    def apply(self, batch: Batch, version: int) -> int:
        """Add ``batch`` as version ``version``, the number a shared log gave it (cluster
        mode), instead of the next local one; returns ``version``.

        No label limit here: the process that wrote the batch admitted it, and refusing
        it at this one would leave the processes with different data.
        """
        with self._lock:
            limit, self.max_label_values = self.max_label_values, 0
            try:
                self.append(batch)
            finally:
                self.max_label_values = limit
            self.version = version
            if self._changes:  # append numbered it as the next version; it is ``version``
                self._changes[-1] = (version, self._changes[-1][1])
            return version

    def renumber(self, version: int) -> None:
        """Make the current points version ``version``: a file's version is the number of
        its lines read (``DataFolder``), the same in every process that read them."""
        with self._lock:
            if version == self.version:
                return
            self.version = version
            self._snapshot = None
            # The change just made (numbered as the next version by append) is this one.
            at = self._changes[-1][1] if self._changes else time.time()
            while self._changes and self._changes[-1][0] >= version:
                self._changes.pop()
            self._changes.append((version, at))

    def first_change_after(self, version: int) -> float | None:
        """When (``time.time()`` s) the first version after ``version`` came to be; None when
        ``version`` is the newest. Past the kept history, the oldest kept change."""
        with self._lock:
            if version >= self.version:
                return None
            later = [at for v, at in self._changes if v > version]
            return later[0] if later else self.updated_at

    def touch(self) -> int:
        """Bump the version without new points (e.g. a reload that found nothing new)."""
        with self._lock:
            self.version += 1
            self._snapshot = None
            self.updated_at = time.time()
            self._changes.append((self.version, self.updated_at))
            return self.version

    def snapshot(self) -> Snapshot:
        """A consistent view of the current points; later appends do not change it."""
        with self._lock:
            if self._snapshot is not None:
                return self._snapshot
            cols = self.columns
            n = cols.series
            codes = self._codes[:n]
            if self._names is None or len(self._names.texts) != n:
                self._names = SeriesNames(tuple(self.metrics.values), codes[:, 0].copy(),
                                          tuple(self._texts))
            names = self._names
            self._snapshot = Snapshot(
                name=self.name,
                version=self.version,
                epoch=self.epoch,
                metrics=tuple(self.metrics.values),
                label_values={name: tuple(c.values) for name, c in self.labels.items()},
                series_metric=names.series_metric,
                series_labels={name: codes[:, 1 + i].copy()
                               for i, name in enumerate(self.label_names)},
                series_text=names.texts,
                series_names=names,
                series_start=cols.start[:n].copy(),
                series_count=cols.count[:n].copy(),
                series_ranked=cols.ranked_count[:, :n].copy(),
                ts=cols.ts,
                value=cols.value,
                ranked=tuple(cols.ranked),
                points=cols.points,
                start=self.start,
                end=self.end,
                bucket_records=tuple(r.frozen() for r in cols.records),
            )
            return self._snapshot


class Store:
    """The registry of datasets, plus the errors of files that could not be loaded.

    It changes only through its methods; listeners hear of every change by name.
    """

    def __init__(self, retention: int = 0, max_age_ns: int = 0,
                 max_label_values: int = 0) -> None:
        self.retention = retention
        self.max_age_ns = max_age_ns
        self.max_label_values = max_label_values
        self._datasets: dict[str, Dataset] = {}
        self._errors: dict[str, str] = {}  # dataset name -> why it has no (fresh) data
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` after every change to a dataset."""
        self._listeners.append(listener)

    def changed(self, name: str) -> None:
        """Tell listeners that dataset ``name`` has a new version."""
        for listener in self._listeners:
            listener(name)

    def get(self, name: str) -> Dataset:
        """The dataset called ``name``; ``DatasetFailed`` if only its file's error is known,
        else ``UnknownDataset``."""
        try:
            return self._datasets[name]
        except KeyError:
            error = self._errors.get(name)
            if error is not None:
                raise DatasetFailed(name, error) from None
            raise UnknownDataset(name) from None

    def find(self, name: str) -> Dataset | None:
        """The dataset called ``name``, or None."""
        return self._datasets.get(name)

    def error(self, name: str) -> str | None:
        """Why dataset ``name`` could not be (re)loaded, or None."""
        return self._errors.get(name)

    def fail(self, name: str, message: str) -> None:
        """Record why ``name`` could not be loaded (a loaded dataset keeps its data)."""
        self._errors[name] = message

    def clear_error(self, name: str) -> None:
        """``name`` loaded fine again."""
        self._errors.pop(name, None)

    def names(self) -> list[str]:
        """Every dataset or failed file, sorted by name."""
        return sorted(set(self._datasets) | set(self._errors))

    def __len__(self) -> int:
        return len(self._datasets)

    def create(self, name: str, schema: Schema, source: str = "memory",
               epoch: str | None = None) -> Dataset:
        """Register a new empty dataset (replacing any of that name: a new epoch, or
        ``epoch`` when a shared log gave it one)."""
        dataset = self.build(name, schema, source)
        if epoch is not None:
            dataset.epoch = epoch
        self.install(dataset)
        return dataset

    def build(self, name: str, schema: Schema, source: str = "memory") -> Dataset:
        """A new empty dataset with this store's limits, not registered yet: filled while
        the one it replaces still serves, then ``install``-ed."""
        return Dataset(name, schema, source, self.retention, self.max_age_ns,
                       self.max_label_values)

    def install(self, dataset: Dataset) -> None:
        """Register ``dataset`` under its name, replacing any of that name (and its error)."""
        self._datasets[dataset.name] = dataset
        self._errors.pop(dataset.name, None)

    def admit(self, schema: Schema, batch: Batch) -> None:
        """``Rejected`` if ``batch`` could not be the first of a dataset of ``schema``
        (too many distinct values in a label; see ``Dataset.admit``)."""
        Dataset("", schema, max_label_values=self.max_label_values).admit(batch)

    def remove(self, name: str) -> None:
        """Forget dataset ``name`` and its error (its file went away)."""
        self._datasets.pop(name, None)
        self._errors.pop(name, None)

    def append(self, name: str, batch: Batch) -> int:
        """Append ``batch`` to dataset ``name``, notify listeners, return its new version.

        ``UnknownDataset`` (``DatasetFailed`` for a file that failed to load) when there is
        no such dataset; ``Rejected`` past ``max_label_values``: nothing added, nobody told.
        """
        version = self.get(name).append(batch)
        self.changed(name)
        return version
