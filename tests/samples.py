"""Small datasets the tests share, and tables loaded the way a CSV file of them is."""
from __future__ import annotations

from typing import Any

import pandas as pd

from app.data import reader
from app.data.reader import Reading
from app.data.schema import Schema
from app.engine.compute import Result

# Two hosts, three minutes, metrics cpu and mem: the `hosts` dataset of the fixtures.
WIDE_CSV = """timestamp,cpu,mem,host,region
2024-05-01T00:00:00Z,10,50,web-1,eu
2024-05-01T00:00:00Z,20,60,web-2,us
2024-05-01T00:01:00Z,11,51,web-1,eu
2024-05-01T00:01:00Z,21,61,web-2,us
2024-05-01T00:02:00Z,12,52,web-1,eu
2024-05-01T00:02:00Z,22,62,web-2,us
"""


def read_table(frame: pd.DataFrame, schema: Schema | None = None) -> Reading:
    """``frame`` saved as a CSV file (no index; NaN and None as empty cells) and read as
    the app reads files: its schema inferred, or ``schema`` pinned as for appended lines."""
    return reader.read(frame.to_csv(index=False).encode(), schema)


def reduced_cells(values: pd.Series, names: pd.Series, starts: pd.Series,
                  agg: str) -> dict[str, dict[int, float]]:
    """pandas' answer for a view: ``values`` grouped by trace name and bucket start (int64 ns),
    reduced by ``agg`` (count, pNN by linear interpolation, or a pandas reduction name)."""
    grouped = values.groupby([names, starts])
    if agg == "count":
        table = grouped.size().astype(float)
    elif agg.startswith("p"):
        table = grouped.quantile(int(agg[1:]) / 100)
    else:
        table = grouped.agg(agg)
    out: dict[str, dict[int, float]] = {}
    for key, value in table.items():
        parts: tuple[Any, ...] = tuple(key)  # type: ignore[arg-type]  # a two-level index
        out.setdefault(str(parts[0]), {})[int(parts[1])] = float(value)
    return out


def cells(result: Result) -> dict[str, dict[int, float]]:
    """What the chart draws, trace by trace (traces without points left out)."""
    return {t.name: dict(zip(t.x.tolist(), t.y.tolist(), strict=True))
            for t in result.traces if len(t.x)}
