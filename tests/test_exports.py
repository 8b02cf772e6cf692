"""CSV exports open safely in a spreadsheet (``app.web.exports``, OWASP's CSV injection rules):
a text cell a spreadsheet could run gets a leading ``'``; numbers and plain text do not."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app

CELLS = [
    # OWASP's list, at the start and after spaces (the engine did these already).
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("  =1", "'  =1"),
    # Small form variants and full-width forms spreadsheets read as the same signs.
    ("\ufe66" "1", "'\ufe66" "1"), ("\ufe62" "1", "'\ufe62" "1"), ("\ufe63" "x", "'\ufe63" "x"),
    ("\ufe6b" "x", "'\ufe6b" "x"), ("\uff1d" "1", "'\uff1d" "1"),
    # Invisible characters before a sign: format (zero-width space, word joiner, BOM),
    # control (vertical tab, separators, NEL) and other spaces.
    ("\u200b=1", "'\u200b=1"), ("\u2060=1", "'\u2060=1"), ("\ufeff=1", "'\ufeff=1"),
    ("\x0b=1", "'\x0b=1"), ("\x1c=1", "'\x1c=1"), ("\x85=1", "'\x85=1"),
    ("\u2028=1", "'\u2028=1"), ("\u3000=1", "'\u3000=1"), ("\u00a0+1", "'\u00a0+1"),
    ("\x1fabc", "'\x1fabc"),  # a control character first hides what follows it
    # Left alone: text that starts otherwise, the quote itself, numbers.
    ("web-1", "web-1"), ("'=1", "'=1"), ("a=1", "a=1"), ("", ""), ("\u2212" "1", "\u2212" "1"),
    (-1.5, -1.5), (0.0, 0.0),
]


@pytest.mark.parametrize("cell, exported", CELLS)
def test_a_cell_a_spreadsheet_could_run_is_neutralised(cell: Any, exported: Any) -> None:
    from app.web.exports import neutralise

    assert neutralise(cell) == exported


@pytest.fixture
def export_client(write_csv: Any, app_config: dict[str, Any]) -> FlaskClient:
    text = [c for c, _ in CELLS if isinstance(c, str) and c and "\r" not in c]
    lines = ["timestamp,value,tag"] + [
        f'2024-05-01T00:{i:02d}:00Z,{-i - 0.5},"{v}"' for i, v in enumerate(text)]
    write_csv("tricky", "\n".join(lines) + "\n")
    return create_app(app_config).test_client()


def test_the_csv_export_neutralises_every_label_cell_and_no_number(
        export_client: FlaskClient) -> None:
    response = export_client.get("/api/d/tricky/rows?metric=value&format=csv&agg=raw")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
    expected = {c: e for c, e in CELLS if isinstance(c, str)}
    shown = {row[3] for row in rows[1:]}
    wanted = {expected[c] for c in expected if c and "\r" not in c}
    assert shown == wanted
    # Negative values stay numbers: -0.5, -1.5, ... with no quote.
    assert [row[2] for row in rows[1:4]] == [str(-i - 0.5) for i in range(len(rows) - 2,
                                                                          len(rows) - 5, -1)]
