"""CSV schema inference: timestamp column, long or wide form, labels, UTC times, bad rows."""
from __future__ import annotations

import numpy as np
import pytest

from app.data import reader
from app.data.schema import Schema, SchemaError

# 2024-05-01T00:00:00Z in ns since the epoch, and one minute.
MAY_1 = 1_714_521_600_000_000_000
MINUTE = 60 * 1_000_000_000


def csv(text: str) -> bytes:
    """CSV bytes from a readable multi-line literal (leading indentation stripped)."""
    return "\n".join(line.strip() for line in text.strip().splitlines()).encode() + b"\n"


@pytest.mark.parametrize("text, expected", [
    # long: metric + value, every other column a label
    ("""timestamp,metric,value,host
        2024-05-01T00:00:00Z,cpu,1,web-1""",
     Schema("timestamp", "long", (), ("host",))),
    ("""host,value,timestamp,region,metric
        web-1,1,2024-05-01T00:00:00Z,eu,cpu""",
     Schema("timestamp", "long", (), ("host", "region"))),
    # wide: every numeric column a metric, every other column a label
    ("""timestamp,cpu,mem
        2024-05-01T00:00:00Z,1,2.5""",
     Schema("timestamp", "wide", ("cpu", "mem"), ())),
    ("""timestamp,cpu,host,mem,region
        2024-05-01T00:00:00Z,1,web-1,2,eu""",
     Schema("timestamp", "wide", ("cpu", "mem"), ("host", "region"))),
    # the tutorial's metrics.csv: wide with one metric called "value"
    ("""timestamp,value
        2024-05-01T00:00:00Z,42""",
     Schema("timestamp", "wide", ("value",), ())),
    # timestamp column not first
    ("""host,cpu,timestamp
        web-1,1,2024-05-01T00:00:00Z""",
     Schema("timestamp", "wide", ("cpu",), ("host",))),
    # "timestamp" wins over the other names
    ("""time,timestamp,cpu
        2024-06-01,2024-05-01,1""",
     Schema("timestamp", "wide", ("cpu",), ("time",))),
    # found by name
    ("""host,time,cpu
        web-1,2024-05-01T00:00:00Z,1""",
     Schema("time", "wide", ("cpu",), ("host",))),
    ("""host,date,cpu
        web-1,2024-05-01,1""",
     Schema("date", "wide", ("cpu",), ("host",))),
    ("""host,datetime,cpu
        web-1,2024-05-01 00:00:00,1""",
     Schema("datetime", "wide", ("cpu",), ("host",))),
    ("""host,ts,cpu
        web-1,2024-05-01T00:00:00Z,1""",
     Schema("ts", "wide", ("cpu",), ("host",))),
    # no such name: the first column that parses as datetimes
    ("""host,when,cpu
        web-1,2024-05-01T00:00:00Z,1
        web-2,2024-05-01T00:01:00Z,2""",
     Schema("when", "wide", ("cpu",), ("host",))),
    ("""created,updated,cpu
        2024-05-01,2024-06-01,1""",
     Schema("created", "wide", ("cpu",), ("updated",))),
    ("""id,when,metric,value
        7,2024-05-01T00:00:00Z,cpu,1""",  # numbers are not dates
     Schema("when", "long", (), ("id",))),
    pytest.param(
        """month,recorded,sales
        May,2024-05-01T00:00:00Z,1""",
        Schema("recorded", "wide", ("sales",), ("month",))),
])
def test_the_schema_a_file_implies(text: str, expected: Schema) -> None:
    schema = reader.read(csv(text)).schema
    assert schema == expected


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"  \n\n", "the file is empty"),
    (csv("""host,cpu
            web-1,1"""),
     "no timestamp column: name one 'timestamp', 'time', 'date', 'datetime' or 'ts', "
     "or put ISO-8601 dates in a column"),
    (csv("""host,note,cpu
            web-1,hello,1"""), "no timestamp column"),
    (csv("""timestamp,host
            2024-05-01T00:00:00Z,web-1"""),
     "no numeric column to chart: add numeric columns (wide form) "
     "or 'metric' and 'value' columns (long form)"),
    # header only: a wide file has no rows to tell which columns are numbers
    (b"timestamp,value\n", "no rows yet"),
])
def test_files_that_are_no_time_series_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        reader.read(data)
    assert message in str(raised.value)


def test_header_only_long_file_is_an_empty_dataset() -> None:
    reading = reader.read(b"timestamp,metric,value,host\n")
    schema, batch = reading.schema, reading.batch
    assert schema == Schema("timestamp", "long", (), ("host",))
    assert len(batch) == 0
    assert batch.skipped == 0


@pytest.mark.parametrize("stamp, ns", [
    ("2024-05-01T00:00:00Z", MAY_1),
    ("2024-05-01T00:00:00+00:00", MAY_1),
    ("2024-05-01T02:00:00+02:00", MAY_1),
    ("2024-04-30T20:00:00-04:00", MAY_1),
    ("2024-05-01T00:00:00", MAY_1),  # naive is UTC
    ("2024-05-01 00:00:00", MAY_1),
    ("2024-05-01", MAY_1),
    ("2024-05-01T00:01:00.5Z", MAY_1 + MINUTE + 500_000_000),
])
def test_timestamps_become_utc_nanoseconds(stamp: str, ns: int) -> None:
    batch = reader.read(f"timestamp,v\n{stamp},1\n".encode()).batch
    assert batch.ts.dtype == np.int64
    assert batch.ts.tolist() == [ns]


def test_zoned_and_naive_timestamps_mix_in_one_column() -> None:
    batch = reader.read(csv("""time,v
        2024-05-01T02:00:00+02:00,1
        2024-05-01T00:01:00,2
        2024-04-30T19:02:00-05:00,3""")).batch
    assert batch.ts.tolist() == [MAY_1, MAY_1 + MINUTE, MAY_1 + 2 * MINUTE]
    assert batch.value.tolist() == [1.0, 2.0, 3.0]


def test_long_rows_become_points_with_labels() -> None:
    batch = reader.read(csv("""timestamp,metric,value,host
        2024-05-01T00:00:00Z,cpu,1.5,web-1
        2024-05-01T00:00:00Z,mem,60,web-1
        2024-05-01T00:01:00Z,cpu,2,""")).batch
    assert batch.ts.tolist() == [MAY_1, MAY_1, MAY_1 + MINUTE]
    assert batch.metric.tolist() == ["cpu", "mem", "cpu"]
    assert batch.value.tolist() == [1.5, 60.0, 2.0]
    assert batch.labels["host"].tolist() == ["web-1", "web-1", None]


def test_wide_rows_become_one_point_per_metric_in_time_order() -> None:
    batch = reader.read(csv("""timestamp,cpu,mem,host
        2024-05-01T00:01:00Z,11,51,web-1
        2024-05-01T00:00:00Z,10,,web-2""")).batch
    assert batch.ts.tolist() == [MAY_1, MAY_1 + MINUTE, MAY_1 + MINUTE]
    assert batch.metric.tolist() == ["cpu", "cpu", "mem"]
    assert batch.value.tolist() == [10.0, 11.0, 51.0]  # the empty mem cell is no point
    assert batch.labels["host"].tolist() == ["web-2", "web-1", "web-1"]


def test_string_labels_that_look_like_numbers_stay_text() -> None:
    # A label column is read as text, so "007" keeps its zeros and is not the number 7.
    reading = reader.read(csv("""timestamp,cpu,host,zone
        2024-05-01T00:00:00Z,1,web-1,a07
        2024-05-01T00:01:00Z,2,web-2,007"""))
    schema, batch = reading.schema, reading.batch
    assert schema.labels == ("host", "zone")
    assert batch.labels["zone"].tolist() == ["a07", "007"]


def test_tutorial_file_is_wide_with_one_metric_value() -> None:
    reading = reader.read(csv("""timestamp,value
        2024-05-01T00:00:00Z,1
        2024-05-01T00:01:00Z,2
        2024-05-01T00:02:00Z,4"""))
    schema, batch = reading.schema, reading.batch
    assert (schema.kind, schema.metrics, schema.labels) == ("wide", ("value",), ())
    assert batch.metric.tolist() == ["value"] * 3
    assert batch.value.tolist() == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("bad_cells, skipped", [
    (["not a date"], 1),
    ([""], 1),  # an empty cell
    (["2024-02-30T00:00:00Z"], 1),  # an impossible date
    (["nope", "2024-13-01", ""], 3),
    pytest.param(["9999-01-01T00:00:00Z"], 1),
    pytest.param(["3pm"], 1),
])
def test_rows_with_bad_timestamps_are_skipped_and_counted(bad_cells: list[str],
                                                          skipped: int) -> None:
    rows = ["2024-05-01T00:00:00Z,1", *[f"{cell},99" for cell in bad_cells],
            "2024-05-01T00:01:00Z,2"]
    batch = reader.read(("timestamp,v\n" + "\n".join(rows) + "\n").encode()).batch
    assert batch.ts.tolist() == [MAY_1, MAY_1 + MINUTE]
    assert batch.value.tolist() == [1.0, 2.0]
    assert batch.skipped == skipped


def test_skipped_counts_rows_not_points_in_wide_files() -> None:
    batch = reader.read(csv("""timestamp,cpu,mem
        2024-05-01T00:00:00Z,1,2
        garbage,3,4""")).batch
    assert batch.value.tolist() == [1.0, 2.0]
    assert batch.skipped == 1


def test_a_pinned_schema_reads_appended_lines() -> None:
    schema = reader.read(csv("""timestamp,cpu,host
        2024-05-01T00:00:00Z,1,web-1""")).schema
    batch = reader.read(csv("""timestamp,cpu,host
        2024-05-01T00:01:00Z,2,007"""), schema).batch
    assert batch.labels["host"].tolist() == ["007"]
    with pytest.raises(SchemaError, match="columns changed: missing host"):
        reader.read(b"timestamp,cpu\n2024-05-01T00:01:00Z,2\n", schema)
    with pytest.raises(SchemaError, match="columns changed: unexpected disk"):
        reader.read(b"timestamp,cpu,host,disk\n2024-05-01T00:01:00Z,2,a,3\n", schema)

