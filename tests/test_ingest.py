"""Ingest: POST /api/d/<dataset>/points -- validation (all or nothing), auth, formats,
order and duplicates, durability across a restart, and recovery from a torn batch."""
from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, run_wsgi_app

from app import create_app
from app.data.folder import intent_record
from app.data.ingest import decode, validate
from tests.samples import WIDE_CSV

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON, NDJSON, CSV = "application/json", "application/x-ndjson", "text/csv"

HOSTS_CSV = WIDE_CSV  # the same `hosts` file the other tests use
EVENTS_CSV = """timestamp,metric,value,host
2024-05-01T00:00:00Z,load,1,web-1
2024-05-01T00:01:00Z,load,2,web-1
2024-05-01T00:00:00Z,temp,40,web-1
"""

TS = "2024-05-01T00:03:00Z"
GOOD = {"timestamp": TS, "cpu": 13, "mem": 53, "host": "web-1", "region": "eu"}
GOOD_LONG = {"timestamp": TS, "metric": "load", "value": 3, "host": "web-1"}


# -- helpers -------------------------------------------------------------------


def J(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def pt(**changes: Any) -> dict[str, Any]:
    """GOOD with some fields changed; a value of ``...`` removes the field."""
    point = {**GOOD, **changes}
    return {k: v for k, v in point.items() if v is not ...}


def lpt(**changes: Any) -> dict[str, Any]:
    point = {**GOOD_LONG, **changes}
    return {k: v for k, v in point.items() if v is not ...}


def raw_point(fields: str) -> bytes:
    """A JSON array with one hosts point whose last fields are raw JSON text."""
    return b'[{"timestamp": "' + TS.encode() + b'", ' + fields.encode() + b"}]"


def ms(instant: str) -> str:
    """How the chart's x says a UTC instant: wall-clock text to the millisecond, no zone."""
    stamp = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{stamp.microsecond // 1000:03d}000" if stamp.microsecond else "")


def post(client: FlaskClient, name: str, body: bytes | str, content_type: str | None = JSON,
         headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    if isinstance(body, str):
        body = body.encode()
    sent = dict(AUTH if headers is None else headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    return client.post(f"/api/d/{name}/points", data=body, headers=sent, **kwargs)


def datasets(client: FlaskClient) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in client.get("/api/datasets").json}


def observe(client: FlaskClient, data_dir: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """What a client and the disk show: each dataset's version/rows/points/epoch, every file."""
    shown = {name: (d.get("version"), d.get("rows"), d.get("points"), d.get("epoch"),
                    d.get("error"))
             for name, d in datasets(client).items()}
    files = {p.name: p.read_bytes() for p in sorted(data_dir.iterdir())}
    return shown, files


def all_rows(client: FlaskClient, name: str) -> list[tuple[Any, ...]]:
    """Every raw point of a dataset (all metrics), sorted, as exported."""
    metrics = datasets(client)[name]["metrics"]
    query = urlencode([("metric", m) for m in metrics] + [("format", "json"), ("agg", "raw")])
    body = client.get(f"/api/d/{name}/rows?{query}").json
    return sorted(tuple(str(v) for v in row.values()) for row in body["rows"])


def summary(client: FlaskClient, name: str) -> dict[str, Any]:
    d = datasets(client)[name]
    return {"rows": d["rows"], "points": d["points"], "metrics": sorted(d["metrics"]),
            "labels": {k: sorted(v) for k, v in d["labels"].items()},
            "start": d["start"], "end": d["end"], "error": d["error"]}


@pytest.fixture
def make_app(app_config: dict[str, Any], write_csv: Callable[[str, str], Path]
             ) -> Callable[..., Flask]:
    """Builds apps over one data folder holding ``hosts`` (wide) and ``events`` (long)."""
    write_csv("hosts", HOSTS_CSV)
    write_csv("events", EVENTS_CSV)

    def make(**config: Any) -> Flask:
        return create_app({**app_config, "INGEST_TOKEN": TOKEN, **config})
    return make


@pytest.fixture
def ic(make_app: Callable[..., Flask]) -> FlaskClient:
    """A client of an app with ingest on (token ``s3cret``)."""
    return make_app().test_client()


# -- 1. every bad input: the right status, a useful message, nothing changed -----------

ERRORS = "invalid field(s) in the batch; nothing was stored"
NOT_OBJECT = "a point must be an object"
NOT_ISO = "is not a valid ISO-8601 instant"
OUT_OF_RANGE = "is outside the years 1678 to 2261"
NOT_STRING_LABEL = "labels must be strings"
EXPECTED_ARRAY = 'expected a JSON array of points or {"points": [...]}'
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_LABEL = raw_point('"cpu": 1, "host": ' + '{"a": ' * 100_000 + '"x"' + "}" * 100_000)
CSV_HEAD = "timestamp,cpu,mem,host,region\n"
UTF8_PREFIX = raw_point('"cpu": 1, "host": ')[:-2]
CSV_ROW = f"{TS},13,53,web-1,eu\n"


def bad(id: str, body: bytes | str, status: int = 400, error: str = ERRORS,
        errors: list[tuple[int, str, str]] | None = None, *, name: str = "hosts",
        ctype: str | None = JSON, config: dict[str, Any] | None = None, marks: Any = ()) -> Any:
    return pytest.param(name, body, ctype, config or {}, status, error, errors, id=id,
                        marks=marks)


def ts_bad(id: str, stamp: Any, message: str = NOT_ISO, marks: Any = ()) -> Any:
    return bad(id, J([pt(timestamp=stamp)]), errors=[(0, "timestamp", message)], marks=marks)


def value_bad(id: str, body: bytes, field: str, message: str, **kw: Any) -> Any:
    return bad(id, body, errors=[(0, field, message)], **kw)


BAD_INPUTS = [
    # the body as a whole
    bad("empty-body", b"", error="empty body"),
    bad("blank-body", b" \r\n\t ", error="empty body"),
    bad("empty-array", b"[]", error="no points in the body"),
    bad("empty-points-wrapper", J({"points": []}), error="no points in the body"),
    bad("ctype-text-plain", J([GOOD]), 415, "Content-Type 'text/plain' is not one of "
        "application/json, application/x-ndjson, text/csv", ctype="text/plain"),
    bad("ctype-xml", J([GOOD]), 415, "Content-Type 'application/xml' is not one of",
        ctype="application/xml"),
    bad("ctype-form", "timestamp=x", 415, "'application/x-www-form-urlencoded' is not one of",
        ctype="application/x-www-form-urlencoded"),
    bad("ctype-none", J([GOOD]), 415, "Content-Type '(none)' is not one of", ctype=None),
    bad("charset-latin1", J([GOOD]), 415, "charset 'latin-1' is not supported: send UTF-8",
        ctype="application/json; charset=latin-1"),
    bad("charset-utf16", J([GOOD]), 415, "charset 'utf-16' is not supported",
        ctype="application/json; charset=utf-16"),
    bad("charset-csv-iso8859", CSV_HEAD + CSV_ROW, 415, "charset 'iso-8859-1' is not supported",
        ctype="text/csv; charset=ISO-8859-1"),
    bad("truncated-json", J([GOOD])[:-7], error="invalid JSON"),
    bad("invalid-json-bare-keys", b"[{timestamp: 1}]", error="invalid JSON"),
    bad("invalid-json-single-quotes", b"[{'timestamp': '2024-05-01'}]", error="invalid JSON"),
    bad("invalid-json-trailing-garbage", J([GOOD]) + b" ]", error="invalid JSON"),
    bad("invalid-json-trailing-comma", b'[{"timestamp": "2024-05-01T00:03:00Z", "cpu": 1},]',
        error="invalid JSON"),
    bad("object-without-points", J({"data": [GOOD]}), error=EXPECTED_ARRAY),
    bad("points-wrapper-extra-key", J({"points": [GOOD], "x": 1}), error=EXPECTED_ARRAY),
    bad("points-wrapper-not-array", J({"points": GOOD}), error=EXPECTED_ARRAY),
    bad("top-level-number", b"42", error=EXPECTED_ARRAY),
    bad("top-level-string", b'"hello"', error=EXPECTED_ARRAY),
    bad("top-level-null", b"null", error=EXPECTED_ARRAY),
    bad("top-level-bool", b"true", error=EXPECTED_ARRAY),
    # a point that is not an object
    bad("point-is-number", J([5]), errors=[(0, "", NOT_OBJECT)]),
    bad("points-not-objects", J([GOOD, "x", None, [GOOD]]),
        errors=[(1, "", NOT_OBJECT), (2, "", NOT_OBJECT), (3, "", NOT_OBJECT)]),
    # timestamps
    ts_bad("ts-missing", ..., "required (an ISO-8601 string)"),
    ts_bad("ts-number", 1714521600, "must be an ISO-8601 string"),
    ts_bad("ts-null", None, "must be an ISO-8601 string"),
    ts_bad("ts-list", [TS], "must be an ISO-8601 string"),
    ts_bad("ts-bool", True, "must be an ISO-8601 string"),
    ts_bad("ts-feb-30", "2024-02-30T00:00:00Z"),
    ts_bad("ts-feb-29-non-leap", "2023-02-29T00:00:00Z"),
    ts_bad("ts-month-13", "2024-13-01T00:00:00Z"),
    ts_bad("ts-month-0", "2024-00-10T00:00:00Z"),
    ts_bad("ts-hour-25", "2024-05-01T25:00:00Z"),
    ts_bad("ts-minute-60", "2024-05-01T00:60:00Z"),
    ts_bad("ts-offset-25h", "2024-05-01T00:00:00+25:00"),
    ts_bad("ts-yesterday", "yesterday"),
    ts_bad("ts-3pm", "3pm"),
    ts_bad("ts-empty", ""),
    ts_bad("ts-NaT", "NaT"),
    ts_bad("ts-epoch-digits", "1714521600"),
    ts_bad("ts-us-date", "05/01/2024"),
    ts_bad("ts-words", "May 1 2024"),
    ts_bad("ts-now", "now"),
    ts_bad("ts-today", "today"),
    ts_bad("ts-before-1678", "1500-01-01T00:00:00Z", OUT_OF_RANGE),
    ts_bad("ts-in-1677-int64-still-holds", "1677-09-22T00:00:00Z", OUT_OF_RANGE),
    ts_bad("ts-in-2262-int64-still-holds", "2262-01-01T00:00:00Z", OUT_OF_RANGE),
    ts_bad("ts-after-2262", "2300-01-01T00:00:00Z", OUT_OF_RANGE),
    ts_bad("ts-5-digit-year", "99999-01-01T00:00:00Z"),
    # values
    value_bad("value-string", J([pt(cpu="13")]), "cpu", "must be a number, not str"),
    value_bad("value-empty-string", J([pt(cpu="")]), "cpu", "must be a number, not str"),
    value_bad("value-list", J([pt(cpu=[1])]), "cpu", "must be a number, not list"),
    value_bad("value-object", J([pt(cpu={"v": 1})]), "cpu", "must be a number, not dict"),
    value_bad("value-true", J([pt(cpu=True)]), "cpu", "must be a number, not bool"),
    bad("values-false-and-true", J([pt(cpu=False, mem=True)]),
        errors=[(0, "cpu", "not bool"), (0, "mem", "not bool")]),
    bad("value-NaN", raw_point('"cpu": NaN'),
        error="invalid JSON: NaN is not a number JSON allows"),
    bad("value-Infinity", raw_point('"cpu": Infinity'),
        error="invalid JSON: Infinity is not a number JSON allows"),
    bad("value-minus-Infinity", raw_point('"cpu": -Infinity'),
        error="invalid JSON: -Infinity is not a number JSON allows"),
    value_bad("value-1e309", raw_point('"cpu": 1e309'), "cpu", "must be a finite number"),
    value_bad("value-minus-1e309", raw_point('"cpu": -1e309'), "cpu", "must be a finite number"),
    value_bad("value-2pow53-plus-1", J([pt(cpu=2 ** 53 + 1)]), "cpu", "more than 2^53"),
    value_bad("value-minus-2pow53-minus-1", J([pt(mem=-(2 ** 53) - 1)]), "mem",
              "more than 2^53"),
    value_bad("value-10pow400", raw_point('"cpu": 1' + "0" * 400), "cpu", "more than 2^53"),
    bad("no-metric-value", J([pt(cpu=..., mem=...)]),
        errors=[(0, "", "no metric value: give at least one of cpu, mem")]),
    # labels
    value_bad("label-int", J([pt(host=42)]), "host", "labels must be strings, not int"),
    value_bad("label-float", J([pt(host=4.2)]), "host", "labels must be strings, not float"),
    value_bad("label-null", J([pt(host=None)]), "host", "labels must be strings, not null"),
    value_bad("label-bool", J([pt(region=False)]), "region", "labels must be strings, not bool"),
    value_bad("label-list", J([pt(host=["web-1"])]), "host", "labels must be strings, not list"),
    value_bad("label-object", J([pt(host={"name": "web-1"})]), "host",
              "labels must be strings, not dict"),
    value_bad("label-too-long", J([pt(host="x" * 1025)]), "host", "longer than 1024 characters"),
    # columns
    value_bad("unknown-column", J([pt(disk=3)]), "disk",
              "unknown column; this dataset's columns are timestamp, cpu, mem, host, region"),
    bad("long-fields-into-wide", J([{"timestamp": TS, "metric": "cpu", "value": 1}]),
        errors=[(0, "metric", "unknown column"), (0, "value", "unknown column")]),
    bad("duplicate-key", raw_point('"cpu": 1, "cpu": 2'),
        error="invalid JSON: duplicate key 'cpu'"),
    bad("duplicate-timestamp-key", raw_point(f'"cpu": 1, "timestamp": "{TS}"'),
        error="invalid JSON: duplicate key 'timestamp'"),
    bad("duplicate-points-key", b'{"points": [], "points": ' + J([GOOD]) + b"}",
        error="invalid JSON: duplicate key 'points'"),
    # nesting
    bad("deeply-nested-arrays", DEEP, error="invalid JSON: nested too deeply"),
    bad("deeply-nested-label", DEEP_LABEL, error="invalid JSON: nested too deeply"),
    bad("deeply-nested-ndjson", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, ctype=NDJSON,
        error="nested too deeply"),
    # bytes that are not UTF-8
    bad("utf8-invalid-byte", UTF8_PREFIX + b'"web-\xff"}]', error="body is not valid UTF-8"),
    bad("utf8-latin1-e-acute", UTF8_PREFIX + b'"caf\xe9"}]', error="body is not valid UTF-8"),
    bad("utf8-overlong-slash", UTF8_PREFIX + b'"\xc0\xaf"}]', error="body is not valid UTF-8"),
    bad("utf8-encoded-surrogate", UTF8_PREFIX + b'"\xed\xa0\x80"}]',
        error="body is not valid UTF-8"),
    bad("utf8-truncated-sequence", J([GOOD]) + b"\xe2\x82", error="body is not valid UTF-8"),
    bad("utf8-invalid-csv", (CSV_HEAD + f"{TS},1,2,web-\xff,eu\n").encode("latin-1"),
        ctype=CSV, error="body is not valid UTF-8"),
    # limits
    bad("oversize-body", J([GOOD] * 5), 413, "is over the limit of 200 (DASH_MAX_BODY_BYTES)",
        config={"MAX_BODY_BYTES": 200}),
    bad("too-many-points-json", J([GOOD] * 3), 413,
        "3 points in one batch; the limit is 2 (DASH_MAX_BATCH_POINTS)",
        config={"MAX_BATCH_POINTS": 2}),
    bad("too-many-points-ndjson", b"\n".join([J(GOOD)] * 3), 413,
        "3 points in one batch; the limit is 2", ctype=NDJSON, config={"MAX_BATCH_POINTS": 2}),
    bad("too-many-points-csv", CSV_HEAD + CSV_ROW * 3, 413,
        "3 points in one batch; the limit is 2", ctype=CSV, config={"MAX_BATCH_POINTS": 2}),
    # one bad point among good ones
    bad("one-bad-among-good", J([GOOD, pt(timestamp="2024-02-30T00:00:00Z"), GOOD]),
        errors=[(1, "timestamp", NOT_ISO)]),
    bad("two-bad-among-good", J([GOOD, pt(cpu="x"), GOOD, GOOD, pt(region=7)]),
        errors=[(1, "cpu", "must be a number"), (4, "region", NOT_STRING_LABEL)]),
    # NDJSON
    bad("ndjson-bad-line", J(GOOD) + b"\n" + J(GOOD)[:-3] + b"\n", ctype=NDJSON,
        error="invalid JSON on line 2"),
    bad("ndjson-bad-point", b"\n".join([J(GOOD), J(pt(mem="x")), J(GOOD)]), ctype=NDJSON,
        errors=[(1, "mem", "must be a number, not str")]),
    bad("ndjson-line-not-object", J(GOOD) + b"\n[1, 2]\n", ctype=NDJSON,
        errors=[(1, "", NOT_OBJECT)]),
    bad("ndjson-NaN", J(GOOD) + b"\n" + raw_point('"cpu": NaN')[1:-1], ctype=NDJSON,
        error="invalid JSON on line 2: NaN is not a number JSON allows"),
    bad("ndjson-duplicate-key", raw_point('"cpu": 1, "cpu": 2')[1:-1], ctype=NDJSON,
        error="duplicate key 'cpu'"),
    # CSV
    bad("csv-row-too-many-cells", CSV_HEAD + CSV_ROW + f"{TS},1,2,web-1,eu,extra\n", ctype=CSV,
        errors=[(1, "", "row has 6 cells, the header has 5")]),
    bad("csv-row-too-few-cells", CSV_HEAD + f"{TS},1,2\n" + CSV_ROW, ctype=CSV,
        errors=[(0, "", "row has 3 cells, the header has 5")]),
    bad("csv-non-numeric-metric", CSV_HEAD + CSV_ROW + f"{TS},abc,53,web-1,eu\n", ctype=CSV,
        errors=[(1, "cpu", "'abc' is not a number")]),
    bad("csv-nan-cell", CSV_HEAD + f"{TS},nan,53,web-1,eu\n", ctype=CSV,
        errors=[(0, "cpu", "'nan' is not a number")]),
    bad("csv-inf-cell", CSV_HEAD + f"{TS},1,-inf,web-1,eu\n", ctype=CSV,
        errors=[(0, "mem", "'-inf' is not a number")]),
    bad("csv-1e309-cell", CSV_HEAD + f"{TS},1e309,1,web-1,eu\n", ctype=CSV,
        errors=[(0, "cpu", "must be a finite number")]),
    bad("csv-bad-timestamp", CSV_HEAD + "2024-02-30T00:00:00Z,1,2,web-1,eu\n", ctype=CSV,
        errors=[(0, "timestamp", NOT_ISO)]),
    bad("csv-unknown-column", "timestamp,cpu,disk\n" + f"{TS},1,2\n", ctype=CSV,
        errors=[(0, "disk", "unknown column")]),
    bad("csv-duplicate-header", "timestamp,cpu,cpu\n" + f"{TS},1,2\n", ctype=CSV,
        error="invalid CSV: duplicate column name 'cpu' (columns 2 and 3): rename one"),
    bad("csv-header-only", CSV_HEAD, ctype=CSV, error="no points in the body"),
    # numbers as spreadsheets write them: the file reader reads them, ingest says what to send
    bad("csv-decimal-comma", CSV_HEAD.replace(",", ";") + f"{TS};21,5;53;web-1;eu\n", ctype=CSV,
        errors=[(0, "cpu", "'21,5' is not a plain number: pushed points take numbers with a "
                           "decimal point and no marks (write 21.5)")]),
    bad("csv-currency", CSV_HEAD + f"{TS},$1.50,53,web-1,eu\n", ctype=CSV,
        errors=[(0, "cpu", "'$1.50' is not a plain number: pushed points take numbers with a "
                           "decimal point and no marks (write 1.5)")]),
    bad("csv-thousands-either-way", CSV_HEAD + f'{TS},"1,234",53,web-1,eu\n', ctype=CSV,
        errors=[(0, "cpu", "(write 1234, or 1.234 if ',' is its decimal mark)")]),
    bad("csv-missing-marker", CSV_HEAD + f"{TS},n/a,53,web-1,eu\n", ctype=CSV,
        errors=[(0, "cpu", "'n/a' is not a number: leave the cell empty when there is none")]),
    # the dataset in the URL
    bad("name-with-dot", J([GOOD]), name="bad.name",
        error="dataset names are 1 to 64 letters, digits, '-' or '_'"),
    bad("name-too-long", J([GOOD]), name="a" * 65, error="dataset names are 1 to 64"),
    bad("name-with-space", J([GOOD]), name="bad%20name", error="dataset names are 1 to 64"),
    bad("name-non-ascii", J([GOOD]), name="caf%C3%A9", error="dataset names are 1 to 64"),
    # a long dataset (events: timestamp,metric,value,host)
    bad("long-missing-value", J([lpt(value=...)]), name="events",
        errors=[(0, "value", "required: a number")]),
    bad("long-missing-metric", J([lpt(metric=...)]), name="events",
        errors=[(0, "metric", "required: a non-empty string")]),
    bad("long-missing-both", J([lpt(metric=..., value=...)]), name="events",
        errors=[(0, "metric", "required"), (0, "value", "required")]),
    bad("long-empty-metric", J([lpt(metric=" ")]), name="events",
        errors=[(0, "metric", "required: a non-empty string")]),
    bad("long-metric-number", J([lpt(metric=5)]), name="events",
        errors=[(0, "metric", "required: a non-empty string")]),
    bad("long-value-string", J([lpt(value="3")]), name="events",
        errors=[(0, "value", "must be a number, not str")]),
    bad("long-value-bool", J([lpt(value=False)]), name="events",
        errors=[(0, "value", "must be a number, not bool")]),
    bad("long-value-null", J([lpt(value=None)]), name="events",
        errors=[(0, "value", "must be a number, not null")]),
    bad("long-unknown-column", J([lpt(cpu=1)]), name="events",
        errors=[(0, "cpu", "unknown column; this dataset's columns are timestamp, metric, "
                           "value, host")]),
    bad("long-label-int", J([lpt(host=1)]), name="events",
        errors=[(0, "host", "labels must be strings, not int")]),
    # a new dataset: nothing may be created by a refused batch
    bad("new-long-bad-timestamp", J([{"timestamp": "yesterday", "metric": "m", "value": 1}]),
        name="fresh", errors=[(0, "timestamp", NOT_ISO)]),
    bad("new-long-label-int", J([{"timestamp": TS, "metric": "m", "value": 1, "host": 5}]),
        name="fresh", errors=[(0, "host", NOT_STRING_LABEL)]),
    bad("new-long-missing-value", J([{"timestamp": TS, "metric": "m"}]), name="fresh",
        errors=[(0, "value", "required: a number")]),
    bad("new-wide-nested-label", J([{"timestamp": TS, "cpu": 1, "host": {"a": 1}}]),
        name="fresh", errors=[(0, "host", "labels must be strings, not dict")]),
    bad("new-wide-one-bad-of-three", J([{"timestamp": TS, "cpu": 1},
                                        {"timestamp": TS, "cpu": True},
                                        {"timestamp": TS, "cpu": 2}]),
        name="fresh", errors=[(1, "cpu", "must be a number, not bool")]),
    bad("new-csv-bad-cell", "timestamp,cpu\n" + f"{TS},1\n{TS},x\n", ctype=CSV, name="fresh",
        errors=[(1, "cpu", "'x' is not a number")]),
    # European Excel's CSV: the decimal comma makes temp a metric whose cells say what to send
    bad("new-csv-decimal-comma", f"timestamp;temp;room\n{TS};21,5;lab\n", ctype=CSV,
        name="fresh", errors=[(0, "temp", "'21,5' is not a plain number: pushed points take "
                                          "numbers with a decimal point and no marks "
                                          "(write 21.5)")]),
    # labels only: the message names what to send, never an empty list of metrics
    bad("new-csv-labels-only", f"timestamp,room\n{TS},lab\n", ctype=CSV, name="fresh",
        errors=[(0, "", "no metric value: send a number in at least one column (wide form), "
                        "or 'metric' and 'value' (long form)")]),
    bad("new-json-labels-only", J([{"timestamp": TS, "room": "lab"}]), name="fresh",
        errors=[(0, "", "no metric value: send a number in at least one column")]),
    bad("new-empty-body", b"", name="fresh", error="empty body"),
    # lone halves of UTF-16 surrogate pairs: JSON can escape them, no file can hold them
    value_bad("label-lone-surrogate", J([pt(host="web-\udc00")]), "host", "not valid Unicode"),
    bad("long-metric-lone-surrogate", J([lpt(metric="m\ud800")]), name="events",
        errors=[(0, "metric", "halves of UTF-16 surrogate pairs")]),
    bad("new-column-lone-surrogate", J([{"timestamp": TS, "cpu\udc00": 1}]), name="fresh",
        errors=[(0, "cpu\\udc00", "without control characters or halves of UTF-16")]),
    bad("unknown-column-lone-surrogate", J([pt(**{"x\udc00": 1})]),
        errors=[(0, "x\\udc00", "unknown column")]),
    # cardinality: hosts has web-1 and web-2; events has metrics load and temp
    bad("label-values-past-the-limit", J([pt(host="web-3"), pt(host="web-4")]),
        error="label 'host' would hold 4 distinct values; the limit is 3 "
              "(DASH_MAX_LABEL_VALUES): nothing was stored", config={"MAX_LABEL_VALUES": 3}),
    bad("metric-names-past-the-limit", J([lpt(metric="a"), lpt(metric="b")]), name="events",
        error="label 'metric' would hold 4 distinct values; the limit is 3",
        config={"MAX_LABEL_VALUES": 3}),
    bad("new-dataset-past-the-limit", J([{"timestamp": TS, "cpu": 1, "user": f"u{n}"}
                                         for n in range(4)]), name="fresh",
        error="label 'user' would hold 4 distinct values; the limit is 3",
        config={"MAX_LABEL_VALUES": 3}),
    bad("new-wrong-ctype", J([{"timestamp": TS, "cpu": 1}]), 415, "is not one of",
        name="fresh", ctype="text/plain"),
    bad("new-oversize", J([{"timestamp": TS, "cpu": 1}] * 10), 413, "over the limit",
        name="fresh", config={"MAX_BODY_BYTES": 100}),
]


@pytest.mark.parametrize("name, body, ctype, config, status, error, errors", BAD_INPUTS)
def test_bad_input_is_refused_and_changes_nothing(
        make_app: Callable[..., Flask], data_dir: Path, name: str, body: bytes | str,
        ctype: str | None, config: dict[str, Any], status: int, error: str,
        errors: list[tuple[int, str, str]] | None) -> None:
    client = make_app(**config).test_client()
    before = observe(client, data_dir)
    response = post(client, name, body, ctype)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    assert error in response.json["error"]
    if errors is None:
        assert "errors" not in response.json
    else:
        got = response.json["errors"]
        assert all(set(e) == {"index", "field", "message"} for e in got)
        assert [(e["index"], e["field"]) for e in got] == [(i, f) for i, f, _ in errors]
        for entry, (_, _, message) in zip(got, errors, strict=True):
            assert message in entry["message"]
    assert observe(client, data_dir) == before
    assert not (data_dir / f"{name}.csv").exists() or name in before[0]


def test_content_length_over_the_limit_is_refused_before_reading(
        make_app: Callable[..., Flask], data_dir: Path) -> None:
    client = make_app(MAX_BODY_BYTES=1000).test_client()
    before = observe(client, data_dir)
    response = post(client, "hosts", J([GOOD]), environ_overrides={"CONTENT_LENGTH": "5000"})
    assert response.status_code == 413
    assert response.json["error"] == ("body of 5000 bytes is over the limit of 1000 "
                                      "(DASH_MAX_BODY_BYTES)")
    assert observe(client, data_dir) == before


def test_chunked_body_over_the_limit_is_refused(make_app: Callable[..., Flask],
                                                data_dir: Path) -> None:
    """No Content-Length (chunked): the server still stops reading past the limit."""
    app = make_app(MAX_BODY_BYTES=200)
    client = app.test_client()
    before = observe(client, data_dir)

    def chunked(body: bytes) -> tuple[str, dict[str, Any]]:
        environ = EnvironBuilder(path="/api/d/hosts/points", method="POST",
                                 headers=[*AUTH.items(), ("Content-Type", JSON),
                                          ("Transfer-Encoding", "chunked")],
                                 ).get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = True
        chunks, status, _ = run_wsgi_app(app, environ)
        return status, json.loads(b"".join(chunks))

    status, body = chunked(J([GOOD] * 5))
    assert status.startswith("413")
    assert body["error"] == "body is over the limit of 200 bytes (DASH_MAX_BODY_BYTES)"
    assert observe(client, data_dir) == before
    status, body = chunked(J([GOOD]))  # under the limit, the same route takes it
    assert status.startswith("200") and body["accepted"] == 1


@pytest.mark.parametrize("config, body", [
    ({"MAX_BODY_BYTES": len(J([GOOD]))}, J([GOOD])),
    ({"MAX_BATCH_POINTS": 2}, J([GOOD, pt(timestamp="2024-05-01T00:04:00Z")])),
], ids=["body-exactly-at-limit", "batch-exactly-at-limit"])
def test_limits_are_inclusive(make_app: Callable[..., Flask], config: dict[str, Any],
                              body: bytes) -> None:
    client = make_app(**config).test_client()
    response = post(client, "hosts", body)
    assert response.status_code == 200, response.json
    assert datasets(client)["hosts"]["rows"] == 6 + response.json["accepted"]


@pytest.mark.parametrize("body, ctype", [
    (b"\x00", JSON), (b"\x00", NDJSON), (b"\x00", CSV),
    (b"{", JSON), (b"{", NDJSON), (b"}", CSV),
    (b'"', CSV), (b'"unterminated\n', CSV), (b"\r\n,\r\n", CSV), (b",,,\n", CSV),
    (b"timestamp\n", CSV), (b"timestamp\n2024-05-01T00:00:00Z\n", CSV), (b"cpu\n1\n", CSV),
    (b"\xc2\xa0", CSV), (b"\x1c", NDJSON), (b"1\n2\n", NDJSON), (b"null\n", NDJSON),
    (b"[{}]", JSON), (b'[{"timestamp": ["x"]}]', JSON), (b'{"points": null}', JSON),
    (b"\xef\xbb\xbf[]", JSON),
])
@pytest.mark.parametrize("name", ["hosts", "events", "fresh"])
def test_garbage_is_a_4xx_never_a_5xx(make_app: Callable[..., Flask], data_dir: Path,
                                      name: str, body: bytes, ctype: str) -> None:
    client = make_app().test_client()
    before = observe(client, data_dir)
    response = post(client, name, body, ctype)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"]
    assert observe(client, data_dir) == before


def test_the_in_memory_demo_dataset_refuses_ingest(make_app: Callable[..., Flask],
                                                   data_dir: Path) -> None:
    client = make_app(DEMO=True).test_client()
    assert datasets(client)["demo"]["source"] != "file"
    before = observe(client, data_dir)
    response = post(client, "demo", J([{"timestamp": TS, "metric": "m", "value": 1}]))
    assert response.status_code == 409
    assert "generated in memory (the demo)" in response.json["error"]
    assert observe(client, data_dir) == before
    assert not (data_dir / "demo.csv").exists()


def test_an_unreadable_file_dataset_refuses_ingest(make_app: Callable[..., Flask],
                                                   data_dir: Path,
                                                   write_csv: Callable[[str, str], Path]) -> None:
    write_csv("broken", "a,b\nx,y\n")  # no timestamp column
    client = make_app().test_client()
    assert datasets(client)["broken"]["error"]
    before = observe(client, data_dir)
    response = post(client, "broken", J([{"timestamp": TS, "metric": "m", "value": 1}]))
    assert response.status_code == 409
    assert "broken.csv exists but cannot be read" in response.json["error"]
    assert observe(client, data_dir) == before


# -- 2. auth ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, ""], ids=["unset", "empty"])
def test_ingest_is_off_without_a_token(make_app: Callable[..., Flask], data_dir: Path,
                                       token: str | None) -> None:
    client = make_app(INGEST_TOKEN=token).test_client()
    before = observe(client, data_dir)
    response = post(client, "hosts", J([GOOD]))
    assert response.status_code == 403
    assert "DASH_INGEST_TOKEN" in response.json["error"]
    assert observe(client, data_dir) == before


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer s3cret-and-more"},
    {"Authorization": "Bearer S3CRET"},
    {"Authorization": "Basic s3cret"},
    {"Authorization": "Token s3cret"},
    {"Authorization": "s3cret"},
    {"X-Token": "s3cret"},
], ids=["no-header", "empty-header", "wrong-token", "scheme-only", "scheme-space",
        "token-prefix", "token-case", "basic-scheme", "token-scheme", "no-scheme",
        "other-header"])
def test_missing_or_wrong_token_is_401(make_app: Callable[..., Flask], data_dir: Path,
                                       headers: dict[str, str]) -> None:
    client = make_app().test_client()
    before = observe(client, data_dir)
    response = post(client, "hosts", J([GOOD]), headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "missing or wrong bearer token"
    assert observe(client, data_dir) == before


def test_auth_is_checked_before_the_body(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert post(client, "hosts", b"not json", headers={}).status_code == 401
    assert post(client, "bad.name", b"", "text/plain", headers={}).status_code == 401


@pytest.mark.parametrize("authorization", ["Bearer s3cret", "bearer s3cret"])
def test_the_right_token_is_accepted(make_app: Callable[..., Flask], authorization: str) -> None:
    client = make_app().test_client()
    response = post(client, "hosts", J([GOOD]), headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.json["accepted"] == 1


# -- 3. happy paths -----------------------------------------------------------------------

NEW = [{"region": "ap", "mem": 70, "host": "web-3", "timestamp": "2024-05-01T00:03:00Z",
        "cpu": 30},
       {"cpu": 31.5, "timestamp": "2024-05-01T02:04:00+02:00", "host": "web-3", "mem": 71,
        "region": "ap"}]
JSON_LINES = b"2024-05-01T00:03:00Z,30.0,70.0,web-3,ap\n2024-05-01T00:04:00Z,31.5,71.0,web-3,ap\n"


@pytest.mark.parametrize("body, ctype, lines", [
    (J(NEW), JSON, JSON_LINES),
    (J({"points": NEW}), JSON, JSON_LINES),
    (b"\n".join(J(p) for p in NEW) + b"\n", NDJSON, JSON_LINES),
    (b"\r\n\n".join(J(p) for p in NEW), NDJSON, JSON_LINES),
    ("region,host,timestamp,mem,cpu\nap,web-3,2024-05-01T00:03:00Z,70,30\n"
     "ap,web-3,2024-05-01T02:04:00+02:00,71,31.5\n", CSV,
     b"2024-05-01T00:03:00Z,30,70,web-3,ap\n2024-05-01T00:04:00Z,31.5,71,web-3,ap\n"),
    ("region,host,timestamp,mem,cpu\r\nap,web-3,2024-05-01T00:03:00Z,70,30\r\n"
     "ap,web-3,2024-05-01T02:04:00+02:00,71,31.5", "text/csv; charset=utf-8",
     b"2024-05-01T00:03:00Z,30,70,web-3,ap\n2024-05-01T00:04:00Z,31.5,71,web-3,ap\n"),
], ids=["json-array", "json-points-object", "ndjson", "ndjson-crlf-blank-lines", "csv",
        "csv-crlf-no-final-newline"])
def test_a_batch_is_acknowledged_visible_and_appended_in_file_column_order(
        ic: FlaskClient, data_dir: Path, body: bytes | str, ctype: str, lines: bytes) -> None:
    before = datasets(ic)["hosts"]
    response = post(ic, "hosts", body, ctype)
    assert response.status_code == 200, response.json
    assert set(response.json) == {"accepted", "version", "epoch"}
    assert response.json["accepted"] == 2
    assert response.json["version"] > before["version"]
    after = datasets(ic)["hosts"]
    assert response.json["epoch"] == before["epoch"] == after["epoch"]
    assert response.json["version"] == after["version"]
    assert (after["rows"], after["points"]) == (8, 16)
    assert after["end"] == "2024-05-01T00:04:00Z"
    assert "web-3" in after["labels"]["host"] and "ap" in after["labels"]["region"]
    # on disk: the old bytes untouched, the new lines in the file's column order
    assert (data_dir / "hosts.csv").read_bytes() == HOSTS_CSV.encode() + lines
    # visible to clients
    figure = ic.get("/api/d/hosts/figure?metric=cpu&by=host&agg=raw").json
    assert figure["version"] == after["version"]
    traces = {t["name"]: t for t in figure["figure"]["data"]}
    assert traces["web-3"]["x"] == [ms("2024-05-01T00:03:00Z"), ms("2024-05-01T00:04:00Z")]
    assert traces["web-3"]["y"] == [30, 31.5]
    rows = ic.get("/api/d/hosts/rows?format=json&agg=raw&metric=mem&host=web-3").json["rows"]
    assert [(r["timestamp"], r["value"], r["region"]) for r in rows] == [
        ("2024-05-01T00:04:00Z", 71.0, "ap"), ("2024-05-01T00:03:00Z", 70.0, "ap")]
    # a second batch moves the version on again, same epoch
    again = post(ic, "hosts", J([pt(timestamp="2024-05-01T00:05:00Z")]))
    assert again.status_code == 200
    assert again.json["version"] > response.json["version"]
    assert again.json["epoch"] == before["epoch"]


@pytest.mark.parametrize("body, ctype, file_text, metrics, labels", [
    (J([{"timestamp": "2024-05-01T02:00:00+02:00", "metric": "temp", "value": 21.5,
         "room": "kitchen"},
        {"timestamp": "2024-05-01T00:01:00Z", "metric": "temp", "value": 22, "room": "hall"},
        {"timestamp": "2024-04-30T20:02:00-04:00", "metric": "hum", "value": 40,
         "room": "hall"}]), JSON,
     "timestamp,metric,value,room\n2024-05-01T00:00:00Z,temp,21.5,kitchen\n"
     "2024-05-01T00:01:00Z,temp,22.0,hall\n2024-05-01T00:02:00Z,hum,40.0,hall\n",
     ["hum", "temp"], {"room": ["hall", "kitchen"]}),
    (J([{"timestamp": "2024-05-01T02:00:00+02:00", "cpu": 1.5, "mem": 10, "host": "a"},
        {"timestamp": "2024-05-01T00:01:00", "cpu": 2, "host": "b"},
        {"timestamp": "2024-05-01T01:02:00+01:00", "mem": 12, "host": "a"}]), JSON,
     "timestamp,cpu,mem,host\n2024-05-01T00:00:00Z,1.5,10.0,a\n2024-05-01T00:01:00Z,2.0,,b\n"
     "2024-05-01T00:02:00Z,,12.0,a\n",
     ["cpu", "mem"], {"host": ["a", "b"]}),
    (b'{"timestamp": "2024-05-01T02:00:00+02:00", "metric": "m", "value": 1}\n', NDJSON,
     "timestamp,metric,value\n2024-05-01T00:00:00Z,m,1.0\n", ["m"], {}),
    ("timestamp,cpu,host\n2024-05-01T02:00:00+02:00,1.5,a\n2024-05-01T00:01:00Z,2,b\n", CSV,
     "timestamp,cpu,host\n2024-05-01T00:00:00Z,1.5,a\n2024-05-01T00:01:00Z,2,b\n",
     ["cpu"], {"host": ["a", "b"]}),
], ids=["long-json", "wide-json", "long-ndjson", "wide-csv"])
def test_the_first_batch_creates_a_dataset(ic: FlaskClient, data_dir: Path,
                                           body: bytes | str, ctype: str, file_text: str,
                                           metrics: list[str],
                                           labels: dict[str, list[str]]) -> None:
    assert "sensors" not in datasets(ic)
    assert ic.get("/api/d/sensors/figure").status_code == 404
    response = post(ic, "sensors", body, ctype)
    assert response.status_code == 200, response.json
    shown = datasets(ic)["sensors"]
    assert response.json == {"accepted": file_text.count("\n") - 1,
                             "version": shown["version"], "epoch": shown["epoch"]}
    assert shown["source"] == "file" and shown["error"] is None
    assert shown["rows"] == file_text.count("\n") - 1
    assert sorted(shown["metrics"]) == metrics
    assert {k: sorted(v) for k, v in shown["labels"].items()} == labels
    assert shown["start"] == "2024-05-01T00:00:00Z"
    assert (data_dir / "sensors.csv").read_text() == file_text
    # the points are served
    figure = ic.get(f"/api/d/sensors/figure?metric={metrics[-1]}&agg=raw").json
    assert figure["epoch"] == shown["epoch"]
    assert sum(len(t["x"]) for t in figure["figure"]["data"]) >= 1
    exported = all_rows(ic, "sensors")
    assert len(exported) == shown["points"]
    assert exported[0][0] == "2024-05-01T00:00:00Z"  # the +02:00 point, in UTC


def test_an_unterminated_last_line_makes_ingest_wait_for_its_newline(
        make_app: Callable[..., Flask], data_dir: Path,
        write_csv: Callable[[str, str], Path]) -> None:
    """Another program's line without its newline is never completed by ingest: a 409 that
    says what to do, nothing written; once the line is finished both are stored."""
    path = write_csv("hosts", HOSTS_CSV + "2024-05-01T00:02:30Z,1")  # "...,12" still coming
    old = time.time() - 3600
    os.utime(path, (old, old))  # an hour old: still unfinished, however long it waits
    client = make_app().test_client()
    assert datasets(client)["hosts"]["rows"] == 6
    before = observe(client, data_dir)
    response = post(client, "hosts", J([pt()]))
    assert response.status_code == 409
    assert response.json["error"].startswith("hosts.csv ends in a line without its newline")
    assert observe(client, data_dir) == before
    with path.open("a") as handle:
        handle.write("2,50,web-3,us\n")  # the other program finishes its line: cpu 12
    response = post(client, "hosts", J([pt()]))
    assert response.status_code == 200
    assert path.read_bytes() == (HOSTS_CSV.encode() + b"2024-05-01T00:02:30Z,12,50,web-3,us\n"
                                 b"2024-05-01T00:03:00Z,13.0,53.0,web-1,eu\n")
    restarted = make_app().test_client()
    assert all_rows(client, "hosts") == all_rows(restarted, "hosts")
    assert datasets(restarted)["hosts"]["rows"] == 8


# -- 4. order and duplicates --------------------------------------------------------------


def test_out_of_order_and_older_points_are_kept_in_time_order(ic: FlaskClient) -> None:
    batch = [pt(timestamp="2024-05-01T00:05:00Z", cpu=15),
             pt(timestamp="2024-05-01T00:00:30Z", cpu=100),  # older than the newest point
             pt(timestamp="2024-05-01T00:01:30Z", cpu=101)]
    assert post(ic, "hosts", J(batch)).status_code == 200
    shown = datasets(ic)["hosts"]
    assert (shown["start"], shown["end"]) == ("2024-05-01T00:00:00Z", "2024-05-01T00:05:00Z")
    figure = ic.get("/api/d/hosts/figure?metric=cpu&by=host&agg=raw").json["figure"]
    web1 = next(t for t in figure["data"] if t["name"] == "web-1")
    stamps = ["00:00:00", "00:00:30", "00:01:00", "00:01:30", "00:02:00", "00:05:00"]
    assert web1["x"] == [ms(f"2024-05-01T{s}Z") for s in stamps]
    assert web1["y"] == [10, 100, 11, 101, 12, 15]
    rows = ic.get("/api/d/hosts/rows?format=json&agg=raw&metric=cpu&host=web-1").json["rows"]
    assert [r["timestamp"] for r in rows] == [f"2024-05-01T{s}Z" for s in reversed(stamps)]
    assert [r["value"] for r in rows] == [15, 12, 101, 11, 100, 10]


def test_a_duplicate_series_and_timestamp_is_kept_as_another_point(
        make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    t0, t1 = "2024-05-01T00:00:10Z", "2024-05-01T00:00:20Z"
    first = [{"timestamp": t0, "metric": "m", "value": 1}, {"timestamp": t0, "metric": "m",
                                                            "value": 3}]
    second = [{"timestamp": t1, "metric": "m", "value": 7}, {"timestamp": t0, "metric": "m",
                                                             "value": 5}]
    assert post(client, "dups", J(first)).status_code == 200
    assert post(client, "dups", J(second)).status_code == 200

    def check(c: FlaskClient) -> None:
        assert datasets(c)["dups"]["points"] == 4
        rows = c.get("/api/d/dups/rows?format=json&agg=raw").json["rows"]
        assert sorted((r["timestamp"], r["value"]) for r in rows) == [
            (t0, 1.0), (t0, 3.0), (t0, 5.0), (t1, 7.0)]
        means = c.get("/api/d/dups/rows?format=json&agg=mean&bucket=1s").json["rows"]
        assert [(r["timestamp"], r["mean"]) for r in means] == [(t1, 7.0), (t0, 3.0)]
        figure = c.get("/api/d/dups/figure?agg=mean&bucket=1s").json["figure"]
        assert figure["data"][0]["x"] == [ms(t0), ms(t1)]
        assert figure["data"][0]["y"] == [3.0, 7.0]
        raw = c.get("/api/d/dups/figure?agg=raw").json["figure"]
        assert raw["data"][0]["x"] == [ms(t0)] * 3 + [ms(t1)]
        assert sorted(raw["data"][0]["y"][:3]) == [1.0, 3.0, 5.0]

    check(client)
    check(make_app().test_client())  # the rule holds after a restart too


# -- 5. restart ---------------------------------------------------------------------------


def test_a_restart_brings_back_every_acknowledged_point_exactly_once(
        make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    sent: list[tuple[str, str | bytes, str]] = [
        ("hosts", J([pt(), pt(timestamp="2024-05-01T00:04:00Z", host="web-2", region="us")]),
         JSON),
        ("hosts", CSV_HEAD + "2024-05-01T00:05:00Z,14,54,web-1,eu\n", CSV),
        ("events", J([lpt(), lpt(metric="temp", value=41.25)]), JSON),
        ("sensors", J([{"timestamp": "2024-05-01T00:00:00Z", "metric": "t", "value": 1,
                        "host": "42"},
                       {"timestamp": "2024-05-01T00:01:00Z", "metric": "t", "value": 2.5,
                        "host": "007"}]), JSON),
        ("sensors", b'{"timestamp": "2024-05-01T00:02:00.250Z", "metric": "h", "value": -3, '
                    b'"host": "42"}\n', NDJSON),
        ("wide42", J([{"timestamp": "2024-05-01T00:00:00Z", "cpu": 1, "host": "42"},
                      {"timestamp": "2024-05-01T00:01:00Z", "cpu": 2, "host": "43"}]), JSON),
        ("wide42", J([{"timestamp": "2024-05-01T00:02:00Z", "cpu": 3, "host": "44"}]), JSON),
    ]
    for name, body, ctype in sent:
        assert post(client, name, body, ctype).status_code == 200
    names = ["hosts", "events", "sensors", "wide42"]
    before = {n: (summary(client, n), all_rows(client, n)) for n in names}
    assert [before[n][0]["rows"] for n in names] == [9, 5, 3, 3]
    assert before["sensors"][0]["end"] == "2024-05-01T00:02:00.25Z"

    restarted = make_app().test_client()
    for name in names:
        assert summary(restarted, name) == before[name][0], name
        assert all_rows(restarted, name) == before[name][1], name
    # the saved schema keeps digit-only strings as labels, not metrics
    assert summary(restarted, "sensors")["metrics"] == ["h", "t"]
    assert summary(restarted, "sensors")["labels"] == {"host": ["007", "42"]}
    assert summary(restarted, "wide42")["metrics"] == ["cpu"]
    assert summary(restarted, "wide42")["labels"] == {"host": ["42", "43", "44"]}
    rows = restarted.get("/api/d/wide42/rows?format=json&agg=raw&host=42").json["rows"]
    assert [(r["value"], r["host"]) for r in rows] == [(1.0, "42")]




@pytest.mark.parametrize("label", ["line\nbreak", "cr\rlf", "tab\there", "nul\x00"])
def test_labels_with_control_characters_are_refused(make_app: Callable[..., Flask],
                                                     label: str) -> None:
    client = make_app().test_client()
    body = J([{"timestamp": TS, "metric": "m", "value": 1, "region": label}])
    response = post(client, "labelled", body)
    assert response.status_code == 400
    assert response.json["errors"] == [{"index": 0, "field": "region", "message":
                                        "control characters (tab, CR, LF...) are not allowed "
                                        "in labels"}]


@pytest.mark.parametrize("label", [
    "42", "007", "1e5", "true", "a,b", 'say "hi"', "=1+2", "ünïcode", "-",
    "NA", "N/A",
    "null", "None",
    "nan",
    "  padded",
])
def test_an_acknowledged_label_survives_a_restart(make_app: Callable[..., Flask],
                                                  label: str) -> None:
    client = make_app().test_client()
    body = J([{"timestamp": TS, "metric": "m", "value": 1, "region": label},
              {"timestamp": "2024-05-01T00:04:00Z", "metric": "m", "value": 2, "region": "eu"}])
    assert post(client, "labelled", body).status_code == 200
    assert label in datasets(client)["labelled"]["labels"]["region"]
    restarted = make_app().test_client()
    assert datasets(restarted)["labelled"]["labels"]["region"].count(label) == 1
    rows = restarted.get("/api/d/labelled/rows?format=json&agg=raw").json["rows"]
    assert sorted((r["value"], r["region"]) for r in rows) == [(1.0, label), (2.0, "eu")]


@pytest.mark.parametrize("metric", [
    "cpu.user", "a b", "x,y",
    "NULL", "nan",
])
def test_an_acknowledged_long_metric_survives_a_restart(make_app: Callable[..., Flask],
                                                        metric: str) -> None:
    client = make_app().test_client()
    body = J([{"timestamp": TS, "metric": metric, "value": 1},
              {"timestamp": TS, "metric": "other", "value": 2}])
    assert post(client, "named", body).status_code == 200
    assert datasets(client)["named"]["points"] == 2
    restarted = make_app().test_client()
    assert sorted(datasets(restarted)["named"]["metrics"]) == sorted([metric, "other"])
    assert datasets(restarted)["named"]["points"] == 2


def test_acknowledged_csv_numbers_survive_a_restart(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    body = "timestamp,x,host\n2024-05-01T00:00:00Z,1_000,a\n2024-05-01T00:01:00Z,\u0661\u0662,b\n"
    response = post(client, "csvnums", body, CSV)
    if response.status_code == 400:  # refusing them is fine too
        return
    assert response.status_code == 200
    before = all_rows(client, "csvnums")
    assert all_rows(make_app().test_client(), "csvnums") == before


def test_a_column_name_with_a_leading_space_survives_a_restart(
        make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    first = post(client, "spaced", J([{"timestamp": TS, " cpu": 1}]))
    if first.status_code == 400:  # refusing such a name is fine too
        return
    assert post(client, "spaced", J([{"timestamp": "2024-05-01T00:04:00Z", " cpu": 2}])
                ).status_code == 200
    before = summary(client, "spaced"), all_rows(client, "spaced")
    restarted = make_app().test_client()
    assert (summary(restarted, "spaced"), all_rows(restarted, "spaced")) == before


def test_ndjson_strings_may_hold_unicode_line_separators(ic: FlaskClient) -> None:
    label = "a\u2028b\x85c"
    body = json.dumps({"timestamp": TS, "metric": "m", "value": 1, "host": label},
                      ensure_ascii=False).encode() + b"\n"
    response = post(ic, "events", body, NDJSON)
    assert response.status_code == 200, response.json
    assert label in datasets(ic)["events"]["labels"]["host"]


def test_a_stale_intent_does_not_touch_a_recreated_file(make_app: Callable[..., Flask],
                                                        data_dir: Path) -> None:
    app = make_app()
    client = app.test_client()
    assert post(client, "hosts", J([pt()])).status_code == 200
    (data_dir / "hosts.csv").unlink()
    app.extensions["dash"].folder.scan()  # what the background scanner does every second
    assert "hosts" not in datasets(client)
    assert post(client, "hosts", J([{"timestamp": TS, "metric": "m", "value": 5}])
                ).status_code == 200
    acknowledged = (data_dir / "hosts.csv").read_bytes()
    rows = all_rows(client, "hosts")
    restarted = make_app().test_client()
    assert (data_dir / "hosts.csv").read_bytes() == acknowledged
    assert all_rows(restarted, "hosts") == rows


# -- 6. a torn batch ----------------------------------------------------------------------


@pytest.mark.parametrize("name, first, torn_lines, later", [
    ("hosts", J([pt()]),
     "2024-05-01T00:10:00Z,90.0,91.0,web-9,eu\n2024-05-01T00:11:00Z,92.0,93.0,web-9,eu\n",
     J([pt(timestamp="2024-05-01T00:12:00Z", cpu=1)])),
    ("sensors", J([{"timestamp": TS, "metric": "t", "value": 1, "host": "a"}]),
     "2024-05-01T00:10:00Z,t,90.0,web-9\n2024-05-01T00:11:00Z,t,92.0,web-9\n",
     J([{"timestamp": "2024-05-01T00:12:00Z", "metric": "t", "value": 2, "host": "a"}])),
], ids=["file-dataset", "ingest-created-dataset"])
def test_a_torn_batch_is_dropped_on_restart(make_app: Callable[..., Flask], data_dir: Path,
                                            name: str, first: bytes, torn_lines: str,
                                            later: bytes) -> None:
    client = make_app().test_client()
    assert post(client, name, first).status_code == 200
    assert post(client, name, first.replace(b"00:03:00", b"00:03:30")).status_code == 200
    path = data_dir / f"{name}.csv"
    acknowledged = path.read_bytes()
    shown, rows = summary(client, name), all_rows(client, name)

    # crash mid-write: the intent record is on disk, then one whole line and part of another
    data = torn_lines.encode()
    size_before = len(acknowledged)
    (data_dir / f".{name}.intent").write_bytes(
        intent_record(path.stat().st_ino, size_before, size_before + len(data), acknowledged))
    cut = data.index(b"\n") + 1 + 12
    with path.open("ab") as handle:
        handle.write(data[:cut])
    assert path.stat().st_size < size_before + len(data)

    restarted = make_app().test_client()
    assert path.read_bytes() == acknowledged
    assert summary(restarted, name) == shown
    assert all_rows(restarted, name) == rows
    assert "web-9" not in datasets(restarted)[name]["labels"]["host"]

    # the dataset goes on taking batches, and they too survive the next start
    assert post(restarted, name, later).status_code == 200
    assert path.read_bytes().startswith(acknowledged)
    assert summary(make_app().test_client(), name)["rows"] == shown["rows"] + 1


def test_the_intent_record_of_an_acknowledged_batch_never_cuts_the_file(
        make_app: Callable[..., Flask], data_dir: Path) -> None:
    client = make_app().test_client()
    assert post(client, "hosts", J([{"timestamp": TS, "cpu": 1}])).status_code == 200
    # The user rewrites the file in place, shorter: a restart must leave it exactly so.
    rewritten = "timestamp,cpu,mem,host,region\n2024-06-01T00:00:00Z,7,8,web-9,eu\n"
    with (data_dir / "hosts.csv").open("r+") as handle:
        handle.write(rewritten)
        handle.truncate()
    make_app().test_client()
    assert (data_dir / "hosts.csv").read_text() == rewritten


def test_ingest_into_a_file_with_a_byte_order_mark_survives_a_restart(
        make_app: Callable[..., Flask], data_dir: Path) -> None:
    (data_dir / "excel.csv").write_bytes(
        "\ufefftimestamp,cpu,host\n2024-05-01T00:00:00Z,1,web-1\n".encode())
    client = make_app().test_client()
    assert post(client, "excel", J([{"timestamp": TS, "cpu": 2, "host": "web-2"}])
                ).status_code == 200
    restarted = make_app().test_client()
    assert sorted(float(r[2]) for r in all_rows(restarted, "excel")) == [1.0, 2.0]


def test_ingest_into_a_file_with_numeric_time_is_refused(make_app: Callable[..., Flask],
                                                         data_dir: Path) -> None:
    (data_dir / "epoch.csv").write_text("ts,cpu\n1714521600,1\n1714521660,2\n")
    client = make_app().test_client()
    before = (data_dir / "epoch.csv").read_bytes()
    response = post(client, "epoch", J([{"timestamp": TS, "cpu": 3}]))
    assert response.status_code == 409
    assert "keeps time as numbers" in response.json["error"]
    assert (data_dir / "epoch.csv").read_bytes() == before


@pytest.mark.parametrize("name, text, why", [
    ("excel", "timestamp;cpu\n2024-05-01T00:00:00Z;1,5\n", "excel.csv separates columns with ';'"),
    ("logger", "date,time,cpu\n2024-05-01,12:00:00,1\n",
     "logger.csv keeps the time of day apart, in 'time'"),
    ("days", "date,cpu\n13/05/2024,1\n", "days.csv writes dates as %d/%m/%Y"),
])
def test_ingest_into_a_file_written_another_way_is_refused(make_app: Callable[..., Flask],
                                                           data_dir: Path, name: str,
                                                           text: str, why: str) -> None:
    (data_dir / f"{name}.csv").write_text(text)
    client = make_app().test_client()
    before = (data_dir / f"{name}.csv").read_bytes()
    response = post(client, name, J([{"timestamp": TS, "cpu": 3}]))
    assert response.status_code == 409
    assert why in response.json["error"]
    assert (data_dir / f"{name}.csv").read_bytes() == before


@pytest.mark.parametrize("body", [
    "timestamp;cpu;mem;host;region\n2024-05-01T00:03:00Z;13;53;web-1;eu\n",
    "\ufeff# from a script\ntimestamp,cpu,mem,host,region,\n2024-05-01T00:03:00Z,13,53,web-1,eu,\n",
], ids=["semicolons", "bom-comment-trailing-delimiter"])
def test_csv_bodies_follow_the_file_dialect_rules(ic: FlaskClient, body: str) -> None:
    response = post(ic, "hosts", body, CSV)
    assert response.status_code == 200, response.json
    assert response.json["accepted"] == 1


@pytest.mark.parametrize("body, ctype, metrics, labels", [
    # the first row's empty cell says nothing: the column is a metric by its numbers
    (f"timestamp,cpu,mem,host\n{TS},,1,web-1\n{TS},5,2,web-1\n", CSV, ("cpu", "mem"),
     ("host",)),
    (J([{"timestamp": TS, "cpu": None, "mem": 1, "host": "a"},
        {"timestamp": TS, "cpu": 2, "mem": 2, "host": "a"}]), JSON, ("cpu", "mem"), ("host",)),
])
def test_a_new_dataset_takes_its_columns_from_the_values_given(
        body: str | bytes, ctype: str, metrics: tuple[str, ...], labels: tuple[str, ...]) -> None:
    data = body.encode() if isinstance(body, str) else body
    schema = validate(decode(ctype, data, 100), None).schema
    assert (schema.metrics, schema.labels) == (metrics, labels)
