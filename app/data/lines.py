"""Line numbers in a reading's warnings, as an editor shows them (comment lines, the header
and a quoted cell's own line breaks counted): row index -> line, and how lists of lines
and counts of rows are written."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

LineOf = Callable[[int], int]  # row index -> line number in the file
SHOWN = 5  # line numbers listed in a warning


def line_numbers(rows: int, bad: np.ndarray, first_line: int, extra: np.ndarray | None
                 ) -> LineOf:
    """Row index of a frame of ``rows`` rows -> line number in the file, ``first_line``
    being the first data line's; ``bad`` are the 1-based records the CSV reader dropped
    (int64), ``extra`` per row the line breaks inside quoted cells before it (or None)."""
    kept = np.delete(np.arange(rows + len(bad)), bad - 1) if len(bad) else None

    def line_of(row: int) -> int:
        record = int(kept[row]) if kept is not None else row
        return first_line + record + (int(extra[row]) if extra is not None else 0)
    return line_of


def listed(lines: Sequence[int]) -> str:
    """``line 3`` or ``lines 3, 5, 9, 12, 20, ...``: the first ``SHOWN`` of ``lines``."""
    shown = ", ".join(str(n) for n in lines[:SHOWN])
    more = ", ..." if len(lines) > SHOWN else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def rows_phrase(count: int) -> str:
    """``1 row``, ``3 rows``."""
    return f"{count} row{'s' if count != 1 else ''}"
