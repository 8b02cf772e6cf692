"""CSV bytes as people write them -> schema, points, and what was skipped or assumed.

Encodings (UTF-8 with or without BOM, else detected), delimiter and quoting, comment
lines before the header, trailing delimiters, duplicate names, numbers as spreadsheets
write them (decimal commas, thousands separators), and timestamps through
``app.data.timestamps``. Every decision about a column is made from all of its values; what
could not be read is counted and explained in the reading's warnings, with line numbers
as an editor shows them (comments and header counted).
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from charset_normalizer import from_bytes

from . import timestamps
from .schema import NAT, Batch, Schema, SchemaError, build_batch, objects_or_none
from .timestamps import DATE_ORDERS, EMPTY, OK, OTHER_UNIT, OUT_OF_RANGE, ReadingChanged

__all__ = ["DATE_ORDERS", "Reading", "ReadingChanged", "header_end", "read", "split_csv"]

SAMPLE_ROWS = 1000  # rows that choose the columns' roles; every value is read with them
SNIFF_LINES = 50  # lines that choose the delimiter and quoting
SHOWN = 5  # line numbers listed in a warning
METRIC_SHARE = 0.8  # a column is a metric when this share of its filled cells are numbers
DELIMITERS = (",", ";", "\t", "|")
TIMESTAMP_NAMES = ("time", "date", "datetime", "ts")  # after "timestamp", in this order
TIME_OF_DAY_NAMES = frozenset({"time", "hour", "clock", "time of day", "time_of_day",
                               "timeofday", "heure", "uhrzeit", "zeit", "hora", "ora", "tijd"})
DATE_NAMES = ("date", "day", "datum", "fecha", "data", "jour", "tag")
# Cells that mean "no value" in exports; a metric skips them without a warning.
MISSING = frozenset({"na", "n/a", "nan", "null", "none", "-", "--", "#n/a", "n.a."})
ENCODING_NAMES = {"cp1252": "Windows-1252", "latin_1": "Latin-1 (ISO-8859-1)",
                  "iso8859_15": "Latin-9 (ISO-8859-15)", "cp1250": "Windows-1250",
                  "mac_roman": "Mac Roman", "cp437": "DOS (CP437)", "cp850": "DOS (CP850)"}
THOUSANDS = {".": ",  \u00a0\u202f'", ",": ".  \u00a0\u202f'"}  # by decimal separator
PLAIN = {".": re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*"),
         ",": re.compile(r"\s*[+-]?(\d+,?\d*|,\d+)\s*")}
NUMBER = {d: re.compile(rf"[+-]?(?:\d{{1,3}}(?P<g>[{re.escape(g)}])\d{{3}}(?:(?P=g)\d{{3}})*|\d*)"
                        rf"(?:{re.escape(d)}\d*)?(?:[eE][+-]?\d+)?")
          for d, g in THOUSANDS.items()}
NUMERIC_LOOKING = re.compile(r"[+-]?[\d.,\s'\u00a0\u202f]*\d[\d.,\s'\u00a0\u202f]*")
BAD_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


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


@dataclass(frozen=True)
class Dialect:
    """How the lines split into cells."""

    delimiter: str = ","
    quotechar: str = '"'
    skipinitialspace: bool = False
    trailing: bool = False  # some data lines end with one empty cell more than the header
    names: tuple[str, ...] = ()  # the header's cells, stripped
    note: str = ""  # a warning when another delimiter split the lines as evenly


# -- bytes to UTF-8 text ----------------------------------------------------------------

def _encoding_of(data: bytes) -> str:
    """The encoding charset-normalizer finds for a file that is not UTF-8."""
    # Only lines with non-ASCII bytes tell encodings apart, and a sample of the whole file
    # may hold none of them (an accent on line 900,000): the head of the file and the
    # first such lines go to the detector.
    head = data[:65_536]
    lines = re.findall(rb"[^\n]*[\x80-\xff][^\n]*", data[len(head):50_000_000])[:2000]
    sample = b"\n".join([head, *lines])
    results = from_bytes(sample)
    best = results.best()
    if best is None:
        raise SchemaError("cannot tell the file's text encoding: save it as UTF-8")
    # Without a byte-order mark, UTF-16 and UTF-32 would need NUL bytes all over: a stray
    # \xff\xfe in a Latin-1 file is not one. Classic Mac OS and HP encodings are not
    # considered: macOS has written UTF-8 since 2001, and on a short file they win
    # by noise ("XXa\xe0" came out as mac_iceland, "Slovak").
    wide = data[:4096].count(b"\x00") * 4 > min(len(data), 4096)
    matches = [m for m in results if (wide or not m.encoding.startswith(("utf_16", "utf_32")))
               and not m.encoding.startswith(("mac_", "hp_"))]
    if not matches:
        raise SchemaError("cannot tell the file's text encoding: save it as UTF-8")
    best = matches[0]
    # On a short file the detector's language guesses are noise: a lone "ß" came out as
    # Shift-JIS, "XXa\xe0" as Polish cp1257. Windows-1252, the Western default, is kept
    # whenever it decodes as cleanly (chaos within 0.05 of the best); files in Cyrillic,
    # Polish or Greek single-byte encodings do not decode cleanly as it and keep the
    # detector's choice (a one-word Polish file does not: "Łódź" reads as "£ódŸ", and
    # the warning says what was assumed).
    western = [m for m in matches if "cp1252" in (m.encoding, *m.could_be_from_charset)]
    if not western:  # "Küche Köln" alone was not even tried as Windows-1252
        western = list(from_bytes(sample, cp_isolation=["cp1252"]))
    if western and western[0].chaos <= best.chaos + 0.05:
        return "cp1252"
    return str(best.encoding)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode(data: bytes, encoding: str) -> tuple[bytes, str, tuple[str, ...]]:
    """(UTF-8 bytes without BOM, the encoding read, warnings); ``encoding`` "" detects it."""
    if not encoding:
        if data.startswith(b"\xef\xbb\xbf"):
            encoding = "utf-8-sig"
        elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            encoding = "utf-8" if data.isascii() or _is_utf8(data) else _encoding_of(data)
    if encoding in ("utf-8", "utf-8-sig", "ascii"):
        body = data.removeprefix(b"\xef\xbb\xbf")
        if not body.isascii():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SchemaError(f"byte {exc.start} is not UTF-8 like the rest of the file: "
                                  "save it as UTF-8") from None
    else:
        try:
            text = data[:len(data) - len(data) % 2] if encoding.startswith("utf-16") else data
            body = text.decode(encoding).removeprefix("\ufeff").encode("utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise SchemaError(f"the file is not readable as {encoding}: {exc}; "
                              "save it as UTF-8") from None
    if b"\r" in body and b"\n" not in body:
        body = body.replace(b"\r", b"\n")  # classic Mac line ends
    notes: tuple[str, ...] = ()
    if encoding not in ("utf-8", "utf-8-sig", "ascii", "utf-16"):
        notes = ((f"read as {ENCODING_NAMES.get(encoding, encoding)} text (the file is not "
                  "UTF-8): if accents look wrong, save it as UTF-8"),)
    return body, encoding, notes


def _preamble(body: bytes) -> tuple[int, int, str]:
    """(offset of the header line, lines before it, delimiter from an Excel ``sep=`` line).

    Blank lines and lines starting with ``#`` before the header are comments.
    """
    offset, lines, sep = 0, 0, ""
    while offset < len(body):
        end = body.find(b"\n", offset)
        end = len(body) if end < 0 else end + 1
        line = body[offset:end].strip()
        if line and not line.startswith(b"#"):
            match = re.fullmatch(rb"sep=(.)", line)
            if not (lines == 0 and match) or sep:
                break
            sep = match.group(1).decode()
        offset, lines = end, lines + 1
    return offset, lines, sep


def header_end(data: bytes) -> int:
    """Byte offset just after a file's header line (comment lines before it included).

    Appended lines are read as ``data[:header_end(data)] + new_lines``. For UTF-16 files
    this is the whole file: their appends are read by reading the file again.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return len(data)
    start, _, _ = _preamble(data.removeprefix(b"\xef\xbb\xbf"))
    start += len(data) - len(data.removeprefix(b"\xef\xbb\xbf"))
    end = data.find(b"\n", start)
    return len(data) if end < 0 else end + 1


# -- the dialect ------------------------------------------------------------------------

def _records(head: str, delimiter: str, quotechar: str, skip: bool) -> list[list[str]] | None:
    try:
        rows = list(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter,
                               quotechar=quotechar, skipinitialspace=skip, strict=True))
    except csv.Error:
        return None
    return [row for row in rows if any(cell.strip() for cell in row)][:SNIFF_LINES]


def _fit(rows: list[list[str]]) -> tuple[float, int, bool]:
    """(share of data rows as wide as the header, header width, trailing delimiters seen)."""
    header = rows[0]
    width = len(header)
    open_end = width > 1 and not header[-1].strip()  # the header ends with a delimiter too
    trailing = False
    fits = 0
    for row in rows[1:]:
        if len(row) == width or (open_end and len(row) == width - 1):
            fits += 1
        elif len(row) == width + 1 and not row[-1].strip():
            fits, trailing = fits + 1, True
    data = len(rows) - 1
    return (fits / data if data else 1.0), width - open_end, trailing


def sniff(head: str, delimiter: str = "", quotechar: str = "") -> Dialect:
    """The delimiter and quoting that split ``head`` (the header line first) into rows as
    wide as the header; the header's width breaks ties, then ``,`` ``;`` tab ``|``."""
    scored = []
    for rank, d in enumerate((delimiter,) if delimiter else DELIMITERS):
        for q in (quotechar,) if quotechar else ('"', "'"):
            for skip in (False, True):
                rows = _records(head, d, q, skip)
                if not rows:
                    continue
                share, width, trailing = _fit(rows)
                # prefer: rows as wide as the header, at least two columns, '"', no skipping
                key = (width >= 2, share, q == '"', not skip, -rank, width)
                scored.append((key, Dialect(d, q, skip, trailing,
                                            tuple(c.strip() for c in rows[0]))))
    if not scored:
        raise SchemaError("the header line is not readable CSV (an unclosed quote?)")
    scored.sort(key=lambda item: item[0], reverse=True)
    key, best = scored[0]
    rivals = [d for k, d in scored if d.delimiter != best.delimiter and k[0] and key[0]
              and k[1] == key[1] == 1.0 and len(head.splitlines()) > 1]
    if rivals:
        return replace(best, note=f"columns read as separated by {_show(best.delimiter)}; "
                                  f"the lines also split evenly at {_show(rivals[0].delimiter)}")
    return best


def _show(delimiter: str) -> str:
    return "tabs" if delimiter == "\t" else f"'{delimiter}'"


def _check_names(names: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            continue
        if name in seen:
            raise SchemaError(f"duplicate column name {name!r} (columns {seen[name]} and "
                              f"{position}): rename one of them")
        seen[name] = position
    filled = [n for n in names if n]
    if filled and all(NUMERIC_LOOKING.fullmatch(n) or timestamps.date_layout([n])[1]
                      for n in filled):
        raise SchemaError(f"the first line ({', '.join(filled[:3])}...) holds values, not "
                          "column names: add a header line, e.g. timestamp,value")


def split_csv(text: str) -> tuple[list[str], list[list[str]]]:
    """A CSV text (an ingest body) -> its header and rows, by the same dialect rules as
    files: BOM, comment lines, delimiter and quoting, trailing delimiters; ``SchemaError``
    for duplicate names. Rows keep their own width, so the caller can tell bad ones."""
    text = text.removeprefix("\ufeff")
    start, _, sep = _preamble(text.encode("utf-8"))
    text = text.encode("utf-8")[start:].decode("utf-8")
    if not text.strip():
        return [], []
    dialect = sniff("\n".join(text.splitlines()[:SNIFF_LINES]), sep)
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""),
                                          delimiter=dialect.delimiter,
                                          quotechar=dialect.quotechar,
                                          skipinitialspace=dialect.skipinitialspace) if row]
    except csv.Error as exc:
        raise SchemaError(f"invalid CSV: {exc}") from None
    if not rows:
        return [], []
    header = [cell.strip() for cell in rows[0]]
    if len(header) > 1 and not header[-1]:
        header.pop()
    _check_names(header)
    width = len(header)
    return header, [row[:-1] if len(row) == width + 1 and not row[-1].strip() else row
                    for row in rows[1:]]


# -- numbers ------------------------------------------------------------------------------

# Digits with separators, as a number is written before its separator is known.
NUMBER_LIKE = re.compile(r"[0-9]*[.,]?[0-9.,'\u00a0\u202f ]*[0-9]+(?:[eE][+-]?[0-9]+)?")


def _votes(values: Iterable[str]) -> tuple[int, int, str, str]:
    """(values only a decimal comma reads, values only a decimal point reads, and the first
    value either reads differently: ``1,234`` (1.234 or 1234), ``1.234`` (1.234 or 1234))."""
    comma = point = 0
    by_comma = by_point = ""
    for value in values:
        v = value.strip().lstrip("+-")
        if not NUMBER_LIKE.fullmatch(v):
            continue  # text (a label like ".A" or "v1.2") says nothing about numbers
        if "," in v and "." in v:
            if v.rfind(",") > v.rfind("."):
                comma += 1
            else:
                point += 1
        elif "," in v or "." in v:
            mark = "," if "," in v else "."
            head, _, tail = v.partition(mark)
            if mark in tail:  # 1,234,567 or 1.234.567: the mark groups thousands
                point, comma = (point + 1, comma) if mark == "," else (point, comma + 1)
            elif len(tail) == 3 and 1 <= len(head) <= 3 and head.isdigit() and head[0] != "0":
                if mark == ",":
                    by_comma = by_comma or value.strip()
                else:
                    by_point = by_point or value.strip()
            elif head.isdigit() or not head:
                point, comma = (point + 1, comma) if mark == "." else (point, comma + 1)
    return comma, point, by_comma, by_point


def _decide_decimal(columns: Iterable[Iterable[str]], delimiter: str) -> tuple[str, str]:
    """(the decimal separator all the values imply, a value that reads either way when
    none settled it: the sentence for the warnings shows it).

    Without a value that settles it, ``;``-separated files use decimal commas; a dot
    before three digits is a decimal point; a comma before three digits groups thousands
    outside ``;`` files. A comma-separated file never has unquoted decimal commas.
    """
    comma = point = 0
    by_comma = by_point = ""
    for values in columns:
        c, p, bc, bp = _votes(values)
        comma, point = comma + c, point + p
        by_comma, by_point = by_comma or bc, by_point or bp
    if comma != point:
        return ("," if comma > point else "."), ""
    if delimiter == ",":
        return ".", ""
    if by_comma:
        return ("," if delimiter == ";" else "."), by_comma
    return ("." if by_point else "," if delimiter == ";" else "."), by_point


def _numbers(values: pd.Series, decimal: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse text cells as numbers written with ``decimal``: (float64, unreadable) per row.

    Thousands separators must group by three; a cell in ``MISSING`` is no value.
    """
    codes, uniques = pd.factorize(values)
    pattern = NUMBER[decimal]
    parsed = np.full(len(uniques), np.nan)
    bad = np.zeros(len(uniques), dtype=bool)
    for k, raw in enumerate(uniques):
        text = raw.strip().replace("\u2212", "-")
        if not text or text.lower() in MISSING:
            continue
        match = pattern.fullmatch(text)
        if match is None or not any(c.isdigit() for c in text):
            bad[k] = True
            continue
        if match.group("g"):
            text = text.replace(match.group("g"), "")
        parsed[k] = float(text.replace(decimal, ".")) if decimal != "." else float(text)
    present = codes >= 0
    out = np.full(len(values), np.nan)
    unreadable = np.zeros(len(values), dtype=bool)
    out[present] = parsed[codes[present]]
    unreadable[present] = bad[codes[present]]
    return out, unreadable


def _filled(values: pd.Series) -> list[str]:
    """The sample's cells that hold something (not empty, not a missing marker)."""
    stripped = (v.strip() for v in values.dropna().tolist())
    return [v for v in stripped if v and v.lower() not in MISSING]


def _is_metric(values: Sequence[str], decimal: str) -> bool:
    if not values:
        return False
    numbers, unreadable = _numbers(pd.Series(values, dtype="str"), decimal)
    readable = int(np.isfinite(numbers).sum())
    return readable > 0 and readable >= METRIC_SHARE * (readable + int(unreadable.sum()))


# -- choosing the timestamp -------------------------------------------------------------

@dataclass(frozen=True)
class _Time:
    """How the timestamp is written, as found in the sample."""

    column: str
    time_of_day: str = ""
    layout: str = "ISO8601"
    numeric: bool = False


def _numbers_only(values: Sequence[str]) -> bool:
    """True if every value is a plain number (bare numbers are values, not dates)."""
    return all(PLAIN["."].fullmatch(v) or PLAIN[","].fullmatch(v) for v in values)


def _mostly(count: int, total: int, share: float = 0.9) -> bool:
    return total > 0 and count >= share * total


def _date_only(values: Sequence[str]) -> str:
    """The layout of a column of dates without times, or ""."""
    layout, count, clock = timestamps.date_layout(values)
    return layout if _mostly(count, len(values)) and not clock else ""


def _find_time(sample: dict[str, list[str]]) -> _Time:
    """The timestamp column by the SPEC's rule, how it is written, and its time-of-day
    partner; ``SchemaError`` naming what to change when there is none."""
    lower = {name.lower(): name for name in reversed(list(sample))}
    named = [lower[n] for n in ("timestamp", *TIMESTAMP_NAMES) if n in lower]
    chosen = named[0] if named else ""
    if not chosen:
        for name, values in sample.items():
            layout, count, _ = timestamps.date_layout(values)
            if _mostly(count, len(values)) and not _numbers_only(values):
                chosen = name
                break
            if _mostly(timestamps.times_of_day(values), len(values)) and \
                    name.lower() in TIME_OF_DAY_NAMES:
                chosen = name
                break
    if not chosen:
        raise SchemaError(
            "no timestamp column: name one 'timestamp', 'time', 'date', 'datetime' or 'ts', "
            "or put ISO-8601 dates in a column")
    values = sample[chosen]
    if not values:
        return _Time(chosen)  # no rows yet
    layout, count, _ = timestamps.date_layout(values)
    if _mostly(timestamps.times_of_day(values), len(values)):
        partners = [n for n in sample if n != chosen and _date_only(sample[n])]
        partners.sort(key=lambda n: n.lower() not in DATE_NAMES)
        if not partners:
            raise SchemaError(
                f"column {chosen!r} holds times of day ({values[0]!r}) without dates: add a "
                "'date' column, or write the date in each cell (2024-05-01 12:00:00)")
        return _Time(partners[0], chosen, _date_only(sample[partners[0]]))
    if layout and _mostly(count, len(values), 0.5) and not _numbers_only(values):
        if _date_only(values):
            for name, other in sample.items():
                if name != chosen and name.lower() in TIME_OF_DAY_NAMES and \
                        _mostly(timestamps.times_of_day(other), len(other)):
                    return _Time(chosen, name, layout)
        return _Time(chosen, layout=layout)
    if all(PLAIN["."].fullmatch(v) for v in values):
        series = pd.Series(values, dtype="str")
        if timestamps.compact_dates(series):
            return _Time(chosen, layout="%Y%m%d")
        return _Time(chosen, layout="", numeric=True)
    raise SchemaError(
        f"column {chosen!r} holds no dates this reader knows ({values[0]!r}): write ISO-8601 "
        "(2024-05-01T12:00:00Z), day/month/year, month/day/year or epoch seconds")


# -- reading ----------------------------------------------------------------------------

def _lines(rows: int, bad: np.ndarray, first_line: int, extra: np.ndarray | None
           ) -> Callable[[int], int]:
    """Row index (after bad lines were dropped) -> line number in the file."""
    kept = np.delete(np.arange(rows + len(bad)), bad - 1) if len(bad) else None

    def line_of(row: int) -> int:
        record = int(kept[row]) if kept is not None else row
        return first_line + record + (int(extra[row]) if extra is not None else 0)
    return line_of


def _listed(lines: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:SHOWN])
    more = ", ..." if len(lines) > SHOWN else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


def _frame(body: bytes, dialect: Dialect, width: int, dtypes: dict[int, str], decimal: str,
           nrows: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """The data lines as a frame with positional columns, and the bad lines' numbers
    (1-based records: more cells than the header has)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        frame = pd.read_csv(
            io.BytesIO(body), header=None, names=list(range(width)), index_col=False,
            dtype={i: dtypes.get(i, "str") for i in range(width)}, sep=dialect.delimiter,
            quotechar=dialect.quotechar, skipinitialspace=dialect.skipinitialspace,
            decimal=decimal, keep_default_na=False, na_values=[""], skip_blank_lines=False,
            on_bad_lines="warn", nrows=nrows, engine="c", encoding="utf-8")
    bad = [int(m.group(1)) for w in caught for m in BAD_LINE.finditer(str(w.message))]
    return frame, np.array(sorted(bad), dtype=np.int64)


def _text(column: pd.Series) -> pd.Series:
    """Stripped text, NA where empty."""
    text = column.astype("str").str.strip()
    return text.mask(text == "")


def read(data: bytes, schema: Schema | None = None, date_order: str = "MDY",
         line_offset: int = 0) -> Reading:
    """Read CSV bytes (header first) into a schema, its points, and warnings.

    With ``schema`` (pinned, e.g. for appended lines) the file must have its columns and
    is read its way; ``date_order`` ("MDY" or "DMY") reads dates that fit both orders
    throughout. ``line_offset`` is added to line numbers in warnings (the lines of the
    file before ``data``'s first data line, less those of its header). Raises
    ``SchemaError`` with what to change, or ``ReadingChanged`` (see there).
    """
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {DATE_ORDERS}, not {date_order!r}")
    if not data or data.isspace():
        raise SchemaError("the file is empty")
    if schema is not None and schema.encoding.startswith("utf-16"):
        raise ReadingChanged("UTF-16 files are read whole")
    body, encoding, notes = _decode(data, schema.encoding if schema else "")
    start, before, sep = _preamble(body)
    if start >= len(body):
        raise SchemaError("the file is empty" if not before else
                          "the file has comment lines but no header line")
    head_end = start
    for _ in range(SNIFF_LINES + 1):
        head_end = body.find(b"\n", head_end) + 1
        if not head_end:
            head_end = len(body)
            break
    head = body[start:head_end]
    dialect = sniff(head.decode("utf-8", "replace"), schema.delimiter if schema else sep,
                    schema.quotechar if schema else "")
    header_stop = body.find(b"\n", start)
    data_start = len(body) if header_stop < 0 else header_stop + 1
    lines_before_data = before + 1 + line_offset
    names = list(dialect.names)
    _check_names(names)
    width = len(names) + (1 if dialect.trailing else 0)
    payload = body[data_start:]
    warnings_: list[str] = [*notes]
    if dialect.note and schema is None:
        warnings_.append(dialect.note)
    position = {name: i for i, name in enumerate(names) if name}

    if schema is None:
        sample, _ = _frame(payload, dialect, width, {}, ".", SAMPLE_ROWS)
        texts = {name: _filled(sample[i]) for name, i in position.items()}
        schema = _infer(texts, dialect, encoding, date_order, names)
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
                     lines_before_data, warnings_)


def _infer(texts: dict[str, list[str]], dialect: Dialect, encoding: str, date_order: str,
           names: Sequence[str]) -> Schema:
    """The schema the sample implies: time, long or wide form, metrics, labels, formats."""
    if not texts:
        raise SchemaError("the file has no header row")
    time = _find_time(texts)
    taken = {time.column, time.time_of_day}
    others = [n for n in texts if n not in taken]
    decimal, either = _decide_decimal((texts[n] for n in others), dialect.delimiter)
    common = {"numeric_time": time.numeric, "time_of_day": time.time_of_day,
              "time_format": "" if time.layout == "ISO8601" else time.layout,
              "delimiter": dialect.delimiter, "quotechar": dialect.quotechar,
              "decimal": decimal, "encoding": encoding,
              # no value in the sample settled the separator: all the values will try
              "assumed": ("decimal",) if either else ()}
    if "metric" in others and "value" in others:
        labels = tuple(c for c in others if c not in ("metric", "value"))
        return Schema(time.column, "long", (), labels, **common)  # type: ignore[arg-type]
    if not any(texts.values()):
        raise SchemaError("no rows yet: the header is there, the data is not")
    metrics = tuple(c for c in others if _is_metric(texts[c], decimal))
    if not metrics:
        raise SchemaError(
            "no numeric column to chart: add numeric columns (wide form) "
            "or 'metric' and 'value' columns (long form)")
    labels = tuple(c for c in others if c not in metrics)
    return Schema(time.column, "wide", metrics, labels, **common)  # type: ignore[arg-type]


def _epoch_refusal(column: str, values: pd.Series) -> SchemaError:
    example = values.dropna().iloc[0] if values.notna().any() else ""
    return SchemaError(
        f"column {column!r} holds numbers ({example}) that are no epoch time this reader "
        "knows: write dates such as 2024-05-01T12:00:00Z, or seconds, milliseconds, "
        "microseconds or nanoseconds since 1970-01-01 (1973 and later)")


def _read_all(payload: bytes, dialect: Dialect, width: int, names: Sequence[str],
              schema: Schema, inferred: bool, date_order: str, lines_before: int,
              notes: list[str]) -> Reading:
    """Read every data line with ``schema`` (settling what the sample left open)."""
    position = {name: i for i, name in enumerate(names) if name}
    value_columns = schema.metrics if schema.kind == "wide" else ("value",)
    fast = {position[c]: "float64" for c in value_columns} \
        if schema.decimal != dialect.delimiter and "decimal" not in schema.assumed else {}
    if schema.numeric_time:
        # exact integers straight from the C reader: converting text took 0.45 s a pass
        fast[position[schema.timestamp]] = "Int64"
    try:
        try:
            # Plain numbers parse in pandas' C reader; one cell that is not falls back to
            # reading text and deciding the column from all of its values.
            frame, bad = _frame(payload, dialect, width, fast, schema.decimal if fast else ".")
        except ValueError:
            if not fast:
                raise
            frame, bad = _frame(payload, dialect, width, {}, ".")
    except (ValueError, pd.errors.ParserError) as exc:
        raise SchemaError(f"not a readable CSV file: {exc}".strip()) from None
    rows = len(frame)
    for i, name in enumerate(names):
        if not name and _text(frame[i]).notna().any():
            raise SchemaError(f"column {i + 1} has values but no name in the header: "
                              "name it, or remove it")
    extra = None
    if dialect.quotechar.encode() in payload:
        newlines = sum((frame[i].str.count("\n").fillna(0).to_numpy(dtype=np.int64)
                        for i in range(width) if pd.api.types.is_string_dtype(frame[i])),
                       np.zeros(rows, dtype=np.int64))
        if newlines.any():
            extra = np.concatenate([[0], np.cumsum(newlines)[:-1]])
    line_of = _lines(rows, bad, lines_before + 1, extra)
    found: list[str] = []

    # -- time
    # The ISO-8601 parser reads most cells unstripped (stripping 1M cells cost 0.25 s);
    # the cells it refuses are stripped and read again.
    column = frame[position[schema.timestamp]]
    text = column if str(column.dtype) == "Int64" else column.astype("str")
    pinned_assumed = not inferred and "date_order" in schema.assumed
    # a pinned schema keeps what it assumed; a fresh reading says again what it assumes
    assumed = set(schema.assumed) - ({"date_order", "decimal"} if inferred else set())
    if schema.numeric_time:
        text = text if str(text.dtype) == "Int64" else _text(text)
        unit = schema.epoch_unit or timestamps.epoch_unit(text)
        if not unit:
            raise _epoch_refusal(schema.timestamp, text)
        times = timestamps.read_epochs(text, unit)
    else:
        times = timestamps.read_dates(text, schema.time_format or "ISO8601", schema.timestamp,
                                    line_of, date_order, pinned_assumed)
        if schema.time_of_day:
            clock = _text(frame[position[schema.time_of_day]])
            of_day, clock_ok = timestamps.read_times_of_day(clock, schema.time_of_day, line_of)
            dated = times.reason == OK
            ns = times.ns + np.where(dated & clock_ok, of_day, 0)
            inside = (ns >= timestamps.FIRST_NS) & (ns < timestamps.END_NS)
            reason = np.where(~dated, times.reason,
                              np.where(clock.isna().to_numpy(), EMPTY,
                                       np.where(~clock_ok, timestamps.UNREADABLE,
                                                np.where(inside, OK, OUT_OF_RANGE))))
            times = replace(times, ns=np.where(reason == OK, ns, NAT),
                            reason=reason.astype(np.int8))
    if times.assumed:
        assumed.add("date_order")
    found.extend(times.notes)
    time_format = "" if times.time_format == "ISO8601" else times.time_format

    # -- rows left out
    reason = times.reason.copy()
    blank = np.zeros(rows, dtype=bool)
    candidates = np.flatnonzero(reason == EMPTY)
    if len(candidates):
        cells = frame.iloc[candidates]
        blank[candidates] = cells.apply(lambda col: col.astype("str").str.strip()
                                        .fillna("").eq("")).all(axis=1).to_numpy()
    overflow = np.zeros(rows, dtype=bool)
    if dialect.trailing:
        overflow = _text(frame[len(names)]).notna().to_numpy()
    skip = (reason != OK) & ~blank | overflow
    what = {EMPTY: "no timestamp",
            timestamps.UNREADABLE: f"the timestamp is not written like the rest of "
                                 f"{schema.timestamp!r}" + (
                                     f" and {schema.time_of_day!r}" if schema.time_of_day
                                     else ""),
            OUT_OF_RANGE: "the timestamp is outside the years 1678 to 2261",
            OTHER_UNIT: f"the number is not {timestamps.UNIT_NAMES.get(times.epoch_unit, '')} "
                        f"since 1970 like the rest of {schema.timestamp!r}"}
    for code, why in what.items():
        at = np.flatnonzero((reason == code) & ~blank & ~overflow)
        if len(at):
            example = "" if code == EMPTY else f"; e.g. {str(text.iloc[int(at[0])]).strip()!r}"
            found.append(f"{_rows(len(at))} skipped: {why} "
                         f"({_listed([line_of(int(r)) for r in at[:SHOWN + 1]])}{example})")
    too_wide = [lines_before + int(b) + (int(extra[min(int(b) - 1, rows - 1)])
                                         if extra is not None and rows else 0)
                for b in bad[:SHOWN + 1]] + [line_of(int(r)) for r in
                                             np.flatnonzero(overflow)[:SHOWN + 1]]
    if len(bad) or overflow.any():
        found.append(f"{_rows(len(bad) + int(overflow.sum()))} skipped: more cells than the "
                     f"header's {len(position)} ({_listed(sorted(too_wide))})")
    ts = np.where(skip, NAT, times.ns).astype(np.int64)

    # -- values
    decimal = schema.decimal
    texts = {c: _text(frame[position[c]]) for c in value_columns
             if frame[position[c]].dtype != "float64"}
    distinct = [pd.unique(t.dropna()).tolist() for t in texts.values()]
    if inferred and texts:
        decimal, either = _decide_decimal(distinct, dialect.delimiter)
        assumed.discard("decimal")
        if either:
            assumed.add("decimal")
            number = float(_numbers(pd.Series([either], dtype="str"), decimal)[0][0])
            found.append(f"numbers like {either!r} read as {number:g}: "
                         + ("a decimal comma, as ';'-separated files write" if decimal == ","
                            else "a decimal point" if "." in either
                            else "',' groups thousands outside ';'-separated files"))
    elif "decimal" in schema.assumed and texts:
        settled, either = _decide_decimal(distinct, dialect.delimiter)
        if not either and settled != decimal:
            raise ReadingChanged("new lines settle the decimal separator")
    columns: dict[str, np.ndarray] = {}
    metrics = list(schema.metrics)
    for name in value_columns:
        column = frame[position[name]]
        if column.dtype == "float64":
            columns[name] = column.to_numpy(dtype="float64")
            continue
        values, unreadable = _numbers(texts[name], decimal)
        unreadable &= ts != NAT
        readable = int(np.isfinite(values[ts != NAT]).sum())
        if inferred and schema.kind == "wide" and \
                readable < METRIC_SHARE * (readable + int(unreadable.sum())):
            metrics.remove(name)  # mostly words after all: a label
            continue
        columns[name] = values
        if unreadable.any():
            at = np.flatnonzero(unreadable)
            found.append(f"{len(at)} cell{'s' if len(at) > 1 else ''} in {name!r} "
                          f"{'are' if len(at) > 1 else 'is'} not a number and "
                          f"{'were' if len(at) > 1 else 'was'} left out "
                          f"({_listed([line_of(int(r)) for r in at[:SHOWN + 1]])}; "
                          f"e.g. {texts[name].iloc[int(at[0])]!r})")
    if inferred and schema.kind == "wide" and not metrics:
        raise SchemaError("no numeric column to chart: add numeric columns (wide form) "
                          "or 'metric' and 'value' columns (long form)")
    labels = (*schema.labels, *(m for m in schema.metrics if m not in metrics))
    labels = tuple(n for n in names if n in labels)
    schema = replace(schema, metrics=tuple(metrics), labels=labels, time_format=time_format,
                     epoch_unit=times.epoch_unit or schema.epoch_unit, decimal=decimal,
                     assumed=tuple(sorted(assumed)))
    for name in (*schema.labels, *(("metric",) if schema.kind == "long" else ())):
        columns[name] = objects_or_none(frame[position[name]].astype("str"))
    batch = build_batch(schema, ts, columns, int(skip.sum()) + len(bad))
    return Reading(schema, batch, tuple(notes + found))
