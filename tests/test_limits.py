"""Limits on what is stored: distinct values per label, the time range int64 ns can hold,
and what /api/datasets lists."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.data.schema import Batch, Schema
from app.data.store import Store
from app.engine.compute import run
from app.engine.view import parse_view

TOKEN = "s3cret"


@pytest.fixture
def make_client(app_config: dict[str, Any]) -> Callable[..., FlaskClient]:
    def make(**config: Any) -> FlaskClient:
        app: Flask = create_app({**app_config, "INGEST_TOKEN": TOKEN, **config})
        return app.test_client()
    return make


def post(client: FlaskClient, name: str, points: list[dict[str, Any]]) -> Any:
    return client.post(f"/api/d/{name}/points", data=json.dumps(points),
                       headers={"Authorization": f"Bearer {TOKEN}",
                                "Content-Type": "application/json"})


def listed(client: FlaskClient, name: str) -> dict[str, Any]:
    return next(d for d in client.get("/api/datasets").json if d["name"] == name)


def users(first: int, count: int) -> list[dict[str, Any]]:
    return [{"timestamp": "2024-05-01T00:00:00Z", "cpu": 1, "user": f"u{n:05d}"}
            for n in range(first, first + count)]


def test_a_label_takes_values_up_to_the_limit_and_refuses_the_batch_past_it(
        make_client: Callable[..., FlaskClient], data_dir: Path) -> None:
    client = make_client(MAX_LABEL_VALUES=5)
    assert post(client, "logins", users(0, 3)).status_code == 200
    assert post(client, "logins", users(3, 2)).status_code == 200  # exactly 5: fine
    before = (data_dir / "logins.csv").read_bytes()
    response = post(client, "logins", users(0, 5) + users(5, 1))  # one more: refused whole
    assert response.status_code == 400
    assert response.json["error"].startswith(
        "label 'user' would hold 6 distinct values; the limit is 5 (DASH_MAX_LABEL_VALUES)")
    assert (data_dir / "logins.csv").read_bytes() == before
    assert listed(client, "logins")["points"] == 5
    assert post(client, "logins", users(0, 5)).status_code == 200  # known values still go


def test_a_file_with_too_many_values_in_a_label_is_refused_naming_it(
        make_client: Callable[..., FlaskClient], write_csv: Callable[[str, str], Path]) -> None:
    write_csv("wide", "timestamp,cpu,user\n" + "".join(
        f"2024-05-01T00:00:{n:02d}Z,1,u{n}\n" for n in range(6)))
    shown = listed(make_client(MAX_LABEL_VALUES=5), "wide")
    assert shown["error"].startswith("wide.csv: label 'user' would hold 6 distinct values; "
                                     "the limit is 5")
    assert listed(make_client(MAX_LABEL_VALUES=6), "wide")["error"] is None


def test_api_datasets_lists_at_most_1000_values_a_label_with_their_count(
        make_client: Callable[..., FlaskClient]) -> None:
    client = make_client()
    assert post(client, "logins", users(0, 1500)).status_code == 200
    shown = listed(client, "logins")
    assert shown["label_counts"] == {"user": 1500}
    assert shown["labels"]["user"] == [f"u{n:05d}" for n in range(1000)]
    assert shown["labels_truncated"] == ["user"]
    assert "(1500)" in client.get("/").get_data(as_text=True)


def wide_labels(labels: int, values: int) -> list[dict[str, Any]]:
    """Points whose ``labels`` labels each hold ``values`` distinct values of 100 characters."""
    return [{"timestamp": f"2024-05-01T00:00:{n % 60:02d}Z", "cpu": 1,
             **{f"l{k:02d}": f"{n:04d}" + "x" * 96 for k in range(labels)}}
            for n in range(values)]


def test_api_datasets_lists_at_most_16_kib_of_values_a_label(
        make_client: Callable[..., FlaskClient]) -> None:
    client = make_client()
    assert post(client, "long", wide_labels(3, 300)).status_code == 200
    shown = listed(client, "long")
    # A value is 102 bytes of JSON and its comma one more: 16,384 // 103 = 159 of them.
    assert shown["labels"]["l01"] == [f"{n:04d}" + "x" * 96 for n in range(159)]
    assert shown["label_counts"] == {"l00": 300, "l01": 300, "l02": 300}
    assert shown["labels_truncated"] == ["l00", "l01", "l02"]


def test_api_datasets_lists_at_most_512_kib_of_values_in_all(
        make_client: Callable[..., FlaskClient]) -> None:
    client = make_client()
    assert post(client, "many", wide_labels(40, 200)).status_code == 200
    answer = client.get("/api/datasets")
    # 40 labels x 200 values x 103 bytes were 824 KB; now 32 labels of 159 values (16,378
    # bytes of JSON each) leave 192 bytes: one more value, then none.
    assert len(answer.data) < 540_000
    [shown] = answer.json
    assert sum(len(values) for values in shown["labels"].values()) == 32 * 159 + 1
    assert len(shown["labels_truncated"]) == 40
    assert set(shown["label_counts"].values()) == {200}


@pytest.mark.parametrize("stamp", ["1678-01-01T00:00:00Z", "2261-12-31T23:59:59.999999999Z"])
def test_the_first_and_last_instants_that_fit_are_stored(
        make_client: Callable[..., FlaskClient], stamp: str) -> None:
    client = make_client()
    assert post(client, "edge", [{"timestamp": stamp, "cpu": 1}]).status_code == 200
    shown = listed(client, "edge")
    assert shown["start"] == shown["end"] == stamp


def test_a_file_keeps_only_instants_int64_ns_can_bucket(
        make_client: Callable[..., FlaskClient], write_csv: Callable[[str, str], Path]) -> None:
    write_csv("old", "timestamp,cpu\n1677-09-21T12:00:00Z,1\n1678-01-01T06:00:00Z,2\n"
                     "2262-01-01T00:00:00Z,3\n")
    shown = listed(make_client(), "old")
    assert (shown["points"], shown["start"], shown["end"]) == (1, "1678-01-01T06:00:00Z",
                                                               "1678-01-01T06:00:00Z")


NS_1678_0600 = -9_214_538_400_000_000_000  # 1678-01-01T06:00:00Z
FIRST = -9_214_560_000_000_000_000  # 1678-01-01T00:00:00Z


@pytest.mark.parametrize("bucket, start", [
    ("1d", FIRST),  # 1678-01-01 is a day boundary
    ("7d", FIRST),  # the week began in 1677, before int64 ns reach: drawn from 1678-01-01
    ("36500d", FIRST),  # a century bucket: its start wrapped around to 2262 before
    ("1h", NS_1678_0600),
])
def test_buckets_of_the_earliest_instants_never_wrap_around(bucket: str, start: int) -> None:
    store = Store()
    dataset = store.create("old", Schema("timestamp", "wide", ("cpu",), ()))
    dataset.append(Batch(np.array([NS_1678_0600, NS_1678_0600 + 1], dtype=np.int64),
                         np.array(["cpu", "cpu"], dtype=object), np.array([1.0, 3.0])))
    snap = dataset.snapshot()
    view = parse_view([("agg", "mean"), ("bucket", bucket)], snap.metrics, ())
    [trace] = run(snap, view).traces
    assert trace.x.tolist() == [start]
    assert trace.y.tolist() == [2.0]


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    from app.config import _ENVIRONMENT

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## Production")]
    assert [v for v in _ENVIRONMENT if f"| `{v}` |" not in table] == []
