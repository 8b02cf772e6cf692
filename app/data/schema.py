"""The schema (timestamp, long or wide, labels, how the file is written) and points;
reading CSV bytes is ``app.data.reader``'s job, ``read_table`` its entry point."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .reader import Reading

TIMESTAMP_NAMES = ("time", "date", "datetime", "ts")
DATASET_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAT = np.iinfo(np.int64).min


class SchemaError(ValueError):
    """A file or batch that is not a usable time series; the message says why."""


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

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this schema reads, in a stable order."""
        time = (self.timestamp, self.time_of_day) if self.time_of_day else (self.timestamp,)
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


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _to_utc_ns(parsed: pd.Series) -> np.ndarray:
    """Datetime series (tz-aware) -> int64 ns in UTC; NaT, and instants that int64 ns
    cannot hold (before 1678 or after 2261), become ``NAT``."""
    values = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    scale = UNIT_NS[np.datetime_data(values.dtype)[0]]
    ticks = values.view("int64")
    limit = np.iinfo(np.int64).max // scale
    ok = ~np.isnat(values) & (ticks > -limit) & (ticks < limit)
    out = np.full(len(ticks), NAT, dtype=np.int64)
    out[ok] = ticks[ok] * scale
    return out


def parse_times(series: pd.Series, numeric: bool = False, iso_only: bool = False) -> np.ndarray:
    """Parse a timestamp column to int64 UTC nanoseconds; unparseable cells become ``NAT``.

    Zoned timestamps are converted to UTC, naive ones are taken as UTC. Numbers are
    epoch seconds, milliseconds, microseconds or nanoseconds by magnitude. Files go
    through ``app.data.reader`` instead; ``iso_only`` (for ingest) accepts ISO-8601 alone.
    """
    if numeric:
        from .timestamps import epoch_unit, read_epochs

        text = series.astype("string").str.strip()
        unit = epoch_unit(text)
        return read_epochs(text, unit).ns if unit else np.full(len(text), NAT, dtype=np.int64)
    text = series.astype("string").str.strip()
    for fmt in ("ISO8601",) if iso_only else ("ISO8601", "mixed"):
        try:
            parsed = pd.to_datetime(text, utc=True, format=fmt, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            continue
        if parsed.notna().sum() == text.notna().sum():
            break
    return _to_utc_ns(parsed)


def _parses_as_times(series: pd.Series) -> bool:
    sample = series.dropna().astype(str).head(50)
    if sample.empty or sample.str.fullmatch(r"[-+]?\d+(\.\d+)?").all():
        return False  # bare numbers are values, not dates
    return bool((parse_times(sample) != NAT).all())


def find_timestamp(frame: pd.DataFrame) -> str:
    """The timestamp column by the SPEC's rule, or a ``SchemaError``."""
    columns = [str(c) for c in frame.columns]
    if "timestamp" in columns:
        return "timestamp"
    for name in TIMESTAMP_NAMES:
        if name in columns:
            return name
    for name in columns:
        if not _is_numeric(frame[name]) and _parses_as_times(frame[name]):
            return name
    raise SchemaError(
        "no timestamp column: name one 'timestamp', 'time', 'date', 'datetime' or 'ts', "
        "or put ISO-8601 dates in a column"
    )


def infer_schema(frame: pd.DataFrame) -> Schema:
    """Decide timestamp, long or wide form, metrics and labels from a sample of rows."""
    if frame.columns.empty:
        raise SchemaError("the file has no header row")
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise SchemaError(f"duplicate column names: {', '.join(map(str, duplicated))}")
    timestamp = find_timestamp(frame)
    numeric_time = _is_numeric(frame[timestamp])
    others = [str(c) for c in frame.columns if str(c) != timestamp]
    if "metric" in others and "value" in others:
        labels = tuple(c for c in others if c not in ("metric", "value"))
        return Schema(timestamp, "long", (), labels, numeric_time)
    if frame.empty:
        raise SchemaError("no rows yet: the header is there, the data is not")
    # A column with no values at all says nothing: a label, not an empty metric.
    metrics = tuple(c for c in others if _is_numeric(frame[c]) and frame[c].notna().any())
    if not metrics:
        raise SchemaError(
            "no numeric column to chart: add numeric columns (wide form) "
            "or 'metric' and 'value' columns (long form)"
        )
    labels = tuple(c for c in others if c not in metrics)
    return Schema(timestamp, "wide", metrics, labels, numeric_time)


def objects_or_none(series: pd.Series) -> np.ndarray:
    """A column as an object array with missing cells as None (what pandas-stubs cannot
    express: ``to_numpy(dtype=object, na_value=None)``)."""
    values: np.ndarray = series.to_numpy(
        dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def _text_array(series: pd.Series) -> np.ndarray:
    """A text column as an object array, missing cells as None."""
    return objects_or_none(series.astype("string"))


def to_batch(frame: pd.DataFrame, schema: Schema) -> Batch:
    """Normalise a table that follows ``schema`` into long-form points, skipping bad timestamps."""
    ts = parse_times(frame[schema.timestamp], schema.numeric_time)
    columns = {name: _text_array(frame[name]) for name in schema.labels}
    if schema.kind == "long":
        columns["metric"] = _text_array(frame["metric"])
        names: tuple[str, ...] = ("value",)
    else:
        names = schema.metrics
    for name in names:
        columns[name] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")
    return build_batch(schema, ts, columns, int((ts == NAT).sum()))


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


def read_table(data: bytes, schema: Schema | None = None, date_order: str = "MDY",
               line_offset: int = 0) -> Reading:
    """Parse CSV bytes as people write them into a schema, its points and warnings.

    See ``app.data.reader.read``: ``SchemaError`` when the file is unusable (the message
    says what to change), ``ReadingChanged`` (a ``SchemaError``) when lines read with a
    pinned ``schema`` settle what it had assumed: read the whole file again without it.
    """
    from .reader import read

    return read(data, schema, date_order, line_offset)
