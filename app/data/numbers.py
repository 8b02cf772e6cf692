"""Numbers as spreadsheets write them -> float64, and why a cell holds none.

One decimal separator per file, settled by the values: a point or a comma, thousands
grouped by three (``1,234.5``, ``1.234,5``, ``1 234,5``, ``1'234.50``), a leading ``+``
or a Unicode minus. Formats with one meaning are numbers: a currency symbol before or
after (``$1.50``, ``1.234,50 €``), a percent sign (``45%`` is 45: the value as written),
accounting parentheses (``(5.00)`` is -5) and SAP's trailing minus (``1.234,50-`` is
-1234.5). Missing-value markers (``n/a``, ``-``, ``NaN``, ``inf``, ``#DIV/0!``...) hold
no number and do not count against a column being a metric; words (``ERR``) do. Every
cell that holds no number is counted and named (``cell_notes``).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .lines import SHOWN, LineOf, listed

# What a cell holds, one code per row.
NUMBER, EMPTY, MARKER, WORD, HUGE, STRAY = 0, 1, 2, 3, 4, 5
# Cells that mean "no value" in exports and spreadsheets: no number, and no vote against
# the column being a metric. Compared lower-case.
MISSING = frozenset({
    "na", "n/a", "n.a.", "n.a", "nan", "-nan", "null", "none", "nil", "-", "--", "---",
    "\u2013", "\u2014", "?", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
    "#n/a", "#n/a n/a", "#na", "#div/0!", "#value!", "#ref!", "#num!", "#name?", "#null!",
    "#error!", "#getting_data", "#spill!", "#calc!"})
CURRENCIES = "$€£¥"
UNIT_NAMES = {"%": "percent", "$": "$", "€": "€", "£": "£", "¥": "¥"}
THOUSANDS = {".": ",  \u00a0\u202f'", ",": ".  \u00a0\u202f'"}  # by decimal separator
# A number without sign or marks, for each decimal separator. A group of thousands starts
# with 1-9: "0.234" in a decimal-comma file is no 234.
NUMBER_BODY = {d: re.compile(rf"(?:[1-9]\d{{0,2}}(?P<g>[{re.escape(g)}])\d{{3}}(?:(?P=g)\d{{3}})*"
                             rf"|\d*)(?:{re.escape(d)}\d*)?(?:[eE][+-]?\d+)?")
               for d, g in THOUSANDS.items()}
PLAIN = {".": re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
         ",": re.compile(r"[+-]?(?:\d+,?\d*|,\d+)(?:[eE][+-]?\d+)?")}
# Signs, currency, percent, parentheses and a trailing minus around a number's body.
SHAPE = re.compile(
    r"(?P<open>\()?\s*(?P<s1>[+-])?\s*(?P<pre>[$€£¥])?\s*(?P<s2>[+-])?\s*"
    r"(?P<body>[\d.,'\s\u00a0\u202f]*\d[\d.,'\s\u00a0\u202f]*(?:[eE][+-]?\d+)?)"
    r"\s*(?P<post>[$€£¥%])?\s*(?P<close>\))?(?P<trail>-)?")
EXACT = 2 ** 53  # integers beyond this lose digits as float64
# Forms noted once per column: the reading that was assumed.
PARENS, TRAILING, LOSSY = "parentheses", "trailing minus", "beyond 2^53"
STRAY_SHARE = 0.05  # a reading contradicted by at most 1 in 20 of the values that settle it


@dataclass(frozen=True)
class Cell:
    """One distinct text read as a number."""

    value: float = np.nan
    status: int = WORD
    unit: str = ""  # "$", "€", "£", "¥" or "%"
    form: str = ""  # PARENS, TRAILING or LOSSY: a reading worth saying once


def _body_value(body: str, decimal: str) -> float | None:
    """The value of a number's body (no sign, no marks) written with ``decimal``."""
    match = NUMBER_BODY[decimal].fullmatch(body)
    if match is None or not any(c.isdigit() for c in body):
        return None
    if match.group("g"):
        body = body.replace(match.group("g"), "")
    return float(body.replace(",", ".") if decimal == "," else body)


def _shape(text: str) -> re.Match[str] | None:
    """The marks around a number, or None when they do not make one meaning."""
    m = SHAPE.fullmatch(text)
    if m is None:
        return None
    open_, close, trail = m.group("open"), m.group("close"), m.group("trail")
    signed = m.group("s1") or m.group("s2")
    if bool(open_) != bool(close) or (m.group("s1") and m.group("s2")) \
            or ((open_ or trail) and signed) or (open_ and trail) \
            or (m.group("pre") and m.group("post")):
        return None
    return m


def read_cell(raw: str, decimal: str) -> Cell:
    """A cell's text (``decimal`` is ``.`` or ``,``) as a number, or why it holds none."""
    text = raw.strip().replace("\u2212", "-")
    if not text:
        return Cell(status=EMPTY)
    if text.lower() in MISSING:
        return Cell(status=MARKER)
    if PLAIN[decimal].fullmatch(text):  # the common case: no marks, no thousands
        value = float(text.replace(",", ".") if decimal == "," else text)
        form = LOSSY if _lossy(text, value) else ""
        return Cell(value, HUGE if np.isinf(value) else NUMBER, form=form)
    m = _shape(text)
    if m is None:
        return Cell()
    body = m.group("body").strip()
    magnitude = _body_value(body, decimal)
    if magnitude is None:
        other = "," if decimal == "." else "."
        return Cell(status=STRAY if _body_value(body, other) is not None else WORD)
    negative = "-" in (m.group("s1"), m.group("s2"), m.group("trail")) or bool(m.group("open"))
    value = -magnitude if negative else magnitude
    unit = m.group("pre") or m.group("post") or ""
    form = PARENS if m.group("open") else TRAILING if m.group("trail") else \
        LOSSY if _lossy(body, value) else ""
    return Cell(value, HUGE if np.isinf(value) else NUMBER, unit, form)


def _lossy(text: str, value: float) -> bool:
    """True if ``text`` writes a whole number that ``value`` (its float64) does not hold."""
    if abs(value) < EXACT or np.isinf(value):
        return False
    digits = text.lstrip("+-").replace(" ", "").replace("'", "")
    return digits.isdigit() and int(digits) != int(value)


@dataclass
class Votes:
    """What a column's values say about the decimal separator (counted in rows)."""

    comma: int = 0  # rows only a decimal comma reads ("21,5", "1.234,5")
    point: int = 0  # rows only a decimal point reads ("1.5", "1,234,567")
    comma_only: int = -1  # the first such value (an index into the values), -1 when none
    point_only: int = -1
    by_comma: str = ""  # the first value either reads, differently: "1,234"
    by_point: str = ""  # "1.234"

    def add(self, other: Votes, offset: int = 0) -> None:
        """Count ``other``'s votes too (its indexes shifted by ``offset``)."""
        self.comma += other.comma
        self.point += other.point
        if self.comma_only < 0 <= other.comma_only:
            self.comma_only = other.comma_only + offset
        if self.point_only < 0 <= other.point_only:
            self.point_only = other.point_only + offset
        self.by_comma = self.by_comma or other.by_comma
        self.by_point = self.by_point or other.by_point


def votes(values: Sequence[str], counts: Sequence[int] | None = None) -> Votes:
    """How ``values`` (distinct, with their row ``counts``) vote on the decimal separator.

    Words ("v1.2", ".A") and numbers both separators read the same ("12", "1 234") do not
    vote; values both read differently ("1,234") are kept as examples.
    """
    out = Votes()
    for k, value in enumerate(values):
        text = value.strip().replace("\u2212", "-")
        m = _shape(text) if text.lower() not in MISSING else None
        if m is None:
            continue
        body = m.group("body").strip()
        point, comma = _body_value(body, "."), _body_value(body, ",")
        weight = counts[k] if counts is not None else 1
        if point is not None and comma is None:
            out.point += weight
            out.point_only = k if out.point_only < 0 else out.point_only
        elif comma is not None and point is None:
            out.comma += weight
            out.comma_only = k if out.comma_only < 0 else out.comma_only
        elif point is not None and comma is not None and point != comma:
            if "," in body and not out.by_comma:
                out.by_comma = text
            elif "." in body and not out.by_point:
                out.by_point = text
    return out


def decide_decimal(total: Votes, delimiter: str) -> tuple[str, str, bool]:
    """(the decimal separator ``total`` implies, a value that reads either way when none
    settled it, whether the values disagree by more than a few strays).

    The side with more rows wins; the other side's values are strays (left out, counted)
    when they are at most ``STRAY_SHARE`` of it, else the values disagree. Without a value
    that settles it, ``;``-separated files use decimal commas; a dot before three digits
    is a decimal point; a comma before three digits groups thousands outside ``;``
    files. A comma-separated file never has unquoted decimal commas.
    """
    comma, point = total.comma, total.point
    if comma or point:
        major, minor = max(comma, point), min(comma, point)
        return ("," if comma > point else "."), "", minor > STRAY_SHARE * major
    if delimiter == ",":
        return ".", "", False
    if total.by_comma:
        return ("," if delimiter == ";" else "."), total.by_comma, False
    return ("." if total.by_point else "," if delimiter == ";" else "."), total.by_point, False


def is_numeric(values: Sequence[str]) -> tuple[int, int]:
    """(cells that are numbers with either separator, words) among ``values``."""
    numbers = words = 0
    for value in values:
        cell = read_cell(value, ".")
        if cell.status in (NUMBER, HUGE, STRAY):
            numbers += 1
        elif cell.status == WORD:
            words += 1
    return numbers, words


@dataclass
class Numbers:
    """A text column read as numbers: values, a status per row, and what to say about it."""

    values: np.ndarray  # float64, NaN where no number
    status: np.ndarray  # int8 per row: NUMBER, EMPTY, MARKER, WORD, HUGE, STRAY
    codes: np.ndarray  # row -> index into ``uniques`` (-1 where empty)
    uniques: list[str]
    units: dict[str, int] = field(default_factory=dict)  # unit -> its first unique
    forms: dict[str, int] = field(default_factory=dict)  # form -> its first unique

    def first_row(self, unique: int) -> int:
        """The first row holding ``uniques[unique]``."""
        return int(np.argmax(self.codes == unique))

    def count(self, *statuses: int, where: np.ndarray | None = None) -> int:
        """Rows with one of ``statuses`` (among ``where``)."""
        hit = np.isin(self.status, statuses)
        return int((hit & where).sum() if where is not None else hit.sum())


def read_numbers(text: pd.Series, decimal: str) -> Numbers:
    """Parse a text column (stripped, NA where empty) with ``decimal`` (``.`` or ``,``)."""
    codes, raw = pd.factorize(text)
    uniques = [str(u) for u in raw]
    cells = [read_cell(u, decimal) for u in uniques]
    values_u = np.array([c.value for c in cells], dtype="float64")
    status_u = np.array([c.status for c in cells], dtype=np.int8)
    units: dict[str, int] = {}
    forms: dict[str, int] = {}
    for k, cell in enumerate(cells):
        if cell.unit:
            units.setdefault(cell.unit, k)
        if cell.form:
            forms.setdefault(cell.form, k)
    present = codes >= 0
    values = np.full(len(text), np.nan)
    status = np.full(len(text), EMPTY, dtype=np.int8)
    values[present] = values_u[codes[present]]
    status[present] = status_u[codes[present]]
    values[status == HUGE] = np.nan
    return Numbers(values, status, codes, uniques, units, forms)


def cell_notes(name: str, numbers: Numbers, keep: np.ndarray, line_of: LineOf,
               decimal: str) -> str:
    """The sentence naming the cells of metric ``name`` that hold no number, or "".

    ``keep`` marks rows that give points (their timestamp read); empty cells are no news.
    """
    bad = keep & np.isin(numbers.status, (MARKER, WORD, HUGE, STRAY))
    count = int(bad.sum())
    if not count:
        return ""
    parts = []
    seen = pd.unique(numbers.codes[bad])
    for k in seen[:4]:
        rows = np.flatnonzero(bad & (numbers.codes == k))[:SHOWN + 1]
        status = int(numbers.status[rows[0]])
        why = {HUGE: ": too large for a number",
               STRAY: f": a decimal {'point' if decimal == ',' else 'comma'}, where the "
                      f"file writes decimal {'commas' if decimal == ',' else 'points'}"
               }.get(status, "")
        parts.append(f"{numbers.uniques[int(k)]!r} on {listed([line_of(int(r)) for r in rows])}"
                     f"{why}")
    more = "; ..." if len(seen) > 4 else ""
    cells = f"{count} cell{'s' if count > 1 else ''} of {name!r}"
    verb = "hold no number and were" if count > 1 else "holds no number and was"
    return f"{cells} {verb} left out ({'; '.join(parts)}{more})"


def unit_notes(name: str, numbers: Numbers) -> list[str]:
    """Sentences saying how the marks around ``name``'s numbers were read."""
    notes = []
    for unit, k in numbers.units.items():
        text = numbers.uniques[k]
        what = "percent" if unit == "%" else f"{unit} (a currency)"
        notes.append(f"{name!r} is in {what}: {text!r} is read as "
                     f"{_shown(float(numbers.values[numbers.first_row(k)]))}")
    for form, k in numbers.forms.items():
        text = numbers.uniques[k]
        value = _shown(float(numbers.values[numbers.first_row(k)]))
        notes.append({
            PARENS: f"{name!r} writes negative numbers in parentheses: {text!r} is read as "
                    f"{value}",
            TRAILING: f"{name!r} writes the minus sign after the number: {text!r} is read "
                      f"as {value}",
            LOSSY: f"{name!r} holds whole numbers beyond 2^53, which a float64 cannot hold "
                   f"exactly: {text!r} is read as {value}"}[form])
    return notes


def _shown(value: float) -> str:
    return f"{value:.17g}" if abs(value) >= EXACT else f"{value:.15g}"


def mixed_units(numbers: Numbers) -> tuple[int, int] | None:
    """Two distinct uniques with different units ($ and €, % and $), or None."""
    if len(numbers.units) < 2:
        return None
    first, second = list(numbers.units.values())[:2]
    return first, second
