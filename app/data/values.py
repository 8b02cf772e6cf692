"""The value columns of a frame read from every cell: the decimal separator all of them
imply (or the pinned one), numbers as spreadsheets write them, which columns are metrics
(most of their cells are numbers) and which stay labels, and sentences naming the cells
that hold no number."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import numbers as num
from .columns import LABEL_NOTE_SHARE, is_metric
from .dialect import Dialect
from .frame import stripped_text
from .lines import SHOWN, LineOf, listed
from .schema import NAT, ReadingChanged, Schema, SchemaError


def read_values(frame: pd.DataFrame, position: dict[str, int], schema: Schema,
                inferred: bool, check: Sequence[str], ts: np.ndarray, line_of: LineOf,
                dialect: Dialect, assumed: set[str], found: list[str]
                ) -> tuple[dict[str, np.ndarray], list[str], str]:
    """(each metric's float64 values, NaN where a cell holds none; the metrics; the decimal
    separator). A fresh reading (``inferred``) decides separator and metrics from every
    cell of rows with an instant (``ts`` not NAT), the ``check`` labels included; a pinned
    ``schema`` keeps its own. Sentences naming cells that hold no number go to ``found``.

    ``SchemaError`` for a column that mixes units or decimal separators;
    ``ReadingChanged`` when new lines contradict or settle a pinned separator.
    """
    value_columns = schema.metrics if schema.kind == "wide" else ("value",)
    keep = ts != NAT
    columns: dict[str, np.ndarray] = {}
    texts = {c: stripped_text(frame[position[c]]) for c in (*value_columns, *check)
             if frame[position[c]].dtype != "float64"}
    decimal = schema.decimal
    if texts:
        decimal = _decide_decimal(texts, schema, inferred, dialect, keep, assumed, found, line_of)
    metrics: list[str] = []
    for name in (n for n in position if n in value_columns or n in check):
        if name not in texts:
            columns[name] = frame[position[name]].to_numpy(dtype="float64")
            metrics.append(name)
            continue
        numbers = num.read_numbers(texts[name], decimal)
        units = num.mixed_units(numbers)
        if units:
            (a, b) = (numbers.uniques[k] for k in units)
            raise SchemaError(
                f"column {name!r} mixes units: {a!r} (line "
                f"{line_of(numbers.first_row(units[0]))}) and {b!r} (line "
                f"{line_of(numbers.first_row(units[1]))}): write one unit per column")
        filled = numbers.count(num.NUMBER, num.HUGE, num.STRAY, where=keep)
        words = numbers.count(num.WORD, where=keep)
        if inferred and schema.kind == "wide" and not is_metric(filled, words):
            if filled >= LABEL_NOTE_SHARE * (filled + words):
                found.append(_label_note(name, numbers, keep, filled, words, line_of))
            continue
        columns[name] = numbers.values
        metrics.append(name)
        if inferred:
            found.extend(num.unit_notes(name, numbers))
        note = num.cell_notes(name, numbers, keep, line_of, decimal)
        if note:
            found.append(note)
    if schema.kind == "long":
        metrics = []
    elif not inferred:
        metrics = list(schema.metrics)
    return columns, metrics, decimal


def _label_note(name: str, numbers: num.Numbers, keep: np.ndarray, filled: int, words: int,
                line_of: LineOf) -> str:
    """Why a column with numbers among its cells is a label."""
    at = np.flatnonzero(keep & (numbers.status == num.WORD))[:SHOWN + 1]
    examples = list(dict.fromkeys(numbers.uniques[int(numbers.codes[r])] for r in at))[:3]
    cells = "is a number" if filled == 1 else "are numbers"
    return (f"{name!r} is kept as a label: only {filled} of its {filled + words} filled cells "
            f"{cells}, and a metric needs most of them to be (not numbers: "
            f"{', '.join(map(repr, examples))} on {listed([line_of(int(r)) for r in at])})")


def _decide_decimal(texts: dict[str, pd.Series], schema: Schema, inferred: bool, dialect: Dialect,
            keep: np.ndarray, assumed: set[str], found: list[str], line_of: LineOf) -> str:
    """The decimal separator every cell of ``texts`` implies (a fresh reading), or the
    pinned one; ``SchemaError`` when numbers disagree, ``ReadingChanged`` when new lines
    contradict or settle what the pinned schema read."""
    total = num.Votes()
    where: list[tuple[str, pd.Series, np.ndarray]] = []  # (column, distinct values, rows)
    offset = 0
    for name, text in texts.items():
        codes, uniques = pd.factorize(text.where(keep))
        values = [str(u) for u in uniques]
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        filled, words = num.is_numeric(values)
        if not is_metric(filled, words):
            continue
        total.add(num.votes(values, counts.tolist()), offset)
        present, rows = np.unique(codes, return_index=True)  # each value's first row
        first = np.zeros(len(values), dtype=np.int64)
        first[present[present >= 0]] = rows[present >= 0]
        where.append((name, pd.Series(values, dtype="object"), first))
        offset += len(values)
    decimal, either, mixed = num.decide_decimal(total, dialect.delimiter)
    if not inferred:
        settled = total.comma or total.point
        if "decimal" in schema.assumed and settled and decimal != schema.decimal:
            raise ReadingChanged("new lines settle the decimal separator")
        if "decimal" not in schema.assumed and (
                total.point if schema.decimal == "," else total.comma):
            raise ReadingChanged("new lines write numbers with the other decimal separator")
        return schema.decimal
    if mixed:
        raise _mixed_decimals(total, where, line_of)
    assumed.discard("decimal")
    if either:
        assumed.add("decimal")
        number = num.read_cell(either, decimal).value
        found.append(f"numbers like {either!r} read as {number:g}: "
                     + ("a decimal comma, as ';'-separated files write" if decimal == ","
                        else "a decimal point" if "." in either
                        else "',' groups thousands outside ';'-separated files"))
    return decimal


def _mixed_decimals(total: num.Votes, where: list[tuple[str, pd.Series, np.ndarray]],
                    line_of: LineOf) -> SchemaError:
    """The refusal for numbers written with a decimal point and with a decimal comma."""
    def locate(index: int) -> tuple[str, str, int]:
        for name, values, first in where:
            if index < len(values):
                return name, str(values.iloc[index]), int(first[index])
            index -= len(values)
        raise IndexError(index)

    point_column, point, point_row = locate(total.point_only)
    comma_column, comma, comma_row = locate(total.comma_only)
    return SchemaError(
        f"column {point_column!r} writes numbers with a decimal point ({point!r}, line "
        f"{line_of(point_row)}) and "
        + (f"with a decimal comma ({comma!r}, line {line_of(comma_row)})"
           if comma_column == point_column
           else f"column {comma_column!r} with a decimal comma ({comma!r}, line "
                f"{line_of(comma_row)})")
        + ": write every number the same way, with one decimal separator")
