"""CSV exports made safe to open in a spreadsheet: OWASP's CSV injection rules, whole.

``engine.browse.csv_chunks`` prefixes cells starting with ``= + - @``, tab, CR, LF, NUL or
their full-width forms, also after spaces. Spreadsheets also read the small form variants
(``﹦ ﹢ ﹣ ﹫``) as formula signs, and skip invisible format characters (zero-width space,
word joiner, byte-order mark) and other control characters before one: cells such as
``\\u200b=1`` or ``\\x0b=1`` passed untouched. Here a text cell is neutralised (a leading
``'``, OWASP's advice) when, after any leading whitespace, control or format characters,
its first character is one of ``= + - @`` once NFKC-normalised (which folds full-width
and small forms onto them), or when it starts with a control character at all. Numbers
are never text cells: a negative value in a metric column stays a number.
"""
from __future__ import annotations

import dataclasses
import unicodedata
from typing import Any

from ..engine.browse import Rows

FORMULA_SIGNS = frozenset("=+-@")
# Skipped before a formula sign: control (Cc: tab, CR, NUL, VT...), format (Cf: ZWSP, word
# joiner, BOM...) and space separators (Zs, Zl, Zp).
SKIPPED = frozenset(("Cc", "Cf", "Zs", "Zl", "Zp"))


def is_formula(cell: str) -> bool:
    """True if a spreadsheet could run text ``cell`` as a formula (or its start is hidden)."""
    if not cell:
        return False
    if unicodedata.category(cell[0]) == "Cc":
        return True
    for char in cell:
        if unicodedata.category(char) not in SKIPPED and not char.isspace():
            return unicodedata.normalize("NFKC", char)[:1] in FORMULA_SIGNS
    return False


def neutralise(cell: Any) -> Any:
    """``cell`` with a leading ``'`` if it is text a spreadsheet could run; else as it is."""
    return "'" + cell if isinstance(cell, str) and is_formula(cell) else cell


def neutralised(table: Rows) -> Rows:
    """``table`` whose text cells (header included) are neutralised as they are read."""
    read = table._get

    def get(start: int, stop: int) -> list[tuple[Any, ...]]:
        return [tuple(neutralise(cell) for cell in row) for row in read(start, stop)]

    return dataclasses.replace(table, columns=tuple(neutralise(c) for c in table.columns),
                               _get=get)
