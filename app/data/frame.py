"""A CSV file's data lines as a pandas frame of positional columns, read by its dialect:
plain numbers straight from pandas' C reader where every cell is one, else text; the
lines the C reader drops, and the rows with more cells than the header."""
from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import numbers as num
from .dialect import Dialect
from .lines import SHOWN, LineOf, listed, rows_phrase
from .schema import SchemaError

TRUNCATED = "Length of header or names does not match length of data"
BAD_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def stripped_text(column: pd.Series) -> pd.Series:
    """A column as stripped text, NA where a cell is empty."""
    text = column.astype("str").str.strip()
    return text.mask(text == "")


def frame_of(body: bytes, dialect: Dialect, width: int, dtypes: dict[int, str], decimal: str,
             nrows: int | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The data lines as a frame with positional columns (at least ``width``), the bad
    lines' numbers (1-based records with more cells than the frame has) and their widths.

    pandas drops the cells past ``width`` of every row, silently, when the first data row
    has more cells than that: the frame is read again as wide as that row, so that rows
    with cells past the header's are seen (and skipped, or refused) here.
    """
    for _ in range(8):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(body), header=None, names=list(range(width)), index_col=False,
                dtype={i: dtypes.get(i, "str") for i in range(width)}, sep=dialect.delimiter,
                quotechar=dialect.quotechar, skipinitialspace=dialect.skipinitialspace,
                decimal=decimal, keep_default_na=False, na_values=[""],
                skip_blank_lines=False, on_bad_lines="warn", nrows=nrows, engine="c",
                encoding="utf-8")
        if not any(TRUNCATED in str(w.message) for w in caught):
            break
        first = pd.read_csv(io.BytesIO(body), header=None, nrows=1, dtype="str",
                            sep=dialect.delimiter, quotechar=dialect.quotechar,
                            skipinitialspace=dialect.skipinitialspace, engine="c",
                            keep_default_na=False, encoding="utf-8")
        width = max(width * 2, first.shape[1])
    else:
        raise SchemaError("the first data line has far more cells than the header")
    found = sorted((int(m.group(1)), int(m.group(3))) for w in caught
                   for m in BAD_LINE.finditer(str(w.message)))
    return (frame, np.array([b for b, _ in found], dtype=np.int64),
            np.array([n for _, n in found], dtype=np.int64))


class _Again(Exception):
    """The C reader's numbers need a second look as text (inf, or digits beyond 2^53)."""


def read_frame(payload: bytes, dialect: Dialect, width: int, fast: dict[int, str],
               decimal: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The frame, bad lines and their widths as ``frame_of`` gives them, with plain numbers
    parsed by pandas' C reader when every cell of the ``fast`` columns (position -> dtype,
    "float64" or "Int64") is one; else every column as text. ``SchemaError`` when pandas
    cannot read the lines at all."""
    try:
        try:
            if not fast:
                return frame_of(payload, dialect, width, {}, ".")
            frame, bad, seen = frame_of(payload, dialect, width, fast, decimal)
            for i, dtype in fast.items():
                # inf, -Infinity and 1e400 parse as floats; whole numbers past 2^53 lose
                # digits: their cells are read as text, counted and named.
                if dtype == "float64" and (np.abs(frame[i].to_numpy()) >= num.EXACT).any():
                    raise _Again
            return frame, bad, seen
        except TypeError:
            # a fraction in the Int64 epoch column: the numbers may still be plain
            return read_frame(payload, dialect, width,
                              {i: d for i, d in fast.items() if d != "Int64"}, decimal)
        except (ValueError, _Again):
            # one cell that is no plain number: every column as text
            return frame_of(payload, dialect, width, {}, ".")
    except (ValueError, pd.errors.ParserError) as exc:
        raise SchemaError(f"not a readable CSV file: {exc}".strip()) from None


def too_wide(frame: pd.DataFrame, names: Sequence[str], dialect: Dialect, bad: np.ndarray,
             seen: np.ndarray, payload: bytes, line_of: LineOf, bad_line: LineOf
             ) -> tuple[np.ndarray, str]:
    """Rows with cells past the header's (a trailing delimiter's empty cell aside), and
    the sentence for the warnings; ``SchemaError`` when most data rows have them."""
    rows = len(frame)
    spare = range(len(names), frame.shape[1])
    overflow = np.zeros(rows, dtype=bool)
    cells = np.zeros(rows, dtype=np.int64)
    for i in spare:
        filled = frame[i].notna().to_numpy()
        if filled.any():
            at = np.flatnonzero(filled)
            there = frame[i].iloc[at].astype("str").str.strip().ne("").to_numpy()
            overflow[at[there]] = True
            cells[at[there]] = i + 1
    wide = int(overflow.sum()) + len(bad)
    if not wide:
        return overflow, ""
    header = len([n for n in names if n])
    lines = sorted([bad_line(int(b)) for b in bad[:SHOWN + 1]]
                   + [line_of(int(r)) for r in np.flatnonzero(overflow)[:SHOWN + 1]])
    # the first such line as written (the C reader may have made "21" of it 21.0)
    first = int(np.argmax(overflow)) if overflow.any() else -1
    line = line_of(first) if first >= 0 else bad_line(int(bad[0]))
    if len(bad) and bad_line(int(bad[0])) < line:
        line = bad_line(int(bad[0]))
    index = line - line_of(0) if rows else line - bad_line(1)
    text = payload.split(b"\n", index + 1)[index].decode("utf-8", "replace").rstrip("\r")
    row = next(csv.reader([text], delimiter=dialect.delimiter, quotechar=dialect.quotechar),
               [])
    hint = ""
    while row and not row[-1].strip():
        row.pop()  # a trailing delimiter's empty cell
    if dialect.delimiter == ",":
        # a decimal comma splits a number in two cells: as many such pairs as extra cells
        pairs, k = [], 0
        while k < len(row) - 1:
            a, b = row[k].strip(), row[k + 1].strip()
            if re.fullmatch(r"[+-]?\d+", a) and re.fullmatch(r"\d+", b):
                pairs.append((a, b))
                k += 1
            k += 1
        if pairs and len(row) - header <= len(pairs):
            a, b = pairs[0]
            hint = (f": ',' may be the decimal mark here, in a file whose columns it also "
                    f"separates; write {a}.{b}, quote the numbers (\"{a},{b}\"), or "
                    "separate columns with ';'")
    blank = frame.iloc[:, :len(names)].isna().all(axis=1).to_numpy()
    data_rows = int((~blank).sum()) + len(bad)
    if wide * 2 > data_rows:
        widths = set(cells[overflow].tolist()) | set(seen.tolist())
        if wide == data_rows and len(widths) == 1:
            said = f"every data row has {widths.pop()} cells but the header has {header}"
        else:
            said = f"{wide} of {data_rows} data rows have more cells than the header's {header}"
        raise SchemaError(f"{said} (line {line}: {text!r})" + (
            hint or ": name every column in the header, or remove the cells past them"))
    return overflow, (f"{rows_phrase(wide)} skipped: more cells than the header's {header} "
                      f"({listed(lines)}){hint}")
