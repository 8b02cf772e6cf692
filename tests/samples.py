"""Small datasets the tests share, and tables loaded the way a CSV file of them is."""
from __future__ import annotations

import pandas as pd

from app.data import reader
from app.data.reader import Reading
from app.data.schema import Schema

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
