"""The ingest API's timestamps: ISO-8601 alone, each value its own form, UTC nanoseconds."""
from __future__ import annotations

import pandas as pd
import pytest

from app.data.schema import NAT
from app.data.timestamps import ISO_INSTANT, read_iso

MAY_1 = 1_714_521_600_000_000_000  # 2024-05-01T00:00:00Z in ns since the epoch


@pytest.mark.parametrize("text, ns", [
    ("2024-05-01T00:00:00Z", MAY_1),
    (" 2024-05-01T02:00:00+02:00 ", MAY_1),  # the offset applied, spaces around ignored
    ("2024-04-30T19:00:00-0500", MAY_1),
    ("2024-05-01", MAY_1),  # a date alone is its midnight, UTC
    ("2024-05-01 00:00:01.5", MAY_1 + 1_500_000_000),  # naive is UTC
    ("2024-05-01T00:00:00.000000001Z", MAY_1 + 1),
    ("1678-01-01T00:00:00Z", -9_214_560_000_000_000_000),  # the first instant stored
    ("1677-12-31T23:59:59Z", NAT),  # int64 ns would hold it, but not its whole year
    ("2262-01-01T00:00:00Z", NAT),
    ("2024-02-30T00:00:00Z", NAT),  # no such day
    ("2024-05-01T24:00:00Z", NAT),
])
def test_iso_instants_as_ingest_reads_them(text: str, ns: int) -> None:
    assert ISO_INSTANT.fullmatch(text.strip())
    assert read_iso(pd.Series([text, "2024-05-01T00:00:00Z"], dtype="string")).tolist() \
        == [ns, MAY_1]


@pytest.mark.parametrize("text", ["now", "today", "2024-05", "20240501", "01/05/2024",
                                  "2024-05-01T12", "2024-05-01T12:00:00 CET"])
def test_the_api_takes_no_other_form(text: str) -> None:
    assert ISO_INSTANT.fullmatch(text) is None
