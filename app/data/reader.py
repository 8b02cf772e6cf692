"""CSV bytes as people write them -> schema, points, and what was skipped or assumed.

``read`` is the one entry point (files, and lines appended to them). It goes in order:
``dialect`` (encoding, comment lines, delimiter and quoting, names), ``frame`` (the data
lines as cells), ``columns`` (each column's role, from a sample of rows), ``timecolumns``
(every row's instant, through ``timestamps`` and ``zones``), ``values`` (every metric
cell, through ``numbers``). Every decision about a column is made from all of its
values; what could not be read is counted and explained in the reading's warnings, with
line numbers as an editor shows them (comments and header counted).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .columns import filled_cells, infer_schema
from .dialect import Dialect, check_names, decode, file_dialect, preamble
from .frame import frame_of, read_frame, stripped_text, too_wide
from .lines import SHOWN, line_numbers, listed, rows_phrase
from .schema import (
    NAT,
    Batch,
    ReadingChanged,
    Schema,
    SchemaError,
    build_batch,
    objects_or_none,
)
from .timecolumns import read_times, reasons
from .timestamps import DATE_ORDERS, EMPTY, OK
from .values import read_values

SAMPLE_ROWS = 1000  # rows that choose the columns' roles; every value is read with them


@dataclass(frozen=True)
class Reading:
    """A file read: its schema, its points (``batch.skipped`` rows left out) and warnings,
    human sentences on what was skipped and why, and what was assumed."""

    schema: Schema
    batch: Batch
    warnings: tuple[str, ...] = ()

    @property
    def skipped(self) -> int:
        """Rows left out while reading (unreadable timestamp, more cells than the header)."""
        return self.batch.skipped


def read(data: bytes, schema: Schema | None = None, date_order: str = "MDY",
         line_offset: int = 0) -> Reading:
    """Read CSV bytes (header first) into a schema, its points, and warnings.

    With ``schema`` (pinned, e.g. for appended lines) the file must have its columns and
    is read its way; ``date_order`` ("MDY" or "DMY") reads dates that fit both orders
    throughout. ``line_offset`` is added to line numbers in warnings (the lines of the
    file before ``data``'s first data line, less those of its header). Raises
    ``SchemaError`` with what to change, or ``ReadingChanged`` (a ``SchemaError``) when
    lines read with a pinned ``schema`` settle what it had assumed: read the whole file
    again without it.
    """
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {DATE_ORDERS}, not {date_order!r}")
    if not data or data.isspace():
        raise SchemaError("the file is empty")
    if schema is not None and schema.encoding.startswith("utf-16"):
        raise ReadingChanged("UTF-16 files are read whole")
    body, encoding, notes = decode(data, schema.encoding if schema else "")
    start, before, sep = preamble(body)
    if start >= len(body):
        raise SchemaError("the file is empty" if not before else
                          "the file has comment lines but no header line")
    dialect = file_dialect(body, start, schema.delimiter if schema else sep,
                           schema.quotechar if schema else "")
    header_stop = body.find(b"\n", start)
    data_start = len(body) if header_stop < 0 else header_stop + 1
    lines_before_data = before + 1 + line_offset
    names = list(dialect.names)
    check_names(names)
    # One spare column past the header's: a trailing delimiter fills it with nothing, a row
    # with a cell more than the header fills it with something (and is skipped).
    width = len(names) + 1
    payload = body[data_start:]
    warnings_: list[str] = [*notes]
    if dialect.note and schema is None:
        warnings_.append(dialect.note)
    position = {name: i for i, name in enumerate(names) if name}

    check: tuple[str, ...] = ()
    if schema is None:
        sample, _, _ = frame_of(payload, dialect, width, {}, ".", SAMPLE_ROWS)
        texts = {name: filled_cells(sample[i]) for name, i in position.items()}
        schema, check, notes_ = infer_schema(texts, dialect, encoding)
        warnings_.extend(notes_)
        inferred = True
    else:
        inferred = False
        missing = [c for c in schema.columns if c not in position]
        if missing:
            raise SchemaError(f"columns changed: missing {', '.join(missing)}")
        extra = [n for n in position if n not in schema.columns]
        if extra:
            raise SchemaError(f"columns changed: unexpected {', '.join(extra)}")
    return _read_all(payload, dialect, width, names, schema, inferred, date_order,
                     lines_before_data, warnings_, check)


def _read_all(payload: bytes, dialect: Dialect, width: int, names: Sequence[str],
              schema: Schema, inferred: bool, date_order: str, lines_before: int,
              notes: list[str], check: Sequence[str] = ()) -> Reading:
    """Read every data line with ``schema`` (settling what the sample left open); the
    ``check`` labels become metrics when most of all their cells are numbers."""
    position = {name: i for i, name in enumerate(names) if name}
    value_columns = schema.metrics if schema.kind == "wide" else ("value",)
    fast = {position[c]: "float64" for c in value_columns} \
        if schema.decimal != dialect.delimiter and "decimal" not in schema.assumed else {}
    if schema.numeric_time:
        # exact integers straight from the C reader: converting text took 0.45 s a pass
        fast[position[schema.timestamp]] = "Int64"
    frame, bad, seen = read_frame(payload, dialect, width, fast, schema.decimal)
    rows = len(frame)
    for i, name in enumerate(names):
        if not name and stripped_text(frame[i]).notna().any():
            raise SchemaError(f"column {i + 1} has values but no name in the header: "
                              "name it, or remove it")
    extra = None
    if dialect.quotechar.encode() in payload:
        newlines = sum((frame[i].str.count("\n").fillna(0).to_numpy(dtype=np.int64)
                        for i in range(frame.shape[1])
                        if pd.api.types.is_string_dtype(frame[i])),
                       np.zeros(rows, dtype=np.int64))
        if newlines.any():
            extra = np.concatenate([[0], np.cumsum(newlines)[:-1]])
    line_of = line_numbers(rows, bad, lines_before + 1, extra)

    def bad_line(record: int) -> int:
        return lines_before + record + (int(extra[min(record - 1, rows - 1)])
                                        if extra is not None and rows else 0)

    overflow, wide_note = too_wide(frame, names, dialect, bad, seen, payload, line_of,
                                   bad_line)
    found: list[str] = []
    ts, times, assumed = read_times(frame, position, schema, inferred, date_order, line_of,
                                    found)

    # -- rows left out
    reason = times.reason.copy()
    blank = np.zeros(rows, dtype=bool)
    candidates = np.flatnonzero(reason == EMPTY)
    if len(candidates):
        cells = frame.iloc[candidates]
        blank[candidates] = cells.apply(lambda col: col.astype("str").str.strip()
                                        .fillna("").eq("")).all(axis=1).to_numpy()
    skip = (reason != OK) & ~blank | overflow
    column = frame[position[schema.timestamp]]
    text = column if str(column.dtype) == "Int64" else column.astype("str")
    for code, why in reasons(schema, times).items():
        at = np.flatnonzero((reason == code) & ~blank & ~overflow)
        if len(at):
            example = "" if code == EMPTY else f"; e.g. {str(text.iloc[int(at[0])]).strip()!r}"
            found.append(f"{rows_phrase(len(at))} skipped: {why} "
                         f"({listed([line_of(int(r)) for r in at[:SHOWN + 1]])}{example})")
    if wide_note:
        found.append(wide_note)
    ts = np.where(skip, NAT, ts).astype(np.int64)

    # -- values
    columns, metrics, decimal = read_values(frame, position, schema, inferred, check, ts,
                                            line_of, dialect, assumed, found)
    if inferred and schema.kind == "wide" and not metrics:
        raise SchemaError("no numeric column to chart: add numeric columns (wide form) "
                          "or 'metric' and 'value' columns (long form)"
                          + "".join(f"; {why}" for why in found if "is kept as a label" in why))
    kept = (*metrics, *(c for c in ("metric", "value") if schema.kind == "long"))
    taken = (schema.timestamp, schema.time_of_day, schema.zone_column)
    labels = tuple(n for n in names if n and n not in kept and n not in taken)
    schema = replace(schema, metrics=tuple(metrics), labels=labels,
                     time_format="" if times.time_format == "ISO8601" else times.time_format,
                     epoch_unit=times.epoch_unit or schema.epoch_unit, decimal=decimal,
                     assumed=tuple(sorted(assumed)))
    for name in (*schema.labels, *(("metric",) if schema.kind == "long" else ())):
        columns[name] = objects_or_none(frame[position[name]].astype("str"))
    batch = build_batch(schema, ts, columns, int(skip.sum()) + len(bad))
    return Reading(schema, batch, tuple(notes + found))
