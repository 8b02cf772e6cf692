"""CSV exports open safely in a spreadsheet (``app.engine.browse.neutralise``, OWASP's CSV
injection rules, the one rule every CSV export goes through): a text cell a spreadsheet
could run gets a leading ``'``; numbers and plain text do not."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.engine import browse

CELLS = [
    # OWASP's list: = + - @, tab, carriage return; line feed and NUL lead too.
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-1+1", "'-1+1"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ('=HYPERLINK("x")', "'=HYPERLINK(\"x\")"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("\n=1", "'\n=1"), ("\0=1+1", "'\0=1+1"),
    # ... also after spaces, which spreadsheets skip.
    ("  =1", "'  =1"), (" =1+1", "' =1+1"), ("   @SUM(A1)", "'   @SUM(A1)"),
    (" \t-1", "' \t-1"), (" -2", "' -2"),
    # Small form variants and full-width forms spreadsheets read as the same signs.
    ("\ufe66" "1", "'\ufe66" "1"), ("\ufe62" "1", "'\ufe62" "1"), ("\ufe63" "x", "'\ufe63" "x"),
    ("\ufe6b" "x", "'\ufe6b" "x"), ("\uff1d" "1", "'\uff1d" "1"),
    ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"), ("\uff0b1", "'\uff0b1"), ("\uff20x", "'\uff20x"),
    # Invisible characters before a sign: format (zero-width space, word joiner, BOM),
    # control (vertical tab, separators, NEL) and other spaces.
    ("\u200b=1", "'\u200b=1"), ("\u2060=1", "'\u2060=1"), ("\ufeff=1", "'\ufeff=1"),
    ("\x0b=1", "'\x0b=1"), ("\x1c=1", "'\x1c=1"), ("\x85=1", "'\x85=1"),
    ("\u2028=1", "'\u2028=1"), ("\u3000=1", "'\u3000=1"), ("\u00a0+1", "'\u00a0+1"),
    ("\x1fabc", "'\x1fabc"),  # a control character first hides what follows it
    # A cell that is just a number is read as that number: it runs nothing and stays.
    ("-2", "-2"), ("+1", "+1"), ("-0.5", "-0.5"), ("-1.5e3", "-1.5e3"), ("+.5", "+.5"),
    # Left alone: text that starts otherwise, the quote itself, numbers.
    ("web-1", "web-1"), ("'=1", "'=1"), ("a=1", "a=1"), ("a=b", "a=b"), ("1-2", "1-2"),
    ("  web-1", "  web-1"), ("", ""), ("\u2212" "1", "\u2212" "1"),
    (-1.5, -1.5), (-5.0, -5.0), (0.0, 0.0),
]


@pytest.mark.parametrize("cell, exported", CELLS)
def test_a_cell_a_spreadsheet_could_run_is_neutralised(cell: Any, exported: Any) -> None:
    assert browse.neutralise(cell) == exported


# Label cells a data file can hold (no line breaks or NUL inside a value).
IN_FILE = [c for c, _ in CELLS if isinstance(c, str) and c and not set(c) & set("\r\n\0")]


@pytest.fixture
def export_client(write_csv: Any, app_config: dict[str, Any]) -> FlaskClient:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(["timestamp", "value", "tag"])
    writer.writerows([f"2024-05-01T{i // 60:02d}:{i % 60:02d}:00Z", -i - 0.5, cell]
                     for i, cell in enumerate(IN_FILE))
    write_csv("tricky", text.getvalue())
    return create_app(app_config).test_client()


def test_the_csv_export_neutralises_every_label_cell_and_no_number(
        export_client: FlaskClient) -> None:
    response = export_client.get("/api/d/tricky/rows?metric=value&format=csv&agg=raw")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert rows[0] == ["timestamp", "metric", "value", "tag"]
    expected = dict(CELLS)
    # Newest first: the last cell of the file is the first row.
    assert [row[3] for row in rows[1:]] == [expected[c] for c in reversed(IN_FILE)]
    assert "'-2" not in {row[3] for row in rows} and "-2" in {row[3] for row in rows}
    # Negative values stay numbers: -0.5, -1.5, ... with no quote.
    assert [row[2] for row in rows[1:]] == [str(-i - 0.5) for i in reversed(range(len(IN_FILE)))]
