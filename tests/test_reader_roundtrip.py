"""Property: any frame pandas writes in a supported dialect, date format and encoding reads
back to the same instants, values and labels."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.data import reader

SECOND = 1_000_000_000
FIRST = 126_230_400  # 1974-01-01T00:00:00Z, seconds: every epoch unit is clear from here on
LAST = 7_258_118_400  # 2200-01-01T00:00:00Z
# (delimiter, decimal separator) as spreadsheets write them
DIALECTS = [(",", "."), (";", "."), (";", ","), ("\t", "."), ("|", ".")]
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252"]


def text(fmt: str) -> Callable[[int], str]:
    return lambda ns: pd.Timestamp(ns, tz="UTC").strftime(fmt)


# name -> (how a cell is written from ns, resolution in ns, day/month order it needs)
FORMATS: dict[str, tuple[Callable[[int], object], int, str]] = {
    "iso": (text("%Y-%m-%dT%H:%M:%SZ"), SECOND, ""),
    "iso-micro": (text("%Y-%m-%dT%H:%M:%S.%fZ"), 1_000, ""),
    "day-first": (text("%d/%m/%Y %H:%M:%S"), SECOND, "DMY"),
    "month-first": (text("%m/%d/%Y %H:%M:%S"), SECOND, "MDY"),
    "dotted": (text("%d.%m.%Y %H:%M"), 60 * SECOND, ""),
    "am-pm": (text("%m/%d/%Y %I:%M:%S %p"), SECOND, "MDY"),
    "epoch-s": (lambda ns: ns // SECOND, SECOND, ""),
    "epoch-ms": (lambda ns: ns // 1_000_000, 1_000_000, ""),
    "epoch-us": (lambda ns: ns // 1_000, 1_000, ""),
    "epoch-ns": (lambda ns: ns, 1, ""),
}
# UTF-8 is never guessed: any text reads back. A Windows-1252 file's encoding is detected
# statistically, so its labels are words as people write them ("àà" alone is not text).
WORDS = ["Orléans", "Küche", "Straße", "Besançon", "Málaga", "Århus", "Zürich", "Köln",
         "Genève", "Salle à manger", "Bureau été", "crème brûlée", "naïve", "l'Hôpital",
         "web-1", "lab, north", 'say "hi"', "a;b", "x|y", "Ærø", "Øresund", "€ per kWh"]


def _label(text: str) -> bool:
    """Text a label can hold in these files: not a number, no edge spaces, no controls."""
    return (text == text.strip() and any(c.isalpha() and c not in "eE" for c in text)
            and not any(c in text for c in "\r\n\t"))


UTF8_LABEL = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1,
                     max_size=8).filter(_label)
CP1252_LABEL = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join)
VALUE = st.one_of(st.integers(-10**7, 10**7).map(lambda i: i / 1000), st.just(float("nan")))


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, str, list[tuple[int, str, float, str]]]:
    """A CSV file as pandas writes it, the date order to read it with, and its points."""
    name = draw(st.sampled_from(sorted(FORMATS)))
    write, step, order = FORMATS[name]
    rows = draw(st.integers(1, 12))
    instants = [draw(st.integers(FIRST * SECOND // step, LAST * SECOND // step)) * step
                for _ in range(rows)]
    cpu = [draw(VALUE) for _ in range(rows)]
    temp = [draw(st.integers(-50, 50)) for _ in range(rows)]
    delimiter, decimal = draw(st.sampled_from(DIALECTS))
    encoding = draw(st.sampled_from(ENCODINGS))
    label = CP1252_LABEL if encoding == "cp1252" else UTF8_LABEL
    host = [draw(label) for _ in range(rows)]
    date_order = order or "MDY"
    if order:
        days = [pd.Timestamp(ns, tz="UTC").day for ns in instants]
        settled = any(d > 12 for d in days)
        # a column that fits both orders follows date_order; one that does not ignores it
        if draw(st.booleans()):
            assume(settled)
            date_order = "MDY" if order == "DMY" else "DMY"
    frame = pd.DataFrame({"timestamp": [write(ns) for ns in instants], "cpu": cpu,
                          "temp": temp, "host": host})
    data = frame.to_csv(sep=delimiter, decimal=decimal, index=False).encode(encoding)
    points = [(ns, "cpu", v, h) for ns, v, h in zip(instants, cpu, host, strict=True)
              if not np.isnan(v)]
    points += [(ns, "temp", float(v), h) for ns, v, h in zip(instants, temp, host, strict=True)]
    return data, date_order, sorted(points)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_what_pandas_writes_reads_back_the_same(
        case: tuple[bytes, str, list[tuple[int, str, float, str]]]) -> None:
    data, date_order, expected = case
    reading = reader.read(data, date_order=date_order)
    batch = reading.batch
    got = sorted(zip(batch.ts.tolist(), batch.metric.tolist(), batch.value.tolist(),
                     batch.labels["host"].tolist(), strict=True))
    assert got == expected
    assert reading.skipped == 0
