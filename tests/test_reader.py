"""Files as people write them: the corpus of messy CSVs, each with its instants and values
worked out by hand, the refusals that say what to change, and pinned re-reads."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.data.reader import Reading, ReadingChanged, header_end, split_csv
from app.data.schema import Schema, SchemaError, read_table

CORPUS = Path(__file__).parent / "corpus"
Point = tuple[str, str, float]  # (ISO instant in UTC, metric, value)


def read(name: str, date_order: str = "MDY") -> Reading:
    return read_table((CORPUS / name).read_bytes(), date_order=date_order)


def iso(ns: np.ndarray) -> list[str]:
    """Instants as ISO-8601 UTC text, fractions only where there are any."""
    return [pd.Timestamp(int(v), tz="UTC").isoformat().replace("+00:00", "Z") for v in ns]


def points(reading: Reading) -> list[Point]:
    batch = reading.batch
    return list(zip(iso(batch.ts), batch.metric.tolist(), batch.value.tolist(), strict=True))


def wide(metric: str, *rows: tuple[str, float]) -> list[Point]:
    return [(t, metric, v) for t, v in rows]


# (file, date_order, points, labels {name: values in point order}, skipped,
#  warnings: one substring per warning, in order)
CASES = [
    # 1. day-first, settled by 13/02 (no warning: no value fits both orders throughout)
    ("dayfirst_settled_by_13.csv", "MDY",
     wide("temp", ("2024-02-10T00:00:00Z", 5), ("2024-02-11T00:00:00Z", 6),
          ("2024-02-12T00:00:00Z", 7), ("2024-02-13T00:00:00Z", 8),
          ("2024-02-14T00:00:00Z", 9)), {}, 0, []),
    # dotted dates are day-first: 1 May, not 5 January
    ("dotted_dayfirst.csv", "MDY",
     wide("temp", ("2024-05-01T00:00:00Z", 20), ("2024-05-02T00:00:00Z", 21)), {}, 0, []),
    ("dotted_with_time.csv", "MDY",
     wide("Wert", ("2024-05-01T14:30:00Z", 1.5), ("2024-05-02T09:05:30Z", 2.0)), {}, 0, []),
    # 2. date + time of day are one timestamp, never today's date
    ("date_and_time_columns.csv", "MDY",
     wide("temp", ("2024-05-01T12:00:00Z", 20), ("2024-05-01T12:30:00Z", 21),
          ("2024-05-01T13:00:00Z", 22)), {}, 0, []),
    ("logger_date_time_dayfirst.csv", "MDY",
     wide("Temp", ("2024-05-13T08:00:00Z", 20.5), ("2024-05-14T08:00:30Z", 21.0)), {}, 0, []),
    # 3. a trailing comma on data lines only never shifts columns
    ("trailing_comma_on_data_lines.csv", "MDY",
     [("2024-05-01T12:00:00Z", "cpu", 1), ("2024-05-01T12:00:00Z", "mem", 50),
      ("2024-05-01T12:01:00Z", "cpu", 2), ("2024-05-01T12:01:00Z", "mem", 60),
      ("2024-05-01T12:02:00Z", "cpu", 3), ("2024-05-01T12:02:00Z", "mem", 70)], {}, 0, []),
    ("trailing_delimiter_every_line.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00Z", 2)), {}, 0, []),
    # 4. European Excel: semicolons, decimal commas, '.' grouping thousands
    ("excel_de_semicolon_decimal_comma.csv", "MDY",
     wide("temp", ("2024-05-01T12:00:00Z", 21.5), ("2024-05-01T12:01:00Z", 22.0),
          ("2024-05-01T12:02:00Z", 1234.5)), {"room": ["lab", "lab", "hall"]}, 0, []),
    ("excel_sep_line.csv", "MDY", wide("v", ("2024-05-01T12:00:00Z", 1.5)), {}, 0, []),
    ("french_space_thousands.csv", "MDY",
     wide("energie", ("2024-05-01T12:00:00Z", 1234.5), ("2024-05-01T12:01:00Z", 2000.0),
          ("2024-05-01T12:02:00Z", 3000.25)), {}, 0, []),
    ("long_form_semicolon.csv", "MDY",
     [("2024-05-01T12:00:00Z", "cpu", 1.5), ("2024-05-01T12:00:00Z", "mem", 60.0)],
     {"host": ["a", "a"]}, 0, []),
    ("windows1252_french.csv", "MDY",
     wide("Température", ("2024-05-01T00:00:00Z", 21.5), ("2024-05-02T00:00:00Z", 22.5),
          ("2024-05-13T00:00:00Z", 23.0)),
     {"Pièce": ["Salle à manger", "Salle à manger", "Bureau été"]}, 0,
     ["read as Windows-1252 text (the file is not UTF-8)"]),
    ("latin1_german.csv", "MDY",
     wide("Temperatur", ("2024-05-01T12:00:00Z", 21.5), ("2024-05-02T12:00:00Z", 19.0)),
     {"Ort": ["Küche", "Büro"]}, 0, ["read as Windows-1252 text"]),
    ("utf8_bom.csv", "MDY", wide("cpu", ("2024-05-01T12:00:00Z", 1)), {"ville": ["Orléans"]},
     0, []),
    ("utf16_excel_unicode_text.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00Z", 2)), {}, 0, []),
    # 5. epoch numbers by magnitude: 1714564800 s is 2024-05-01T12:00:00Z
    ("epoch_nanoseconds.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00Z", 2)), {}, 0, []),
    ("epoch_seconds.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00Z", 2)), {}, 0, []),
    ("epoch_milliseconds.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00.500000Z", 2)), {}, 0, []),
    ("epoch_microseconds.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00.000001Z", 2)), {}, 0, []),
    ("yyyymmdd_numbers.csv", "MDY",
     wide("v", ("2024-05-01T00:00:00Z", 1), ("2024-05-02T00:00:00Z", 2)), {}, 0, []),
    # 7. skipped rows are counted and explained with line numbers in the file
    ("comments_and_bad_timestamps.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:02:00Z", 3)), {}, 2,
     ["1 row skipped: no timestamp (line 7)",
      "1 row skipped: the timestamp is not written like the rest of 'timestamp' "
      "(line 5; e.g. 'not a time')"]),
    ("out_of_range_years.csv", "MDY", wide("v", ("2024-05-01T00:00:00Z", 2)), {}, 2,
     ["2 rows skipped: the timestamp is outside the years 1678 to 2261 (lines 2, 4; "
      "e.g. '1500-01-01T00:00:00Z')"]),
    ("too_many_cells.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:02:00Z", 3)), {}, 1,
     ["1 row skipped: more cells than the header's 2 (line 3)"]),
    # a quoted cell spans lines 2-3, so "bad" is on line 4
    ("quoted_newline_then_bad.csv", "MDY", wide("cpu", ("2024-05-01T12:00:00Z", 1)),
     {"note": ["two\nlines"]}, 1, ["(line 4; e.g. 'bad')"]),
    ("crlf_blank_lines.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00Z", 2)), {}, 0, []),
    # the truly ambiguous follow date_order and say so
    ("ambiguous_dates.csv", "MDY",
     wide("v", ("2024-01-02T00:00:00Z", 1), ("2024-03-04T00:00:00Z", 2)), {}, 0,
     ["read as month/day/year (DASH_DATE_ORDER=MDY), so '01/02/2024' is 2024-01-02"]),
    ("ambiguous_dates.csv", "DMY",
     wide("v", ("2024-02-01T00:00:00Z", 1), ("2024-04-03T00:00:00Z", 2)), {}, 0,
     ["read as day/month/year (DASH_DATE_ORDER=DMY), so '01/02/2024' is 2024-02-01"]),
    # US exports: month-first settled by 5/13, 12-hour clock (12:00 AM is midnight)
    ("us_export_ampm.csv", "DMY",
     wide("Value", ("2024-05-01T00:00:00Z", 1), ("2024-05-01T13:30:00Z", 2),
          ("2024-05-13T23:59:00Z", 3)), {}, 0, []),
    ("named_months.csv", "MDY",
     wide("v", ("2024-05-01T00:00:00Z", 1), ("2024-06-02T00:00:00Z", 2)), {}, 0, []),
    # zones: 14:00 CEST, 13:00 CET (January), 08:00 EDT, 05:00 PDT are all 12:00 UTC
    ("zone_abbreviations.csv", "MDY",
     wide("v", ("2024-01-15T12:00:00Z", 2), ("2024-05-01T12:00:00Z", 1),
          ("2024-05-01T12:00:00Z", 3), ("2024-05-01T12:00:00Z", 4),
          ("2024-05-01T12:00:00Z", 5), ("2024-05-01T12:00:00Z", 6)), {}, 0, []),
    ("iso_offsets.csv", "MDY",
     wide("v", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:00:00Z", 2),
          ("2024-05-01T12:00:00Z", 3)), {}, 0, []),
    ("iso_fractions.csv", "MDY",
     wide("v", ("2024-05-01T12:00:00.123456789Z", 1), ("2024-05-01T12:00:00.500000Z", 2)),
     {}, 0, []),
    # numbers: quoted thousands in a comma file, quoted delimiters in labels, signs
    ("quoted_delimiters_and_thousands.csv", "MDY",
     wide("price", ("2024-05-01T12:00:00Z", 1234.5), ("2024-05-01T12:01:00Z", 2000.0)),
     {"note": ["sold, then returned", "plain"]}, 0, []),
    ("plus_signs.csv", "MDY",
     wide("delta", ("2024-05-01T12:00:00Z", 1.5), ("2024-05-01T12:01:00Z", -2.0)), {}, 0, []),
    ("tab_separated.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1.5), ("2024-05-01T12:01:00Z", 2.5)),
     {"host": ["web 1", "web 2"]}, 0, []),
    ("pipe_separated.csv", "MDY",
     wide("cpu", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:01:00Z", 2)), {}, 0, []),
    # a metric with a few unreadable cells stays a metric; "n/a" is just no value
    ("bad_metric_cells.csv", "MDY",
     wide("temp", ("2024-05-01T12:00:00Z", 20), ("2024-05-01T12:02:00Z", 22),
          ("2024-05-01T12:04:00Z", 24), ("2024-05-01T12:05:00Z", 25),
          ("2024-05-01T12:06:00Z", 26)), {}, 0,
     ["1 cell in 'temp' is not a number and was left out (line 3; e.g. 'ERR')"]),
]


@pytest.mark.parametrize("name, date_order, expected, labels, skipped, warnings", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_corpus_reads_as_its_author_meant(name: str, date_order: str, expected: list[Point],
                                          labels: dict[str, list[str]], skipped: int,
                                          warnings: list[str]) -> None:
    reading = read(name, date_order)
    assert points(reading) == [(t, m, float(v)) for t, m, v in expected]
    for label, values in labels.items():
        assert reading.batch.labels[label].tolist() == values
    assert reading.skipped == skipped
    assert len(reading.warnings) == len(warnings), reading.warnings
    for sentence, part in zip(reading.warnings, warnings, strict=True):
        assert part in sentence


@pytest.mark.parametrize("name, message", [
    # 6. pandas would invent "cpu.1"
    ("duplicate_columns.csv", "duplicate column name 'cpu' (columns 2 and 3): rename one"),
    ("zone_cst_ambiguous.csv",
     "column 'timestamp' gives times in CST (line 2), which names several zones (US Central "
     "-06:00, China +08:00, Cuba -05:00): write the UTC offset instead"),
    ("zone_ist_ambiguous.csv", "gives times in IST (line 3), which names several zones"),
    ("time_of_day_without_date.csv",
     "column 'time' holds times of day ('12:00') without dates: add a 'date' column"),
    ("mixed_day_and_month_first.csv",
     "column 'date' mixes day/month/year ('13/02/2024', line 2) and month/day/year "
     "('02/13/2024', line 3): write every date the same way"),
    ("epoch_too_small.csv",
     "column 'time' holds numbers (0) that are no epoch time this reader knows: write dates"),
    ("header_missing.csv", "holds values, not column names: add a header line"),
])
def test_corpus_refusals_say_what_to_change(name: str, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        read(name)
    assert message in str(raised.value)


@pytest.mark.parametrize("text, message", [
    (b"# only a comment\n", "comment lines but no header line"),
    (b"timestamp,v\n2024-05-01 12:00 XYZ,1\n",
     "gives times in 'XYZ' (line 2), a time zone this reader does not know"),
    (b"timestamp,v\nnope,1\nnever,2\n", "holds no dates this reader knows ('nope')"),
    (b"timestamp,v,\n2024-05-01T12:00:00Z,1,x\n", "column 3 has values but no name"),
])
def test_more_refusals(text: bytes, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        read_table(text)
    assert message in str(raised.value)


def test_stray_bytes_are_a_skipped_row_and_the_encoding_is_named() -> None:
    reading = read_table(b"timestamp,v\n2024-05-01T12:00:00Z,1\n\xff\xfe\x00garbage,2\n")
    assert points(reading) == [("2024-05-01T12:00:00Z", "v", 1.0)]
    assert reading.warnings == (
        "read as Windows-1252 text (the file is not UTF-8): if accents look wrong, save it "
        "as UTF-8",
        "1 row skipped: the timestamp is not written like the rest of 'timestamp' (line 3; "
        "e.g. 'ÿþ\\x00garbage')")


@pytest.mark.parametrize("name, fields", [
    ("date_and_time_columns.csv", {"timestamp": "date", "time_of_day": "time",
                                   "time_format": "", "metrics": ("temp",)}),
    ("dayfirst_settled_by_13.csv", {"time_format": "%d/%m/%Y", "assumed": ()}),
    ("ambiguous_dates.csv", {"time_format": "%m/%d/%Y", "assumed": ("date_order",)}),
    ("excel_de_semicolon_decimal_comma.csv", {"delimiter": ";", "decimal": ",",
                                              "labels": ("room",)}),
    ("epoch_milliseconds.csv", {"numeric_time": True, "epoch_unit": "ms"}),
    ("windows1252_french.csv", {"encoding": "cp1252", "delimiter": ";"}),
    ("utf8_bom.csv", {"timestamp": "timestamp", "encoding": "utf-8-sig"}),
    ("tab_separated.csv", {"delimiter": "\t"}),
])
def test_the_schema_pins_how_the_file_is_written(name: str, fields: dict[str, object]) -> None:
    schema = read(name).schema
    assert {k: getattr(schema, k) for k in fields} == fields


MDY_FILE = b"date,v\n01/02/2024,1\n03/04/2024,2\n"  # read month-first by date_order


@pytest.mark.parametrize("first, appended, expected, skipped", [
    # month-first was assumed; 05/06 still fits it
    (MDY_FILE, b"date,v\n05/06/2024,3\n", ["2024-05-06T00:00:00Z"], 0),
    # month-first was settled (02/13); 13/02 does not fit: skipped, not re-read
    (b"date,v\n02/13/2024,1\n", b"date,v\n13/02/2024,3\n", [], 1),
    # appended lines keep the file's dialect
    (b"timestamp;v\n2024-05-01T12:00:00Z;1,5\n", b"timestamp;v\n2024-05-01T12:01:00Z;2,5\n",
     ["2024-05-01T12:01:00Z"], 0),
])
def test_appended_lines_are_read_with_the_pinned_schema(first: bytes, appended: bytes,
                                                        expected: list[str],
                                                        skipped: int) -> None:
    schema = read_table(first).schema
    reading = read_table(appended, schema, "DMY")  # the pinned order wins over date_order
    assert iso(reading.batch.ts) == expected
    assert reading.skipped == skipped


@pytest.mark.parametrize("first, appended", [
    # 13/06 settles day-first: the file was read month-first by assumption
    (MDY_FILE, b"date,v\n13/06/2024,3\n"),
    # 1,234 in a tab file was read as thousands; 2,5 settles a decimal comma
    (b"timestamp\tv\n2024-05-01T00:00:00Z\t1,234\n", b"timestamp\tv\n2024-05-02T00:00:00Z\t2,5\n"),
])
def test_lines_that_settle_an_assumption_ask_for_a_full_read(first: bytes,
                                                             appended: bytes) -> None:
    schema = read_table(first).schema
    with pytest.raises(ReadingChanged):
        read_table(appended, schema)


def test_warnings_about_appended_lines_give_file_line_numbers() -> None:
    schema = read_table(b"# log\ntimestamp,v\n2024-05-01T12:00:00Z,1\n").schema
    # the file's lines 1-2 are comment and header, 3 was read before: these are 4 and 5
    reading = read_table(b"# log\ntimestamp,v\n2024-05-01T12:01:00Z,2\nbad,3\n", schema,
                         line_offset=1)
    assert reading.warnings == ("1 row skipped: the timestamp is not written like the rest of "
                                "'timestamp' (line 5; e.g. 'bad')",)


@pytest.mark.parametrize("text, expected", [
    (b"timestamp;v\n2024-05-01T00:00:00Z;1,234\n", (1.234, "a decimal comma")),
    (b"timestamp\tv\n2024-05-01T00:00:00Z\t1,234\n", (1234.0, "',' groups thousands")),
    (b"timestamp;v\n2024-05-01T00:00:00Z;3.301\n", (3.301, "a decimal point")),
])
def test_numbers_no_value_settles_are_read_by_convention_and_said(
        text: bytes, expected: tuple[float, str]) -> None:
    reading = read_table(text)
    assert reading.batch.value.tolist() == [expected[0]]
    assert reading.schema.assumed == ("decimal",)
    assert len(reading.warnings) == 1 and expected[1] in reading.warnings[0]


@pytest.mark.parametrize("text, metrics, labels, values", [
    # one word among eleven numbers: still a metric, the word is skipped
    (b"timestamp,room\n" + b"".join(b"2024-05-01T12:%02d:00Z,%d\n" % (i, 100 + i)
                                    for i in range(10)) + b"2024-05-01T13:00:00Z,lobby\n",
     ("room",), (), list(range(100, 110))),
    # mostly words: a label, with no number taken from it
    (b"timestamp,zone,v\n2024-05-01T12:00:00Z,a07,1\n2024-05-01T12:01:00Z,007,2\n",
     ("v",), ("zone",), [1, 2]),
    # labels with dots ("v1.2", ".A") cast no vote on the decimal separator (hypothesis
    # found "0,0" read as a label once three ".A" cells outvoted it)
    (b"timestamp;cpu;host\n2024-05-01T12:00:00Z;0,5;A\n2024-05-01T12:01:00Z;1,5;.A\n"
     b"2024-05-01T12:02:00Z;;.A\n2024-05-01T12:03:00Z;;v1.2\n",
     ("cpu",), ("host",), [0.5, 1.5]),
])
def test_metric_or_label_is_decided_from_the_column(text: bytes, metrics: tuple[str, ...],
                                                    labels: tuple[str, ...],
                                                    values: list[float]) -> None:
    reading = read_table(text)
    assert (reading.schema.metrics, reading.schema.labels) == (metrics, labels)
    assert reading.batch.value.tolist() == [float(v) for v in values]


@pytest.mark.parametrize("data, end", [
    (b"timestamp,v\n2024,1\n", 12),
    (b"# a\n\n# b\ntimestamp,v\n2024,1\n", 21),
    (b"\xef\xbb\xbftimestamp,v\n1,2\n", 15),
    (b"timestamp,v", 11),
])
def test_header_end_includes_comment_lines(data: bytes, end: int) -> None:
    assert header_end(data) == end


@pytest.mark.parametrize("text, header, rows", [
    ("timestamp,cpu\nt,1\n", ["timestamp", "cpu"], [["t", "1"]]),
    ("\ufefftimestamp;cpu\nt;1;\n", ["timestamp", "cpu"], [["t", "1"]]),
    ("# note\ntimestamp\tcpu\tnote\nt\t1\t\"a\tb\"\n", ["timestamp", "cpu", "note"],
     [["t", "1", "a\tb"]]),
    ("timestamp,cpu\nt,1,x\n", ["timestamp", "cpu"], [["t", "1", "x"]]),  # caller refuses it
])
def test_split_csv_for_ingest_bodies(text: str, header: list[str],
                                     rows: list[list[str]]) -> None:
    assert split_csv(text) == (header, rows)


def test_split_csv_refuses_duplicate_names() -> None:
    with pytest.raises(SchemaError, match="duplicate column name 'cpu'"):
        split_csv("timestamp;cpu;cpu\nt;1;2\n")


def test_old_sidecars_load_with_the_defaults() -> None:
    old = {"timestamp": "timestamp", "kind": "wide", "metrics": ["cpu"], "labels": ["host"],
           "numeric_time": False}
    assert Schema.from_fields(old) == Schema("timestamp", "wide", ("cpu",), ("host",))
    schema = read("ambiguous_dates.csv").schema
    assert Schema.from_fields(json.loads(json.dumps(asdict(schema)))) == schema


@pytest.mark.parametrize("data, why", [
    ((CORPUS / "epoch_seconds.csv").read_bytes(), "keeps time as numbers"),
    ((CORPUS / "date_and_time_columns.csv").read_bytes(),
     "keeps the time of day apart, in 'time'"),
    ((CORPUS / "windows1252_french.csv").read_bytes(), "writes dates as %d/%m/%Y"),
    ((CORPUS / "pipe_separated.csv").read_bytes(), "separates columns with '|'"),
    ((CORPUS / "excel_de_semicolon_decimal_comma.csv").read_bytes(),
     "separates columns with ';'"),
    ("timestamp,v,city\n2024-05-01T12:00:00Z,1,Orléans\n".encode("cp1252"),
     "is encoded in cp1252"),
    ((CORPUS / "utf8_bom.csv").read_bytes(), ""),
])
def test_ingest_appends_only_to_files_written_its_way(data: bytes, why: str) -> None:
    assert read_table(data).schema.ingest_mismatch() == why
