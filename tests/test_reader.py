"""Files as people write them: the corpus of messy CSVs, each with its instants and values
worked out by hand, the refusals that say what to change, and pinned re-reads."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.data import reader
from app.data.dialect import header_end, split_csv
from app.data.reader import Reading
from app.data.schema import ReadingChanged, Schema, SchemaError

CORPUS = Path(__file__).parent / "corpus"
Point = tuple[str, str, float]  # (ISO instant in UTC, metric, value)


def read(name: str, date_order: str = "MDY") -> Reading:
    return reader.read((CORPUS / name).read_bytes(), date_order=date_order)


def iso(ns: np.ndarray) -> list[str]:
    """Instants as ISO-8601 UTC text, fractions only where there are any."""
    return [pd.Timestamp(int(v), tz="UTC").isoformat().replace("+00:00", "Z") for v in ns]


def points(reading: Reading) -> list[Point]:
    batch = reading.batch
    return list(zip(iso(batch.ts), batch.metric.tolist(), batch.value.tolist(), strict=True))


def wide(metric: str, *rows: tuple[str, float]) -> list[Point]:
    return [(t, metric, v) for t, v in rows]


def table(metrics: tuple[str, ...], *rows: tuple[object, ...]) -> list[Point]:
    """Wide rows (time, one value per metric, None where none) as points in time order."""
    return [(str(row[0]), metric, float(value))  # type: ignore[arg-type]
            for row in rows for metric, value in zip(metrics, row[1:], strict=True)
            if value is not None]


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
    # one non-ASCII byte tells no encoding apart: a DOS page (cp775 "Ć") must not win by noise
    ("windows1252_euro_only.tsv", "MDY",
     [("1974-01-01T00:00:00Z", "cpu", 0.0)] + [("1974-01-01T00:00:00Z", "temp", 0.0)] * 3,
     {"host": ["€ per kWh"] * 4}, 0, ["read as Windows-1252 text"]),
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
    # a metric with a few unreadable cells stays a metric; "n/a" is no value: both named
    ("bad_metric_cells.csv", "MDY",
     wide("temp", ("2024-05-01T12:00:00Z", 20), ("2024-05-01T12:02:00Z", 22),
          ("2024-05-01T12:04:00Z", 24), ("2024-05-01T12:05:00Z", 25),
          ("2024-05-01T12:06:00Z", 26)), {}, 0,
     ["2 cells of 'temp' hold no number and were left out ('ERR' on line 3; 'n/a' on line 5)"]),
    # --- review of issue 10, round 2 ---------------------------------------------------
    # 1. a row with a cell more than the header is skipped and named, never cut to fit
    #    (line 2 "…,21,5,40": 21,5 looks like a decimal comma, which the warning says)
    ("row_with_an_extra_cell.csv", "MDY",
     table(("temp", "hum"), ("2024-05-01T12:01:00Z", 22, 41), ("2024-05-01T12:02:00Z", 23, 42)),
     {}, 1, ["1 row skipped: more cells than the header's 3 (line 2): ',' may be the decimal "
             "mark here, in a file whose columns it also separates; write 21.5"]),
    # the first data row two cells too wide (pandas would cut every row to its width)
    ("first_row_two_cells_too_many.csv", "MDY",
     wide("cpu", ("2024-05-01T12:01:00Z", 2), ("2024-05-01T12:02:00Z", 3)), {}, 1,
     ["1 row skipped: more cells than the header's 2 (line 2)"]),
    # 2. a metric is a column most of whose filled cells are numbers: ERR on 3 of 10 rows
    ("metric_with_error_words.csv", "MDY",
     table(("cpu", "mem"), ("2024-05-01T12:00:00Z", 0, 0), ("2024-05-01T12:01:00Z", None, 10),
           ("2024-05-01T12:02:00Z", 2, 20), ("2024-05-01T12:03:00Z", 3, 30),
           ("2024-05-01T12:04:00Z", None, 40), ("2024-05-01T12:05:00Z", 5, 50),
           ("2024-05-01T12:06:00Z", 6, 60), ("2024-05-01T12:07:00Z", None, 70),
           ("2024-05-01T12:08:00Z", 8, 80), ("2024-05-01T12:09:00Z", 9, 90)), {}, 0,
     ["3 cells of 'cpu' hold no number and were left out ('ERR' on lines 3, 6, 9)"]),
    # spreadsheet number formats with one meaning: the value without its marks
    ("currency_symbols.csv", "MDY",
     table(("price", "fee"), ("2024-05-01T12:00:00Z", 1.5, 0.25),
           ("2024-05-01T12:01:00Z", 1234, 1), ("2024-05-01T12:02:00Z", -2, 0.5)), {}, 0,
     ["'price' is in $ (a currency): '$1.50' is read as 1.5",
      "'fee' is in £ (a currency): '£0.25' is read as 0.25"]),
    ("percent_column.csv", "MDY",
     table(("util", "n"), ("2024-05-01T12:00:00Z", 45, 1), ("2024-05-01T12:01:00Z", 50, 2)),
     {}, 0, ["'util' is in percent: '45%' is read as 45"]),
    ("accounting_parentheses.csv", "MDY",
     table(("amount", "qty"), ("2024-05-01T12:00:00Z", -5, 1), ("2024-05-01T12:01:00Z", 10, 2),
           ("2024-05-01T12:02:00Z", -1234.5, 3)), {}, 0,
     ["'amount' writes negative numbers in parentheses: '(5.00)' is read as -5"]),
    ("swiss_apostrophe_thousands.csv", "MDY",
     table(("betrag", "n"), ("2024-05-01T12:00:00Z", 1234.5, 1),
           ("2024-05-01T12:01:00Z", 2000, 2)), {}, 0, []),
    ("sap_trailing_minus.csv", "MDY",
     table(("Betrag", "Menge"), ("2024-05-01T00:00:00Z", -1234.5, 1),
           ("2024-05-02T00:00:00Z", 100, 2), ("2024-05-03T00:00:00Z", -5, 3)), {}, 0,
     ["'Betrag' writes the minus sign after the number: '1.234,50-' is read as -1234.5"]),
    ("beyond_2_pow_53.csv", "MDY",
     wide("bytes", ("2024-05-01T12:00:00Z", 9007199254740992), ("2024-05-01T12:01:00Z", 1)),
     {}, 0, ["'bytes' holds whole numbers beyond 2^53, which a float64 cannot hold exactly: "
             "'9007199254740993' is read as 9007199254740992"]),
    # 3. markers of no value are left out and counted; an empty cell is no news
    ("nan_and_infinity_markers.csv", "MDY",
     wide("v", ("2024-05-01T12:00:00Z", 1), ("2024-05-01T12:05:00Z", 5)), {}, 0,
     ["4 cells of 'v' hold no number and were left out ('NaN' on line 3; 'inf' on line 4; "
      "'-inf' on line 5; 'Infinity' on line 6)"]),
    ("missing_value_markers.csv", "MDY",
     table(("cpu", "mem"), ("2024-05-01T12:00:00Z", 1, 10), ("2024-05-01T12:01:00Z", None, 11),
           ("2024-05-01T12:02:00Z", None, 12), ("2024-05-01T12:03:00Z", None, 13),
           ("2024-05-01T12:05:00Z", None, 15), ("2024-05-01T12:06:00Z", None, 16),
           ("2024-05-01T12:07:00Z", None, 17), ("2024-05-01T12:08:00Z", 10, 18)), {}, 0,
     ["6 cells of 'cpu' hold no number and were left out ('n/a' on line 3; '-' on line 4; "
      "'n.a.' on line 5; 'NaN' on line 6; ...)"]),
    ("number_too_large.csv", "MDY",
     wide("v", ("2024-05-01T12:00:00Z", 1.7e308), ("2024-05-01T12:00:30Z", 1.7e308)), {}, 0,
     ["1 cell of 'v' holds no number and was left out ('1e400' on line 4: too large for a "
      "number)"]),
    # 4. a whole-number hour of day beside a date column: 13 is 13:00
    ("logger_date_hour_tab.csv", "MDY",
     wide("Temp", ("2024-05-01T13:00:00Z", 20), ("2024-05-01T14:00:00Z", 21)), {}, 0, []),
    ("logger_stunde_dayfirst.csv", "MDY",
     wide("Wert", ("2024-05-01T00:00:00Z", 1.5), ("2024-05-01T23:00:00Z", 2.5),
          ("2024-05-02T00:00:00Z", 3)), {}, 0, []),
    # 5. fractional epoch seconds to the nanosecond: .1234567891 keeps 9 digits, and
    #    1714564804.9999999996 rounds up to 12:00:05
    ("epoch_fractional_seconds.csv", "MDY",
     wide("v", ("2024-05-01T12:00:00.500000Z", 1), ("2024-05-01T12:00:01.250000Z", 2),
          ("2024-05-01T12:00:02.123456789Z", 3), ("2024-05-01T12:00:03.123456789Z", 4),
          ("2024-05-01T12:00:05Z", 5)), {}, 0, []),
    # 6. a zone column: 12:00 CEST is 10:00 UTC
    ("zone_column_abbreviation.csv", "MDY",
     wide("v", ("2024-05-01T10:00:00Z", 1), ("2024-05-01T11:00:00Z", 2)), {}, 0,
     ["times in 'date' and 'time' are local to the zone each row's 'tz' names (CEST +02:00), "
      "and were converted to UTC"]),
    # Berlin is +01:00 in January and +02:00 in July, New York -04:00 in July; 02:30 on
    # 31 March does not exist in Berlin (clocks go from 02:00 to 03:00)
    ("zone_column_iana_and_offsets.csv", "MDY",
     wide("v", ("2024-01-15T11:00:00Z", 1), ("2024-07-15T06:30:00Z", 4),
          ("2024-07-15T10:00:00Z", 2), ("2024-07-15T15:00:00Z", 5),
          ("2024-07-15T16:00:00Z", 3)), {}, 1,
     ["times in 'timestamp' are local to the zone each row's 'timezone' names (Europe/Berlin, "
      "America/New_York, +05:30, ...)",
      "1 row skipped: a daylight-saving change skips or repeats this local time in its zone "
      "('timezone') (line 7; e.g. '2024-03-31 02:30')"]),
    # 8. one month-first line among twenty day-first ones is a stray: skipped and named
    ("dayfirst_with_a_stray_line.csv", "MDY",
     wide("v", *[(f"2024-05-{day:02d}T00:00:00Z", day) for day in range(13, 32)],
          ("2024-06-13T00:00:00Z", 613)), {}, 1,
     ["1 row skipped: the date is month/day/year, unlike the rest of 'date' (day/month/year) "
      "(line 22; e.g. '06/14/2024')"]),
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
    # 1. every row a cell wider than the header: a decimal comma in a comma file
    ("decimal_comma_in_comma_file.csv",
     "every data row has 3 cells but the header has 2 (line 2: '2024-05-01T12:00:00Z,21,5'): "
     "',' may be the decimal mark here, in a file whose columns it also separates; write "
     "21.5, quote the numbers (\"21,5\"), or separate columns with ';'"),
    ("iso_fraction_comma_splits_cells.csv",
     "every data row has 3 cells but the header has 2 (line 2: '2024-05-01T12:00:00,5Z,1'): "
     "name every column in the header, or remove the cells past them"),
    # 2. one column, two decimal separators, neither a stray among many
    ("decimal_point_and_comma_mixed.csv",
     "column 'v' writes numbers with a decimal point ('1.5', line 2) and with a decimal comma "
     "('2,5', line 3): write every number the same way"),
    # 5. spreadsheet serial day numbers, and a column of two epoch units
    ("spreadsheet_serial_dates.csv",
     "column 'date' holds spreadsheet serial dates (45413.5 on line 2 is 2024-05-01T12:00:00 "
     "as Excel counts days): format the column as dates in the spreadsheet before saving"),
    ("epoch_seconds_and_milliseconds.csv",
     "column 'ts' mixes epoch seconds (1714564800, line 2) and milliseconds (1714564860000, "
     "line 3): write one unit throughout"),
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
    # decimal point in one column, decimal comma in another
    (b"timestamp;a;b\n2024-05-01T12:00:00Z;1.5;2,5\n",
     "column 'a' writes numbers with a decimal point ('1.5', line 2) and column 'b' with a "
     "decimal comma ('2,5', line 2)"),
    # two currencies in one column are two units
    (b"timestamp,price\n2024-05-01T12:00:00Z,$1\n2024-05-01T12:01:00Z,\xe2\x82\xac2\n",
     "column 'price' mixes units: '$1' (line 2) and '€2' (line 3): write one unit per column"),
    # zone columns: an ambiguous abbreviation, a zone nobody knows
    (b"date,time,tz,v\n2024-05-01,12:00,IST,1\n",
     "column 'tz' gives the zone IST (line 2), which names several zones (India +05:30, "
     "Ireland +01:00, Israel +02:00): write the UTC offset"),
    (b"timestamp,tz,v\n2024-05-01 12:00,Europe/Berlin,1\n2024-05-01 13:00,Mars/Olympus,2\n"
     b"2024-05-01 14:00,UTC,3\n2024-05-01 15:00,UTC,4\n2024-05-01 16:00,UTC,5\n"
     b"2024-05-01 17:00,UTC,6\n2024-05-01 18:00,UTC,7\n2024-05-01 19:00,UTC,8\n"
     b"2024-05-01 20:00,UTC,9\n2024-05-01 21:00,UTC,10\n",
     "column 'tz' holds 'Mars/Olympus' (line 3), a time zone this reader does not know"),
    # a header that says the times are local, but not where; or an ambiguous zone
    (b"time (local),v\n2024-05-01 12:00,1\n",
     "column 'time (local)' holds local times without saying where: name the zone in the "
     "header (Time (Europe/Berlin)), or write the UTC offset in each cell"),
    (b"timestamp (IST),v\n2024-05-01 12:00,1\n",
     "column 'timestamp (IST)' gives times in IST, which names several zones"),
    # an hour column and a minute column: one time of day in two cells
    (b"Date,Hour,Minute,v\n2024-05-01,13,5,1\n2024-05-01,13,10,2\n",
     "columns 'Hour' and 'Minute' split the time of day: write it in one column (13:05)"),
])
def test_more_refusals(text: bytes, message: str) -> None:
    with pytest.raises(SchemaError) as raised:
        reader.read(text)
    assert message in str(raised.value)


def test_stray_bytes_are_a_skipped_row_and_the_encoding_is_named() -> None:
    reading = reader.read(b"timestamp,v\n2024-05-01T12:00:00Z,1\n\xff\xfe\x00garbage,2\n")
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
    # appended lines keep the file's dialect
    (b"timestamp;v\n2024-05-01T12:00:00Z;1,5\n", b"timestamp;v\n2024-05-01T12:01:00Z;2,5\n",
     ["2024-05-01T12:01:00Z"], 0),
])
def test_appended_lines_are_read_with_the_pinned_schema(first: bytes, appended: bytes,
                                                        expected: list[str],
                                                        skipped: int) -> None:
    schema = reader.read(first).schema
    reading = reader.read(appended, schema, "DMY")  # the pinned order wins over date_order
    assert iso(reading.batch.ts) == expected
    assert reading.skipped == skipped


@pytest.mark.parametrize("first, appended", [
    # 13/06 settles day-first: the file was read month-first by assumption
    (MDY_FILE, b"date,v\n13/06/2024,3\n"),
    # 1,234 in a tab file was read as thousands; 2,5 settles a decimal comma
    (b"timestamp\tv\n2024-05-01T00:00:00Z\t1,234\n", b"timestamp\tv\n2024-05-02T00:00:00Z\t2,5\n"),
    # month-first was settled (02/13); 13/02 contradicts it: the whole file decides, as a
    # fresh load of it would (a stray line is skipped, a mix refused)
    (b"date,v\n02/13/2024,1\n", b"date,v\n13/02/2024,3\n"),
    # a decimal comma was settled (21,5); 1.5 is written with a point
    (b"timestamp;v\n2024-05-01T00:00:00Z;21,5\n", b"timestamp;v\n2024-05-02T00:00:00Z;1.5\n"),
    # epoch seconds were settled; a millisecond value is another unit
    (b"ts,v\n1714564800,1\n", b"ts,v\n1714564860000,2\n"),
])
def test_lines_that_settle_an_assumption_ask_for_a_full_read(first: bytes,
                                                             appended: bytes) -> None:
    schema = reader.read(first).schema
    with pytest.raises(ReadingChanged):
        reader.read(appended, schema)


def test_warnings_about_appended_lines_give_file_line_numbers() -> None:
    schema = reader.read(b"# log\ntimestamp,v\n2024-05-01T12:00:00Z,1\n").schema
    # the file's lines 1-2 are comment and header, 3 was read before: these are 4 and 5
    reading = reader.read(b"# log\ntimestamp,v\n2024-05-01T12:01:00Z,2\nbad,3\n", schema,
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
    reading = reader.read(text)
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
    reading = reader.read(text)
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
    assert reader.read(data).schema.ingest_mismatch() == why


def _rows(count: int, cpu: str = "{i}", start: int = 0, sep: str = ",") -> bytes:
    """``count`` lines of a timestamp,cpu,mem file from minute ``start``; ``cpu`` may use {i}."""
    base = pd.Timestamp("2024-05-01T00:00:00Z")
    return b"".join(
        f"{(base + pd.Timedelta(minutes=start + i)).isoformat().replace('+00:00', 'Z')}{sep}"
        f"{cpu.format(i=start + i)}{sep}{start + i}\n".encode() for i in range(count))


@pytest.mark.parametrize("data, warning", [
    # the last 10 of 2000 cpu cells are "n.a.", past the 1000 rows that choose the columns:
    # lines 1992-2001 (the header is line 1)
    (b"timestamp,cpu,mem\n" + _rows(1990) + _rows(10, "n.a.", 1990),
     "10 cells of 'cpu' hold no number and were left out ('n.a.' on lines 1992, 1993, 1994, "
     "1995, 1996, ...)"),
    # pandas' C reader takes "inf" as a float: row 1500 is line 1502
    (b"timestamp,cpu,mem\n" + _rows(1500) + _rows(1, "inf", 1500) + _rows(499, start=1501),
     "1 cell of 'cpu' holds no number and was left out ('inf' on line 1502)"),
    # one decimal point among twenty decimal commas is a stray, not a second convention
    (b"timestamp;cpu;mem\n" + _rows(20, "{i},5", sep=";") + _rows(1, "1.5", 20, ";"),
     "1 cell of 'cpu' holds no number and was left out ('1.5' on line 22: a decimal point, "
     "where the file writes decimal commas)"),
])
def test_cells_without_numbers_are_counted_in_the_whole_file(data: bytes, warning: str) -> None:
    reading = reader.read(data)
    assert reading.schema.metrics == ("cpu", "mem")
    assert reading.warnings == (warning,)


@pytest.mark.parametrize("text, labels, warnings", [
    # 1 of 2 cells a number: a label, and the warnings say why
    (b"timestamp,zone,v\n2024-05-01T12:00:00Z,a07,1\n2024-05-01T12:01:00Z,007,2\n", ("zone",),
     ("'zone' is kept as a label: only 1 of its 2 filled cells is a number, and a metric "
      "needs most of them to be (not numbers: 'a07' on line 2)",)),
    # numbers first, words for most of the file past the sample: still decided by all cells
    (b"timestamp,room,v\n" + b"".join(b"2024-05-01T12:00:00Z,%d,1\n" % i for i in range(1000))
     + b"".join(b"2024-05-02T12:00:00Z,hall,1\n" for _ in range(1001)), ("room",),
     ("'room' is kept as a label: only 1000 of its 2001 filled cells are numbers, and a "
      "metric needs most of them to be (not numbers: 'hall' on lines 1002, 1003, 1004, 1005, "
      "1006, ...)",)),
    # a "zone" of areas is a label, not a time zone
    (b"timestamp,zone,v\n2024-05-01 12:00,north,1\n", ("zone",), ()),
    # timestamps that carry their zone: a tz column beside them is only a label
    (b"timestamp,tz,v\n2024-05-01T12:00:00+02:00,CEST,1\n", ("tz",), ()),
])
def test_labels_and_why(text: bytes, labels: tuple[str, ...], warnings: tuple[str, ...]
                        ) -> None:
    reading = reader.read(text)
    assert reading.schema.labels == labels
    assert reading.warnings == warnings


@pytest.mark.parametrize("text, expected", [
    # an hour of day in a column named "time" beside a date
    (b"date,time,v\n2024-05-01,13,1\n2024-05-01,14,2\n",
     ["2024-05-01T13:00:00Z", "2024-05-01T14:00:00Z"]),
    # an offset column may write hours as bare numbers; a tz column must sign them
    (b"date,time,utc_offset,v\n2024-05-01,12:00,2,1\n2024-05-01,12:00,-5,2\n",
     ["2024-05-01T10:00:00Z", "2024-05-01T17:00:00Z"]),
    (b"timestamp,tz,v\n2024-05-01 12:00,+0200,1\n2024-05-01 12:00,GMT-3,2\n",
     ["2024-05-01T10:00:00Z", "2024-05-01T15:00:00Z"]),
])
def test_times_of_day_and_zones_in_their_own_columns(text: bytes, expected: list[str]) -> None:
    assert iso(reader.read(text).batch.ts) == expected


@pytest.mark.parametrize("text, expected, warnings", [
    # the header names the zone of naive times: 12:00 CET is 11:00 UTC
    (b"Time (CET),v\n2024-05-01 12:00,1\n", ["2024-05-01T11:00:00Z"],
     ("times in 'Time (CET)' are local to CET +01:00, as the header says, and were "
      "converted to UTC",)),
    (b"Datum;Uhrzeit (MESZ);Wert\n01.05.2024;12:00;1\n", ["2024-05-01T10:00:00Z"],
     ("times in 'Datum' and 'Uhrzeit (MESZ)' are local to MESZ +02:00, as the header says, "
      "and were converted to UTC",)),
    # Berlin's zone keeps its daylight saving: +01:00 in January, +02:00 in July
    (b"Zeit (Europe/Berlin);Wert\n2024-01-15 12:00;1\n2024-07-15 12:00;2\n",
     ["2024-01-15T11:00:00Z", "2024-07-15T10:00:00Z"],
     ("times in 'Zeit (Europe/Berlin)' are local to Europe/Berlin, as the header says, and "
      "were converted to UTC",)),
    # UTC needs no word; "(s)" is a unit, not a zone
    (b"Timestamp (UTC),v\n2024-05-01 12:00,1\n", ["2024-05-01T12:00:00Z"], ()),
    (b"time (s),v\n1714564800,1\n", ["2024-05-01T12:00:00Z"], ()),
    # naive times beside zoned ones are UTC by rule, and the warnings say so
    (b"timestamp,v\n2024-05-01T12:00:00,1\n2024-05-01T12:00:00+02:00,2\n",
     ["2024-05-01T12:00:00Z", "2024-05-01T10:00:00Z"],
     ("some times in 'timestamp' name their zone ('2024-05-01T12:00:00+02:00') and some do "
      "not ('2024-05-01T12:00:00'): those without were read as UTC",)),
])
def test_a_zone_in_the_header(text: bytes, expected: list[str], warnings: tuple[str, ...]
                              ) -> None:
    reading = reader.read(text)
    assert sorted(iso(reading.batch.ts)) == sorted(expected)
    assert reading.warnings == warnings


@pytest.mark.parametrize("text, expected, warning", [
    # 5e10 seconds is the year 3554: as int64 nanoseconds it wrapped round to 1800
    (b"ts,v\n1714564800,1\n1714564860,2\n50000000000,3\n",
     ["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z"],
     "1 row skipped: the timestamp is outside the years 1678 to 2261 (line 4; e.g. "
     "'50000000000')"),
    # the same past a fraction (read from its digits, not through the C reader's Int64)
    (b"ts,v\n1714564800.5,1\n1714564860.25,2\n50000000000.5,3\n",
     ["2024-05-01T12:00:00.500000Z", "2024-05-01T12:01:00.250000Z"],
     "1 row skipped: the timestamp is outside the years 1678 to 2261 (line 4; e.g. "
     "'50000000000.5')"),
])
def test_epochs_past_2261_are_skipped_never_wrapped(text: bytes, expected: list[str],
                                                     warning: str) -> None:
    reading = reader.read(text)
    assert iso(reading.batch.ts) == expected
    assert reading.warnings == (warning,)
