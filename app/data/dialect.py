"""How a CSV file is written: its text encoding (UTF-8 with or without a BOM, UTF-16,
else detected), comment lines and an Excel ``sep=`` line before the header, the
delimiter and quoting (sniffed from the first lines), trailing delimiters, and the
header's names. ``split_csv`` splits an ingest body by the same rules.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from charset_normalizer import from_bytes

from . import timestamps
from .schema import SchemaError

SNIFF_LINES = 50  # lines that choose the delimiter and quoting
DELIMITERS = (",", ";", "\t", "|")
ENCODING_NAMES = {"cp1252": "Windows-1252", "latin_1": "Latin-1 (ISO-8859-1)",
                  "iso8859_15": "Latin-9 (ISO-8859-15)", "cp1250": "Windows-1250",
                  "mac_roman": "Mac Roman", "cp437": "DOS (CP437)", "cp850": "DOS (CP850)"}
# IBM/DOS console code pages: what `type` printed in a DOS window, not what spreadsheets,
# loggers or exports write (Windows programs write the cp125x "ANSI" pages). On a short
# file they win by noise: a lone "\x80" (Windows-1252 "€") came out as Baltic DOS cp775
# "Ć". They are chosen only when no other page reads the file.
DOS_CODE_PAGES = frozenset({"cp437", "cp720", "cp737", "cp775", "cp850", "cp852", "cp855",
                            "cp856", "cp857", "cp858", "cp860", "cp861", "cp862", "cp863",
                            "cp864", "cp865", "cp866", "cp869", "cp1125"})
NUMERIC_LOOKING = re.compile(r"[+-]?[\d.,\s'\u00a0\u202f]*\d[\d.,\s'\u00a0\u202f]*")


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
    matches = [m for m in matches if m.encoding not in DOS_CODE_PAGES] or matches
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


def decode(data: bytes, encoding: str) -> tuple[bytes, str, tuple[str, ...]]:
    """(UTF-8 bytes without BOM, the encoding read, warnings); ``encoding`` "" detects it.

    ``SchemaError`` saying to save the file as UTF-8 when the bytes do not decode.
    """
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


def preamble(body: bytes) -> tuple[int, int, str]:
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
    start, _, _ = preamble(data.removeprefix(b"\xef\xbb\xbf"))
    start += len(data) - len(data.removeprefix(b"\xef\xbb\xbf"))
    end = data.find(b"\n", start)
    return len(data) if end < 0 else end + 1


# -- lines to cells ---------------------------------------------------------------------

def file_dialect(body: bytes, start: int, delimiter: str = "", quotechar: str = "") -> Dialect:
    """The dialect of UTF-8 ``body`` whose header line begins at byte ``start``, sniffed
    from the header and the ``SNIFF_LINES`` lines after it (``sniff``'s rules and errors);
    a pinned ``delimiter`` or ``quotechar`` is kept."""
    head_end = start
    for _ in range(SNIFF_LINES + 1):
        head_end = body.find(b"\n", head_end) + 1
        if not head_end:
            head_end = len(body)
            break
    return sniff(body[start:head_end].decode("utf-8", "replace"), delimiter, quotechar)

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


def check_names(names: Sequence[str]) -> None:
    """``SchemaError`` for a header with a name twice, or a first line of values, not names."""
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
    start, _, sep = preamble(text.encode("utf-8"))
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
    check_names(header)
    width = len(header)
    return header, [row[:-1] if len(row) == width + 1 and not row[-1].strip() else row
                    for row in rows[1:]]
