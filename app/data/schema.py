"""The schema (timestamp, long or wide, labels, how the file is written), points in long
form (``Batch``) and the errors of reading: what every data module shares. Reading CSV
bytes is ``app.data.reader``'s job; this module imports nothing else of ``app.data``."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

DATASET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAT = np.iinfo(np.int64).min  # "no instant" in int64 nanosecond arrays


class SchemaError(ValueError):
    """A file or batch that is not a usable time series; the message says why."""


class ReadingChanged(SchemaError):
    """New lines settle what the pinned schema had only assumed (the day/month order, the
    decimal separator): read the whole file again without the pinned schema."""


@dataclass(frozen=True)
class Schema:
    """How a table maps onto points (which column is time, which are metrics, which are
    labels) and how its file is written, so appended lines are read the same way.

    Every field is JSON-friendly with a default: ``.<name>.schema.json`` sidecars hold
    ``dataclasses.asdict`` of it, and older sidecars without the later fields still load.
    """

    timestamp: str
    kind: Literal["long", "wide"]
    metrics: tuple[str, ...]  # wide: the metric columns; long: empty (names are data)
    labels: tuple[str, ...]
    numeric_time: bool = False
    time_of_day: str = ""  # a column with the time of day that goes with ``timestamp``'s dates
    time_format: str = ""  # "" is ISO-8601; else a layout of app.data.timestamps ("%d/%m/%Y")
    epoch_unit: str = ""  # numeric_time: "s", "ms", "us" or "ns" ("" = by magnitude)
    delimiter: str = ","
    quotechar: str = '"'
    decimal: str = "."
    encoding: str = "utf-8"
    assumed: tuple[str, ...] = ()  # readings no value settled: "date_order", "decimal"
    zone_column: str = ""  # a column naming the zone each row's naive timestamp is local to
    time_zone: str = ""  # the zone the timestamp column's name gives ("Time (CET)"): "CET"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this schema reads, in a stable order."""
        time = tuple(c for c in (self.timestamp, self.time_of_day, self.zone_column) if c)
        if self.kind == "long":
            return (*time, "metric", "value", *self.labels)
        return (*time, *self.metrics, *self.labels)

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Schema:
        """The schema a sidecar's JSON object describes (``TypeError``/``KeyError`` if none)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in fields.items() if k in known}
        return cls(**values)

    def ingest_mismatch(self) -> str:
        """Why ingest (comma-separated UTF-8, ISO-8601) cannot append to this file; "" if it can."""
        if self.numeric_time:
            return "keeps time as numbers"
        if self.time_of_day:
            return f"keeps the time of day apart, in {self.time_of_day!r}"
        if self.zone_column:
            return f"keeps time zones apart, in {self.zone_column!r}"
        if self.time_zone:
            return f"writes local times of {self.time_zone}"
        if self.time_format not in ("", "ISO8601"):
            return f"writes dates as {self.time_format}"
        if self.delimiter != "," or self.quotechar != '"':
            return f"separates columns with {self.delimiter!r}"
        if self.decimal != ".":
            return "writes decimal commas"
        if self.encoding not in ("utf-8", "utf-8-sig", "ascii"):
            return f"is encoded in {self.encoding}"
        return ""


@dataclass
class Batch:
    """Points in long form: one row per (timestamp, metric, value, labels)."""

    ts: np.ndarray  # int64 nanoseconds since the epoch, UTC
    metric: np.ndarray  # object array of metric names
    value: np.ndarray  # float64
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # object arrays; None = missing
    skipped: int = 0  # rows dropped because their timestamp did not parse
    rows: int | None = None  # source rows (a wide row holds a point per metric); None = points

    def __len__(self) -> int:
        return len(self.ts)


def is_valid_name(name: str) -> bool:
    """True if ``name`` may name a dataset."""
    return DATASET_NAME.fullmatch(name) is not None


def objects_or_none(series: pd.Series) -> np.ndarray:
    """A column as an object array with missing cells as None (what pandas-stubs cannot
    express: ``to_numpy(dtype=object, na_value=None)``)."""
    values: np.ndarray = series.to_numpy(
        dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def build_batch(schema: Schema, ts: np.ndarray, columns: Mapping[str, np.ndarray],
                skipped: int) -> Batch:
    """Long-form points from parsed columns, one row each: ``ts`` int64 ns (NAT rows give no
    points), each metric (long: "value") float64 (NaN is no point), "metric" and labels
    object arrays (None = missing). ``skipped`` is what the caller counted as left out."""
    good_time = ts != NAT
    labels = {name: columns[name] for name in schema.labels}
    if schema.kind == "long":
        value, metric = columns["value"], columns["metric"]
        keep = good_time & np.isfinite(value) & (metric != None)  # noqa: E711 - elementwise
        return Batch(ts[keep], metric[keep], value[keep],
                     {k: v[keep] for k, v in labels.items()}, skipped, int(keep.sum()))
    parts_ts, parts_metric, parts_value = [], [], []
    parts_labels: dict[str, list[np.ndarray]] = {k: [] for k in labels}
    has_value = np.zeros(len(ts), dtype=bool)
    for number, name in enumerate(schema.metrics):
        value = columns[name]
        keep = good_time & np.isfinite(value)
        has_value |= keep
        parts_ts.append(ts[keep])
        parts_value.append(value[keep])
        parts_metric.append(np.full(int(keep.sum()), number, dtype=np.int32))
        for k, v in labels.items():
            parts_labels[k].append(v[keep])
    if not parts_ts:
        return Batch(np.empty(0, np.int64), np.empty(0, object), np.empty(0), {}, skipped)
    # Interleave metrics by time so that a stable sort keeps a row's metrics together.
    ts_all = np.concatenate(parts_ts)
    order = np.argsort(ts_all, kind="stable")
    # Names are taken from a small array by index: filling an object array with one
    # string per point cost 0.3 s for 2M points, the take 0.02 s.
    names = np.array(schema.metrics, dtype=object)
    return Batch(
        ts_all[order],
        names[np.concatenate(parts_metric)[order]],
        np.concatenate(parts_value)[order],
        {k: np.concatenate(v)[order] for k, v in parts_labels.items()},
        skipped,
        int(has_value.sum()),
    )
