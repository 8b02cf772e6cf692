"""Ingest: a request body -> a validated batch of points, all or nothing."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..instants import END_INSTANT, FIRST_INSTANT, format_instants
from .dialect import split_csv
from .errors import Rejected, TooLarge
from .numbers import MISSING, NUMBER, read_cell
from .schema import Batch, Schema, SchemaError
from .timestamps import ISO_INSTANT, read_iso

CONTENT_TYPES = ("application/json", "application/x-ndjson", "text/csv")
MAX_EXACT_INT = 2 ** 53  # larger integers lose digits as float64
MAX_LABEL_LENGTH = 1024
MAX_ERRORS = 50  # errors listed in a 400; the count says how many there were
# A number as text in a CSV body: what every CSV reader reads back the same way.
CSV_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# JSON may escape half of a UTF-16 pair ("\udc00"): no file or response can hold it.
SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class DecodedBody:
    """The body decoded: one dict per point, and whether its values are text (CSV) or JSON."""

    items: list[Any]
    text_values: bool = False


@dataclass
class Validated:
    """A batch ready to write and apply: its schema, its points, and its CSV rows."""

    schema: Schema
    batch: Batch
    rows: list[dict[str, str]] = field(default_factory=list)  # column -> CSV cell


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup!r}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def decode(content_type: str, body: bytes, max_points: int) -> DecodedBody:
    """Decode a body of one of ``CONTENT_TYPES`` into raw points; ``Rejected`` or ``TooLarge``."""
    if not body.strip():
        raise Rejected("empty body: send an array of points")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"body is not valid UTF-8 (byte {exc.start})") from None
    if content_type == "application/json":
        try:
            data = _json(text)
        except ValueError as exc:
            raise Rejected(f"invalid JSON: {exc}") from None
        if isinstance(data, dict) and set(data) == {"points"}:
            data = data["points"]
        if not isinstance(data, list):
            raise Rejected('expected a JSON array of points or {"points": [...]}')
        points = DecodedBody(data)
    elif content_type == "application/x-ndjson":
        items = []
        # Only "\n" ends a line: str.splitlines() would also split inside strings at
        # U+2028 or U+0085, which JSON allows unescaped.
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                items.append(_json(line))
            except ValueError as exc:
                raise Rejected(f"invalid JSON on line {number}: {exc}") from None
        points = DecodedBody(items)
    else:
        # The same dialect rules as files (BOM, comment lines, delimiter and quoting,
        # trailing delimiters, duplicate names); timestamps stay ISO-8601 only.
        try:
            header, rows = split_csv(text)
        except SchemaError as exc:
            raise Rejected(f"invalid CSV: {exc}") from None
        items = []
        for row in rows:
            if len(row) != len(header):
                items.append(ValueError(f"has {len(row)} cells, the header has {len(header)}"))
            else:
                items.append(dict(zip(header, row, strict=True)))
        points = DecodedBody(items, text_values=True)
    if not points.items:
        raise Rejected("no points in the body")
    if len(points.items) > max_points:
        raise TooLarge(f"{len(points.items)} points in one batch; the limit is "
                               f"{max_points} (DASH_MAX_BATCH_POINTS)")
    return points


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, index: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append({"index": index, "field": _printable(column),
                               "message": _printable(message)})


def _printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udc00``, so the answer can quote it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _spreadsheet_number(value: str) -> str:
    """How to write ``value`` for ingest if it is a number as spreadsheets write it
    (``21,5``, ``$1.50``, ``45%``), else ""."""
    readings = []
    for decimal in (",", "."):
        cell = read_cell(value, decimal)
        if cell.status == NUMBER and f"{cell.value:.15g}" not in readings:
            readings.append(f"{cell.value:.15g}")
    if not readings:
        return ""
    if len(readings) == 1:
        return f"write {readings[0]}"
    return f"write {readings[1]}, or {readings[0]} if ',' is its decimal mark"


def _number(value: Any, text_values: bool) -> float | str:
    """A finite float, or a message saying why ``value`` is not one."""
    if text_values:
        if isinstance(value, str) and value.strip() == "":
            return "is empty"
        if not isinstance(value, str) or not CSV_NUMBER.fullmatch(value):
            if isinstance(value, str) and value.strip().lower() in MISSING:
                return f"{value!r} is not a number: leave the cell empty when there is none"
            if isinstance(value, str) and (how := _spreadsheet_number(value)):
                return (f"{value!r} is not a plain number: pushed points take numbers with "
                        f"a decimal point and no marks ({how})")
            return f"{value!r} is not a number"
        number = float(value)
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, not {type(value).__name__ if value is not None else 'null'}"
        if isinstance(value, int) and abs(value) > MAX_EXACT_INT:
            return "integer too large to store exactly (more than 2^53)"
        number = float(value)
    if not math.isfinite(number):
        return "must be a finite number"
    return number


def _label(value: Any) -> str | None:
    """None if ``value`` is a usable label, else why not."""
    if not isinstance(value, str):
        kind = type(value).__name__ if value is not None else "null"
        return f"labels must be strings, not {kind}"
    if len(value) > MAX_LABEL_LENGTH:
        return f"longer than {MAX_LABEL_LENGTH} characters"
    if SURROGATE.search(value):
        return "not valid Unicode: it holds half of a UTF-16 surrogate pair"
    if CONTROL.search(value):
        return "control characters (tab, CR, LF...) are not allowed in labels"
    return None


def _column_problem(name: str) -> str | None:
    """Why a new column name cannot go into a CSV header, if it cannot."""
    if not name or name != name.strip():
        return "column names may not be empty or start or end with spaces"
    if CONTROL.search(name) or SURROGATE.search(name) or len(name) > 200:
        return ("column names are at most 200 characters, without control characters or "
                "halves of UTF-16 surrogate pairs")
    return None


def _infer(points: DecodedBody) -> Schema:
    """The schema a new dataset's first batch implies: long if points name a metric."""
    dicts = [p for p in points.items if isinstance(p, dict)]
    keys: dict[str, None] = {}
    for p in dicts:
        keys.update(dict.fromkeys(k for k in p if k != "timestamp"))
    if "metric" in keys or "value" in keys:
        labels = tuple(k for k in keys if k not in ("metric", "value"))
        return Schema("timestamp", "long", (), labels)
    metrics: list[str] = []
    wide_labels: list[str] = []
    for key in keys:
        # the first value given: an empty cell or a null says nothing about the column
        given = [p[key] for p in dicts if key in p and p[key] not in ("", None)]
        sample = given[0] if given else None
        if points.text_values:
            # "21,5" and "$1.50" make a metric too, so that their 400 names them
            numeric = isinstance(sample, str) and (
                not isinstance(_number(sample, True), str) or bool(_spreadsheet_number(sample)))
        else:
            numeric = isinstance(sample, (int, float)) and not isinstance(sample, bool)
        (metrics if numeric else wide_labels).append(key)
    return Schema("timestamp", "wide", tuple(metrics), tuple(wide_labels))


def validate(points: DecodedBody, existing: Schema | None) -> Validated:
    """Check every point against the dataset's schema (or the one the batch implies).

    Raises ``Rejected`` listing the bad points; nothing is applied then.
    """
    schema = existing or _infer(points)
    errors = _Errors()
    time_keys = {"timestamp", schema.timestamp}
    allowed = set(schema.columns) | time_keys
    stamps: dict[int, tuple[str, str]] = {}  # point -> (its time key, its text)
    parsed: list[tuple[int, list[tuple[str, float]], dict[str, str | None]]] = []
    for i, point in enumerate(points.items):
        if isinstance(point, ValueError):
            errors.add(i, "", f"row {point!s}")
            continue
        if not isinstance(point, dict):
            errors.add(i, "", "a point must be an object")
            continue
        before = errors.count
        for key in (k for k in point if k not in allowed):
            errors.add(i, key, "unknown column; this dataset's columns are "
                               + ", ".join(schema.columns))
        if existing is None:
            for key in point:
                if (problem := _column_problem(key)):
                    errors.add(i, key, problem)
        given = [k for k in time_keys if k in point]
        if not given:
            errors.add(i, "timestamp", "required (an ISO-8601 string)")
        elif not isinstance(point[given[0]], str):
            errors.add(i, given[0], "must be an ISO-8601 string")
        elif not ISO_INSTANT.fullmatch(point[given[0]].strip()):
            errors.add(i, given[0], f"{point[given[0]]!r} is not a valid ISO-8601 instant")
        else:
            stamps[i] = (given[0], point[given[0]])
        for name in schema.labels:
            if name in point and (problem := _label(point[name])):
                errors.add(i, name, problem)
        values = _values(point, schema, points.text_values, i, errors)
        if not values and errors.count == before:
            errors.add(i, "", "no metric value: give at least one of "
                              + ", ".join(schema.metrics) if schema.metrics else
                       "no metric value: send a number in at least one column (wide form), "
                       "or 'metric' and 'value' (long form)")
        if errors.count == before:
            parsed.append((i, values, {n: point.get(n) or None for n in schema.labels}))
    ts_of: dict[int, int] = {}
    if stamps:
        order = list(stamps)
        times = read_iso(pd.Series([stamps[i][1] for i in order], dtype="string"))
        for i, ns in zip(order, times, strict=True):
            if not FIRST_INSTANT <= ns < END_INSTANT:  # NAT too: it is int64's smallest
                key, text = stamps[i]
                if 1678 <= int(text.strip()[:4]) <= 2261:  # ISO_INSTANT starts with a year
                    errors.add(i, key, f"{text!r} is not a valid ISO-8601 instant")
                else:
                    errors.add(i, key, f"{text!r} is outside the years 1678 to 2261: "
                                       "instants are stored as int64 nanoseconds")
            ts_of[i] = int(ns)
    if errors.count:
        errors.items.sort(key=lambda e: e["index"])
        shown = f" (first {MAX_ERRORS} listed)" if errors.count > MAX_ERRORS else ""
        raise Rejected(f"{errors.count} invalid field(s) in the batch{shown}; "
                               "nothing was stored", errors.items)
    out_ts = [ts_of[i] for i, values, _ in parsed for _ in values]
    batch = Batch(
        ts=np.array(out_ts, dtype=np.int64),
        metric=np.array([m for _, values, _ in parsed for m, _ in values], dtype=object),
        value=np.array([v for _, values, _ in parsed for _, v in values], dtype=np.float64),
        labels={name: np.array([lab[name] for _, values, lab in parsed for _ in values],
                               dtype=object) for name in schema.labels},
        rows=len(parsed),
    )
    good = [i for i, _, _ in parsed]
    return Validated(schema, batch, _csv_rows(schema, points, good, [ts_of[i] for i in good]))


def _values(point: dict[str, Any], schema: Schema, text_values: bool, i: int,
            errors: _Errors) -> list[tuple[str, float]]:
    """The (metric, value) pairs of one point; problems go to ``errors``."""
    values: list[tuple[str, float]] = []
    if schema.kind == "long":
        metric = point.get("metric")
        if not isinstance(metric, str) or not metric.strip():
            errors.add(i, "metric", "required: a non-empty string")
        elif metric != metric.strip() or CONTROL.search(metric) or SURROGATE.search(metric):
            errors.add(i, "metric", "metric names may not start or end with spaces "
                                    "or hold control characters or halves of UTF-16 "
                                    "surrogate pairs")
        if "value" not in point:
            errors.add(i, "value", "required: a number")
            return values
        number = _number(point["value"], text_values)
        if isinstance(number, str):
            errors.add(i, "value", number)
        elif isinstance(metric, str) and metric.strip():
            values.append((metric, number))
        return values
    for name in schema.metrics:
        if point.get(name) is None or (text_values and point[name] == ""):
            continue  # a wide row may leave some metrics out
        number = _number(point[name], text_values)
        if isinstance(number, str):
            errors.add(i, name, number)
        else:
            values.append((name, number))
    return values


def _csv_rows(schema: Schema, points: DecodedBody, good: list[int],
              ts: list[int]) -> list[dict[str, str]]:
    """The log lines: one per point as sent, timestamps normalised to UTC."""
    rows = []
    stamps = format_instants(np.array(ts, dtype=np.int64))
    for position, i in enumerate(good):
        point = points.items[i]
        row = {schema.timestamp: stamps[position]}
        for key, value in point.items():
            if key in ("timestamp", schema.timestamp):
                continue
            if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
                row[key] = repr(float(value))
            else:
                row[key] = "" if value is None else str(value)
        rows.append(row)
    return rows
