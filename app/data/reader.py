"""CSV bytes as people write them -> schema, points, and what was skipped or assumed.

Encodings (UTF-8 with or without BOM, else detected), delimiter and quoting, comment
lines before the header, trailing delimiters (a row with more cells than the header is
skipped, never cut), duplicate names, numbers as spreadsheets write them through
``app.data.numbers``, timestamps through ``app.data.timestamps`` and zone columns through
``app.data.zones``. Every decision about a column is made from all of its values; what
could not be read is counted and explained in the reading's warnings, with line numbers
as an editor shows them (comments and header counted).
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from charset_normalizer import from_bytes

from . import numbers as num
from . import timestamps, zones
from .numbers import MISSING, PLAIN
from .schema import NAT, Batch, Schema, SchemaError, build_batch, objects_or_none
from .timestamps import (
    DATE_ORDERS,
    EMPTY,
    OK,
    OTHER_ORDER,
    OTHER_UNIT,
    OUT_OF_RANGE,
    ReadingChanged,
)

__all__ = ["DATE_ORDERS", "Reading", "ReadingChanged", "header_end", "read", "split_csv"]

SAMPLE_ROWS = 1000  # rows that choose the columns' roles; every value is read with them
SNIFF_LINES = 50  # lines that choose the delimiter and quoting
SHOWN = 5  # line numbers listed in a warning
LABEL_NOTE_SHARE = 0.25  # a label this share of whose cells are numbers says why it is one
DELIMITERS = (",", ";", "\t", "|")
TIMESTAMP_NAMES = ("time", "date", "datetime", "ts")  # after "timestamp", in this order
TIME_OF_DAY_NAMES = frozenset({"time", "hour", "clock", "time of day", "time_of_day",
                               "timeofday", "heure", "uhrzeit", "zeit", "hora", "ora", "tijd"})
# Columns that may hold the hour of day as a whole number (13) next to a date column.
HOUR_NAMES = frozenset({"hour", "hr", "hour of day", "hour_of_day", "stunde",
                        "heure", "hora", "ora", "uur"})
DATE_NAMES = ("date", "day", "datum", "fecha", "data", "jour", "tag")
TRUNCATED = "Length of header or names does not match length of data"
LineOf = Callable[[int], int]  # row index -> line number in the file
ENCODING_NAMES = {"cp1252": "Windows-1252", "latin_1": "Latin-1 (ISO-8859-1)",
                  "iso8859_15": "Latin-9 (ISO-8859-15)", "cp1250": "Windows-1250",
                  "mac_roman": "Mac Roman", "cp437": "DOS (CP437)", "cp850": "DOS (CP850)"}
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

def _filled(values: pd.Series) -> list[str]:
    """The sample's cells that hold something (not empty, not a missing marker)."""
    stripped = (v.strip() for v in values.dropna().tolist())
    return [v for v in stripped if v and v.lower() not in MISSING]


def _most(numbers: int, words: int) -> bool:
    """A column is a metric when most of its filled cells (markers aside) are numbers."""
    return numbers > words


# -- choosing the timestamp -------------------------------------------------------------

@dataclass(frozen=True)
class _Time:
    """How the timestamp is written, as found in the sample."""

    column: str
    time_of_day: str = ""
    layout: str = "ISO8601"
    numeric: bool = False


def _bare(name: str) -> str:
    """A column name compared: lower case, without a trailing unit or zone in brackets
    ("Time (UTC)" is "time")."""
    return re.sub(r"\s*[(\[][^()\[\]]*[)\]]\s*$", "", name).strip().lower()


def _hourly(name: str, values: Sequence[str]) -> bool:
    """True if ``name`` may hold the hour of day and its values are whole hours."""
    key = _bare(name)
    return key in HOUR_NAMES | TIME_OF_DAY_NAMES and timestamps.hours_of_day(values)


def _with_hours(sample: dict[str, list[str]], found: _Time) -> _Time:
    """``found``, refused when its hour column has a minute column beside it."""
    if not found.time_of_day or not timestamps.hours_of_day(sample[found.time_of_day]):
        return found
    for name, values in sample.items():
        if _bare(name) in ("minute", "minutes", "min", "minute of hour",
                                    "minuten", "minuto", "minutos") and \
                values and all(v.isdigit() and int(v) < 60 for v in values):
            raise SchemaError(
                f"columns {found.time_of_day!r} and {name!r} split the time of day: write it "
                "in one column (13:05), or the date and time in one cell (2024-05-01 13:05)")
    return found


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
    lower = {_bare(name): name for name in reversed(list(sample))}
    named = [lower[n] for n in ("timestamp", *TIMESTAMP_NAMES) if n in lower]
    chosen = named[0] if named else ""
    if not chosen:
        for name, values in sample.items():
            layout, count, _ = timestamps.date_layout(values)
            if _mostly(count, len(values)) and not _numbers_only(values):
                chosen = name
                break
            if _mostly(timestamps.times_of_day(values), len(values)) and \
                    _bare(name) in TIME_OF_DAY_NAMES:
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
    # An hour of day written as a whole number (a logger's "Hour" 13) in a column named
    # for it goes with a date column, as 13:00 does.
    clock = _mostly(timestamps.times_of_day(values), len(values))
    partners: list[str] = []
    if clock or _hourly(chosen, values):
        partners = [n for n in sample if n != chosen and _date_only(sample[n])]
        partners.sort(key=lambda n: _bare(n) not in DATE_NAMES)
    if clock or (_hourly(chosen, values) and partners):
        if not partners:
            raise SchemaError(
                f"column {chosen!r} holds times of day ({values[0]!r}) without dates: add a "
                "'date' column, or write the date in each cell (2024-05-01 12:00:00)")
        return _Time(partners[0], chosen, _date_only(sample[partners[0]]))
    if layout and _mostly(count, len(values), 0.5) and not _numbers_only(values):
        if _date_only(values):
            for name, other in sample.items():
                if name != chosen and ((_bare(name) in TIME_OF_DAY_NAMES and _mostly(
                        timestamps.times_of_day(other), len(other))) or _hourly(name, other)):
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
        sample, _, _ = _frame(payload, dialect, width, {}, ".", SAMPLE_ROWS)
        texts = {name: _filled(sample[i]) for name, i in position.items()}
        schema, check, notes_ = _infer(texts, dialect, encoding, date_order, names)
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


def _infer(texts: dict[str, list[str]], dialect: Dialect, encoding: str, date_order: str,
           names: Sequence[str]) -> tuple[Schema, tuple[str, ...], list[str]]:
    """The schema the sample implies (time, long or wide form, metrics, labels, formats),
    the labels that hold numbers enough for all their cells to be counted, and notes."""
    if not texts:
        raise SchemaError("the file has no header row")
    time = _with_hours(texts, _find_time(texts))
    zone = header_zone = ""
    notes: list[str] = []
    if not time.numeric and texts[time.column]:
        with_zone, without = timestamps.zoned(texts[time.column], time.layout)
        if time.time_of_day:
            clock_zone, _ = timestamps.zoned(texts[time.time_of_day], "time")
            with_zone = with_zone or clock_zone
        if with_zone and without:
            # naive is UTC by rule; beside zoned values it may well be meant otherwise
            notes.append(f"some times in {time.column!r} name their zone "
                         f"({with_zone!r}) and some do not ({without!r}): those without "
                         "were read as UTC")
        if not with_zone:
            zone = zones.zone_column(texts, (time.column, time.time_of_day))
            header_zone = "" if zone else (zones.header_zone(time.column) or (
                zones.header_zone(time.time_of_day) if time.time_of_day else ""))
    taken = {time.column, time.time_of_day, zone}
    others = [n for n in texts if n not in taken]
    counts = {n: num.is_numeric(texts[n]) for n in others}
    total = num.Votes()
    for n in others:
        if _most(*counts[n]):  # words ("v1.2") say nothing about the decimal separator
            total.add(num.votes(texts[n]))
    decimal, either, _ = num.decide_decimal(total, dialect.delimiter)
    common = {"numeric_time": time.numeric, "time_of_day": time.time_of_day,
              "time_format": "" if time.layout == "ISO8601" else time.layout,
              "delimiter": dialect.delimiter, "quotechar": dialect.quotechar,
              "decimal": decimal, "encoding": encoding, "zone_column": zone,
              "time_zone": header_zone,
              # no value in the sample settled the separator: all the values will try
              "assumed": ("decimal",) if either or (total.comma and total.point) else ()}
    if "metric" in others and "value" in others:
        labels = tuple(c for c in others if c not in ("metric", "value"))
        return (Schema(time.column, "long", (), labels, **common),  # type: ignore[arg-type]
                (), notes)
    if not any(texts.values()):
        raise SchemaError("no rows yet: the header is there, the data is not")
    metrics = tuple(c for c in others if _most(*counts[c]))
    # Labels with numbers among their words: every cell decides, and a label says why.
    check = tuple(c for c in others if c not in metrics and counts[c][0]
                  and counts[c][0] >= LABEL_NOTE_SHARE * sum(counts[c]))
    labels = tuple(c for c in others if c not in metrics)
    return (Schema(time.column, "wide", metrics, labels, **common),  # type: ignore[arg-type]
            check, notes)


def _epoch_refusal(column: str, values: pd.Series, line_of: LineOf) -> SchemaError:
    """Why a numeric time column has no epoch unit, naming what to change."""
    floats = timestamps.epoch_floats(values)
    size = np.abs(floats)
    fits = [(unit, (size >= low) & (size < high))
            for unit, _, low, high in timestamps.EPOCH_UNITS]
    seen = [(unit, int(np.argmax(rows))) for unit, rows in fits if rows.any()]
    if len(seen) > 1:
        (one, at), (other, at2) = seen[0], seen[1]
        return SchemaError(
            f"column {column!r} mixes epoch {timestamps.UNIT_NAMES[one]} "
            f"({values.iloc[at]}, line {line_of(at)}) and {timestamps.UNIT_NAMES[other]} "
            f"({values.iloc[at2]}, line {line_of(at2)}): write one unit throughout")
    finite = np.isfinite(floats)
    serial = finite & (size >= 10_000) & (size < 100_000)  # 1927-05-18 .. 2173-10-14
    if finite.any() and serial.sum() * 2 > finite.sum():
        at = int(np.argmax(serial))
        day = pd.Timestamp("1899-12-30") + pd.Timedelta(days=float(floats[at]))
        return SchemaError(
            f"column {column!r} holds spreadsheet serial dates ({values.iloc[at]} on line "
            f"{line_of(at)} is {day.isoformat()} as Excel counts days): format the column as "
            "dates in the spreadsheet before saving (2024-05-01 12:00:00)")
    example = values.dropna().iloc[0] if values.notna().any() else ""
    return SchemaError(
        f"column {column!r} holds numbers ({example}) that are no epoch time this reader "
        "knows: write dates such as 2024-05-01T12:00:00Z, or seconds, milliseconds, "
        "microseconds or nanoseconds since 1970-01-01 (1973 and later)")


class _Again(Exception):
    """The C reader's numbers need a second look as text (inf, or digits beyond 2^53)."""


def _read_frame(payload: bytes, dialect: Dialect, width: int, fast: dict[int, str],
                decimal: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The frame, with plain numbers parsed by pandas' C reader when every cell of the
    ``fast`` columns is one; else every column as text."""
    try:
        try:
            if not fast:
                return _frame(payload, dialect, width, {}, ".")
            frame, bad, seen = _frame(payload, dialect, width, fast, decimal)
            for i, dtype in fast.items():
                # inf, -Infinity and 1e400 parse as floats; whole numbers past 2^53 lose
                # digits: their cells are read as text, counted and named.
                if dtype == "float64" and (np.abs(frame[i].to_numpy()) >= num.EXACT).any():
                    raise _Again
            return frame, bad, seen
        except TypeError:
            # a fraction in the Int64 epoch column: the numbers may still be plain
            return _read_frame(payload, dialect, width,
                               {i: d for i, d in fast.items() if d != "Int64"}, decimal)
        except (ValueError, _Again):
            # one cell that is no plain number: every column as text
            return _frame(payload, dialect, width, {}, ".")
    except (ValueError, pd.errors.ParserError) as exc:
        raise SchemaError(f"not a readable CSV file: {exc}".strip()) from None


def _too_wide(frame: pd.DataFrame, names: Sequence[str], dialect: Dialect, bad: np.ndarray,
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
    return overflow, (f"{_rows(wide)} skipped: more cells than the header's {header} "
                      f"({_listed(lines)}){hint}")


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
    frame, bad, seen = _read_frame(payload, dialect, width, fast, schema.decimal)
    rows = len(frame)
    for i, name in enumerate(names):
        if not name and _text(frame[i]).notna().any():
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
    line_of = _lines(rows, bad, lines_before + 1, extra)

    def bad_line(record: int) -> int:
        return lines_before + record + (int(extra[min(record - 1, rows - 1)])
                                        if extra is not None and rows else 0)

    overflow, wide_note = _too_wide(frame, names, dialect, bad, seen, payload, line_of,
                                    bad_line)
    found: list[str] = []
    ts, times, assumed = _read_times(frame, position, schema, inferred, date_order, line_of,
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
    for code, why in _reasons(schema, times).items():
        at = np.flatnonzero((reason == code) & ~blank & ~overflow)
        if len(at):
            example = "" if code == EMPTY else f"; e.g. {str(text.iloc[int(at[0])]).strip()!r}"
            found.append(f"{_rows(len(at))} skipped: {why} "
                         f"({_listed([line_of(int(r)) for r in at[:SHOWN + 1]])}{example})")
    if wide_note:
        found.append(wide_note)
    ts = np.where(skip, NAT, ts).astype(np.int64)

    # -- values
    columns, metrics, decimal = _read_values(frame, position, schema, inferred, check, ts,
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


def _reasons(schema: Schema, times: timestamps.Instants) -> dict[int, str]:
    """What each reason code means for this file's timestamp, for the warnings."""
    both = f"{schema.timestamp!r}" + (f" and {schema.time_of_day!r}" if schema.time_of_day
                                      else "")
    order = timestamps.OPEN.get(times.time_format, ("", ""))[1]
    other = "MDY" if order == "DMY" else "DMY"
    return {
        EMPTY: "no timestamp",
        timestamps.UNREADABLE: f"the timestamp is not written like the rest of {both}",
        OUT_OF_RANGE: "the timestamp is outside the years 1678 to 2261",
        OTHER_UNIT: f"the number is not "
                    f"{timestamps.UNIT_NAMES.get(times.epoch_unit, '')} since 1970 like the "
                    f"rest of {schema.timestamp!r}",
        OTHER_ORDER: f"the date is {timestamps.DESCRIBED.get(other, '')}, unlike the rest of "
                     f"{schema.timestamp!r} ({timestamps.DESCRIBED.get(order, '')})",
        timestamps.NO_ZONE: f"no time zone in {schema.zone_column!r}",
        timestamps.LOCAL_GAP: "a daylight-saving change skips or repeats this local time in "
                              f"its zone ({schema.zone_column or schema.time_zone!r})"}


def _read_times(frame: pd.DataFrame, position: dict[str, int], schema: Schema,
                inferred: bool, date_order: str, line_of: LineOf, found: list[str]
                ) -> tuple[np.ndarray, timestamps.Instants, set[str]]:
    """Every row's instant (NAT where none), how they were read, and what was assumed."""
    column = frame[position[schema.timestamp]]
    # The ISO-8601 parser reads most cells unstripped (stripping 1M cells cost 0.25 s);
    # the cells it refuses are stripped and read again.
    text = column if str(column.dtype) == "Int64" else column.astype("str")
    pinned_assumed = not inferred and "date_order" in schema.assumed
    # a pinned schema keeps what it assumed; a fresh reading says again what it assumes
    assumed = set(schema.assumed) - ({"date_order", "decimal"} if inferred else set())
    if schema.numeric_time:
        text = text if str(text.dtype) == "Int64" else _text(text)
        unit = schema.epoch_unit or timestamps.epoch_unit(text)
        if not unit:
            raise _epoch_refusal(schema.timestamp, text, line_of)
        times = timestamps.read_epochs(text, unit)
        other = times.reason == OTHER_UNIT
        if not inferred and other.any() and any(timestamps.epoch_counts(
                timestamps.epoch_floats(text[other]))):
            # appended numbers of another unit: the whole file decides (a mix is refused)
            raise ReadingChanged(f"new lines in {schema.timestamp!r} are of another unit")
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
        if schema.zone_column or schema.time_zone:
            times = _localize(frame, position, schema, times, line_of, inferred, found)
    if times.assumed:
        assumed.add("date_order")
    found.extend(times.notes)
    return times.ns, times, assumed


def _localize(frame: pd.DataFrame, position: dict[str, int], schema: Schema,
              times: timestamps.Instants, line_of: LineOf, inferred: bool, found: list[str]
              ) -> timestamps.Instants:
    """Naive instants made UTC by the zone each row's zone column names, or the zone the
    timestamp column's name gives."""
    zone = schema.zone_column or schema.timestamp
    tokens = _text(frame[position[zone]]) if schema.zone_column else \
        pd.Series(schema.time_zone, index=frame.index, dtype="str")
    naive = np.where(times.reason == OK, times.ns, NAT)
    ns, no_zone, gap, used = zones.localize(naive, tokens, zone, line_of,
                                            zone.strip().lower() in zones.OFFSET_COLUMNS)
    inside = (ns >= timestamps.FIRST_NS) & (ns < timestamps.END_NS)
    reason = np.where(times.reason != OK, times.reason,
                      np.where(no_zone, timestamps.NO_ZONE,
                               np.where(gap, timestamps.LOCAL_GAP,
                                        np.where(inside, OK, OUT_OF_RANGE)))).astype(np.int8)
    both = f"{schema.timestamp!r}" + (f" and {schema.time_of_day!r}"
                                      if schema.time_of_day else "")
    if inferred and used and schema.zone_column:
        found.append(f"times in {both} are local to the zone each row's {zone!r} names "
                     f"({', '.join(used)}), and were converted to UTC")
    elif inferred and zones.zone_of(schema.time_zone) != 0:
        found.append(f"times in {both} are local to {used[0]}, as the header says, and were "
                     "converted to UTC")
    return replace(times, ns=np.where(reason == OK, ns, NAT), reason=reason)


def _read_values(frame: pd.DataFrame, position: dict[str, int], schema: Schema,
                 inferred: bool, check: Sequence[str], ts: np.ndarray, line_of: LineOf,
                 dialect: Dialect, assumed: set[str], found: list[str]
                 ) -> tuple[dict[str, np.ndarray], list[str], str]:
    """(each metric's float64 values, the metrics, the decimal separator): a fresh reading
    decides separator and metrics from every cell; cells that hold no number are named."""
    value_columns = schema.metrics if schema.kind == "wide" else ("value",)
    keep = ts != NAT
    columns: dict[str, np.ndarray] = {}
    texts = {c: _text(frame[position[c]]) for c in (*value_columns, *check)
             if frame[position[c]].dtype != "float64"}
    decimal = schema.decimal
    if texts:
        decimal = _decide(texts, schema, inferred, dialect, keep, assumed, found, line_of)
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
        if inferred and schema.kind == "wide" and not _most(filled, words):
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
            f"{', '.join(map(repr, examples))} on {_listed([line_of(int(r)) for r in at])})")


def _decide(texts: dict[str, pd.Series], schema: Schema, inferred: bool, dialect: Dialect,
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
        if not _most(filled, words):
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
