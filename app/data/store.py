"""In-memory datasets: append-friendly sorted columns, label codes, version and epoch."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DatasetFailed, UnknownDataset
from .schema import Batch, Schema

MIN_CAPACITY = 1024
SMALL_BATCH = 32


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


@dataclass(frozen=True)
class Snapshot:
    """A consistent read-only view of a dataset at one version (arrays are not copied)."""

    name: str
    version: int
    epoch: str
    ts: np.ndarray  # int64 ns, sorted
    metric: np.ndarray  # int32 codes into metrics
    value: np.ndarray  # float64
    labels: dict[str, np.ndarray]  # int32 codes into label_values[name]; -1 = missing
    metrics: tuple[str, ...]
    label_values: dict[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.ts)


class Dataset:
    """One dataset's points in columns with spare capacity, kept sorted by time."""

    def __init__(self, name: str, schema: Schema, source: str = "memory",
                 retention: int = 0, max_age_ns: int = 0) -> None:
        self.name = name
        self.schema = schema
        self.source = source  # "file" or "memory"
        self.retention = retention  # points kept; 0 = no limit
        self.max_age_ns = max_age_ns  # kept back from the newest point; 0 = no limit
        self.version = 0
        self.epoch = new_epoch()
        self.updated_at = time.time()
        self.skipped = 0
        self.rows = 0  # source rows; a wide row holds one point per metric
        self.metrics = Categories(schema.metrics)
        self.label_names: tuple[str, ...] = schema.labels
        self.labels = {name: Categories() for name in schema.labels}
        self._n = 0
        self._lock = threading.RLock()
        self._alloc(MIN_CAPACITY)

    def _alloc(self, capacity: int) -> None:
        self._ts = np.empty(capacity, np.int64)
        self._metric = np.empty(capacity, np.int32)
        self._value = np.empty(capacity, np.float64)
        self._codes = {name: np.empty(capacity, np.int32) for name in self.label_names}

    def __len__(self) -> int:
        return self._n

    @property
    def start(self) -> int | None:
        """Oldest timestamp in memory (ns), or None when empty."""
        return int(self._ts[0]) if self._n else None

    @property
    def end(self) -> int | None:
        """Newest timestamp in memory (ns), or None when empty."""
        return int(self._ts[self._n - 1]) if self._n else None

    def _columns(self) -> list[np.ndarray]:
        return [self._ts, self._metric, self._value, *self._codes.values()]

    def _replace(self, columns: list[np.ndarray], capacity: int) -> None:
        """Swap in fresh buffers: snapshots taken before keep the old ones intact."""
        n = len(columns[0])
        old = self._columns()
        self._alloc(max(capacity, MIN_CAPACITY))
        for target, source in zip(self._columns(), columns, strict=True):
            target[:n] = source
        del old
        self._n = n

    def append(self, batch: Batch) -> int:
        """Add long-form points (any order) and return the new version."""
        with self._lock:
            k = len(batch)
            self.skipped += batch.skipped
            self.rows += k if batch.rows is None else batch.rows
            if k:
                self._append_sorted(batch)
                self._apply_retention()
            self.version += 1
            self.updated_at = time.time()
            return self.version

    def _append_one(self, batch: Batch) -> bool:
        """The common live case, one point at the end: scalar writes, no temporary arrays."""
        n = self._n
        ts = int(batch.ts[0])
        if n >= len(self._ts) or (n and ts < self._ts[n - 1]):
            return False
        self._ts[n] = ts
        self._metric[n] = self.metrics.code(str(batch.metric[0]))
        self._value[n] = batch.value[0]
        for name, codes in self._codes.items():
            column = batch.labels.get(name)
            value = None if column is None else column[0]
            codes[n] = -1 if value is None or value != value else self.labels[name].code(
                str(value))
        self._n = n + 1
        return True

    def _append_sorted(self, batch: Batch) -> None:
        k = len(batch)
        if k == 1 and self._append_one(batch):
            return
        order = np.argsort(batch.ts, kind="stable") if k > 1 else slice(None)
        new = [
            batch.ts[order],
            self.metrics.encode(batch.metric)[order],
            batch.value[order],
            *(self.labels[name].encode(batch.labels[name])[order] if name in batch.labels
              else np.full(k, -1, np.int32) for name in self.label_names),
        ]
        n = self._n
        if n == 0 or new[0][0] >= self._ts[n - 1]:
            if n + k > len(self._ts):
                self._replace([c[:n] for c in self._columns()], 2 * (n + k))
            for target, source in zip(self._columns(), new, strict=True):
                target[n:n + k] = source
            self._n = n + k
            return
        # Out of order: merge the late points into the tail that they overlap.
        pos = int(np.searchsorted(self._ts[:n], new[0][0], side="right"))
        tail = [np.concatenate([c[pos:n], s]) for c, s in zip(self._columns(), new, strict=True)]
        merged = np.argsort(tail[0], kind="stable")
        columns = [np.concatenate([c[:pos], t[merged]]) for c, t in zip(self._columns(), tail,
                                                                          strict=True)]
        self._replace(columns, 2 * (n + k))

    def _apply_retention(self) -> None:
        # Drop the oldest points in one copy once 25% over the limit, so the cost is amortised.
        n = self._n
        drop = 0
        if self.retention and n > self.retention * 1.25:
            drop = n - self.retention
        if self.max_age_ns:
            cutoff = int(self._ts[n - 1]) - self.max_age_ns
            old = int(np.searchsorted(self._ts[:n], cutoff, side="left"))
            if old > max(MIN_CAPACITY, n // 4):
                drop = max(drop, old)
        if drop:
            self.rows = round(self.rows * (n - drop) / n)  # rows kept, pro rata
            keep = slice(drop, n)
            self._replace([c[keep] for c in self._columns()], 2 * (n - drop))

    def touch(self) -> int:
        """Bump the version without new points (e.g. a reload that found nothing new)."""
        with self._lock:
            self.version += 1
            self.updated_at = time.time()
            return self.version

    def snapshot(self) -> Snapshot:
        """A consistent view of the current points; later appends do not change it."""
        with self._lock:
            n = self._n
            return Snapshot(
                name=self.name,
                version=self.version,
                epoch=self.epoch,
                ts=self._ts[:n],
                metric=self._metric[:n],
                value=self._value[:n],
                labels={name: codes[:n] for name, codes in self._codes.items()},
                metrics=tuple(self.metrics.values),
                label_values={name: tuple(c.values) for name, c in self.labels.items()},
            )


class Store:
    """The registry of datasets, plus the errors of files that could not be loaded.

    It changes only through its methods; listeners hear of every change by name.
    """

    def __init__(self, retention: int = 0, max_age_ns: int = 0) -> None:
        self.retention = retention
        self.max_age_ns = max_age_ns
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

    def create(self, name: str, schema: Schema, source: str = "memory") -> Dataset:
        """Register a new empty dataset (replacing any of that name: a new epoch)."""
        dataset = Dataset(name, schema, source, self.retention, self.max_age_ns)
        self._datasets[name] = dataset
        self._errors.pop(name, None)
        return dataset

    def remove(self, name: str) -> None:
        """Forget dataset ``name`` and its error (its file went away)."""
        self._datasets.pop(name, None)
        self._errors.pop(name, None)

    def append(self, name: str, batch: Batch) -> int:
        """Append to an existing dataset, notify listeners, return the new version."""
        version = self.get(name).append(batch)
        self.changed(name)
        return version
