"""Memory retention: by points or by age; what is dropped stays in the file."""
from __future__ import annotations

import numpy as np
import pytest

from app.config import parse_retention
from app.data.schema import Batch, Schema
from app.data.store import Dataset

SECOND = 1_000_000_000
SCHEMA = Schema("timestamp", "wide", ("cpu",), ())


def seconds(start: int, stop: int) -> Batch:
    ts = np.arange(start, stop, dtype=np.int64) * SECOND
    return Batch(ts, np.array(["cpu"] * len(ts), object), ts.astype(float) / SECOND)


@pytest.mark.parametrize("text, points, age", [
    ("2000000", 2_000_000, 0), ("0", 0, 0), ("90m", 0, 5400 * SECOND),
    ("24h", 0, 86400 * SECOND), ("7d", 0, 7 * 86400 * SECOND), (" 30s ", 0, 30 * SECOND),
])
def test_parse_retention(text: str, points: int, age: int) -> None:
    assert parse_retention(text) == (points, age)


@pytest.mark.parametrize("text", ["", "-5", "7 days", "0d", "1.5h", "h"])
def test_parse_retention_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="neither a number of points nor an age"):
        parse_retention(text)


def test_age_retention_keeps_the_newest_window() -> None:
    dataset = Dataset("d", SCHEMA, max_age_ns=3600 * SECOND)
    for start in range(0, 20_000, 1000):
        dataset.append(seconds(start, start + 1000))
    snap = dataset.snapshot().merged()
    newest = int(snap.ts[-1])
    assert newest == 19_999 * SECOND
    # Trimmed in amortised steps: never more than a quarter over the window's points.
    assert int(snap.ts[0]) >= newest - 3600 * SECOND * 1.34
    assert len(snap.ts) >= 3601 and len(snap.ts) <= 3601 * 1.34
    assert np.all(np.diff(snap.ts) > 0)


def test_point_retention_counts_rows_pro_rata() -> None:
    dataset = Dataset("d", SCHEMA, retention=1000)
    for start in range(0, 5000, 500):
        dataset.append(seconds(start, start + 500))
    assert 1000 <= len(dataset) <= 1250
    assert dataset.rows == len(dataset)  # one point per row here
    assert dataset.end == 4999 * SECOND
