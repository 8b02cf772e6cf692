"""Series keys against repeated points and load order: a point sent twice never merges
series, and the same points give the same lines however they arrived."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.data.store import Store
from app.engine import serieskeys
from app.engine.serieskeys import SeriesKeys, key_labels
from tests.samples import read_table

TOKEN = "s3cret"
HEADER = "timestamp,host,cpu"
MAY_1 = pd.Timestamp("2024-05-01T00:00:00Z")


def at(seconds: int) -> str:
    """2024-05-01 plus ``seconds``, as the CSV writes it."""
    return (MAY_1 + pd.Timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def turns(rounds: int = 8) -> list[str]:
    """web-1 at :00 and web-2 at :07 of every 15 s; cpu 10, 11, 12... and 50, 51, 52..."""
    return [row for k in range(rounds)
            for row in (f"{at(15 * k)},web-1,{10 + k}", f"{at(15 * k + 7)},web-2,{50 + k}")]


TURNS = turns()
# The same plus web-1's third row (00:00:30, cpu 12) sent again.
TURNS_DUP = [*TURNS, TURNS[4]]
TURNS_LINES = {"web-1": [10, 11, 12, 13, 14, 15, 16, 17],
               "web-2": [50, 51, 52, 53, 54, 55, 56, 57]}
TURNS_DUP_LINES = {"web-1": [10, 11, 12, 12, 13, 14, 15, 16, 17],
                   "web-2": [50, 51, 52, 53, 54, 55, 56, 57]}


def csv(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def lines(client: FlaskClient, name: str, query: str = "metric=cpu&agg=raw") -> dict[str, Any]:
    """The chart's lines: trace name -> y, as the figure API sends them."""
    figure = client.get(f"/api/d/{name}/figure?{query}").json["figure"]
    return {t["name"]: t["y"] for t in figure["data"]}


@pytest.fixture
def make_app(app_config: dict[str, Any]) -> Callable[[], Flask]:
    """Apps over one data folder (each call a restart), ingest on."""
    def make() -> Flask:
        return create_app({**app_config, "INGEST_TOKEN": TOKEN})
    return make


def ingest(client: FlaskClient, name: str, rows: list[str], header: str = HEADER) -> None:
    response = client.post(f"/api/d/{name}/points", data=csv(rows, header),
                           headers={"Authorization": f"Bearer {TOKEN}",
                                    "Content-Type": "text/csv"})
    assert response.status_code == 200, response.json


# Four hosts each at its own second of every 15 s (h1 :00, h2 :03, h3 :06, h4 :09), cpu
# and mem, 25 rounds; a logger wrote 2 of the 100 rows twice (2%).
FLEET_HEADER = "timestamp,host,cpu,mem"
FLEET = [f"{at(15 * k + 3 * i)},h{i + 1},{10 * (i + 1) + k},{100 + 10 * i + k}"
         for k in range(25) for i in range(4)]
FLEET_DUP = [*FLEET, FLEET[41], FLEET[82]]  # h2 in round 10 (cpu 30), h3 in round 20 (cpu 50)


def fleet_lines(dups: dict[str, int]) -> dict[str, list[int]]:
    """Each host's cpu and mem line, with the rounds in ``dups`` (host -> round) twice."""
    out = {}
    for i in range(4):
        host = f"h{i + 1}"
        rounds = sorted([*range(25), *([dups[host]] if host in dups else [])])
        out[f"cpu · {host}"] = [10 * (i + 1) + k for k in rounds]
        out[f"mem · {host}"] = [100 + 10 * i + k for k in rounds]
    return out


# Both hosts at the same instants, every 15 s.
TOGETHER = [row for k in range(6)
            for row in (f"{at(15 * k)},web-1,{10 + k}", f"{at(15 * k)},web-2,{50 + k}")]
# Each region's web-1 at :00 and web-2 at :07 of every 15 s: region tells apart the points
# at one instant, host the series taking turns within a region.
REGIONS_HEADER = "timestamp,host,region,cpu"
REGIONS = [f"{at(15 * k + s)},{host},{region},{base + k}" for k in range(6)
           for s, host, region, base in ((0, "web-1", "eu", 10), (0, "web-1", "us", 30),
                                         (7, "web-2", "eu", 50), (7, "web-2", "us", 70))]
REGIONS_LINES = {f"{host} · {region}": [base + k for k in range(6)]
                 for host, region, base in (("web-1", "eu", 10), ("web-1", "us", 30),
                                            ("web-2", "eu", 50), ("web-2", "us", 70))}
# A handover: web-1 for a minute, then web-2; never at one instant, never in turn. The
# host describes stretches of time here, as a weather label does: one line (see README).
HANDOVER = [f"{at(15 * k)},web-1,{10 + k}" for k in range(4)] + \
    [f"{at(60 + 15 * k)},web-2,{50 + k}" for k in range(4)]


@pytest.mark.parametrize("header, rows, query, expected", [
    # the two repros: hosts in turn are two lines, with or without a row sent twice
    (HEADER, TURNS, "metric=cpu&agg=raw", TURNS_LINES),
    (HEADER, TURNS_DUP, "metric=cpu&agg=raw", TURNS_DUP_LINES),
    # a row sent twice, twice over (three copies in all)
    (HEADER, [*TURNS, TURNS[4], TURNS[4]], "metric=cpu&agg=raw",
     {"web-1": [10, 11, 12, 12, 12, 13, 14, 15, 16, 17], "web-2": TURNS_LINES["web-2"]}),
    # each host's row of one round sent again: two series, each repeated at its instant
    (HEADER, [*TURNS, TURNS[6], TURNS[7]], "metric=cpu&agg=raw",
     {"web-1": [10, 11, 12, 13, 13, 14, 15, 16, 17],
      "web-2": [50, 51, 52, 53, 53, 54, 55, 56, 57]}),
    # the logger's fleet: by=series is each host's line, never by=none's one per metric
    (FLEET_HEADER, FLEET_DUP, "metric=cpu&metric=mem&agg=raw",
     fleet_lines({"h2": 10, "h3": 20})),
    (FLEET_HEADER, FLEET, "metric=cpu&metric=mem&agg=raw", fleet_lines({})),
    # hosts at the same instants, both rows of one instant sent again
    (HEADER, TOGETHER + TOGETHER[4:6], "metric=cpu&agg=raw",
     {"web-1": [10, 11, 12, 12, 13, 14, 15], "web-2": [50, 51, 52, 52, 53, 54, 55]}),
    # one host: its repeated row makes no second series
    (HEADER, [*TURNS[0::2], TURNS[4]], "metric=cpu&agg=raw",
     {"cpu": [10, 11, 12, 12, 13, 14, 15, 16, 17]}),
    # hosts in turn within each region, never one zig-zagging line per region
    (REGIONS_HEADER, REGIONS, "metric=cpu&agg=raw", REGIONS_LINES),
    (REGIONS_HEADER, [*REGIONS, REGIONS[9]], "metric=cpu&agg=raw",
     {**REGIONS_LINES, "web-1 · us": [30, 31, 32, 32, 33, 34, 35]}),
    # genuinely ambiguous (a handover), with or without a repeat: one line, as before
    (HEADER, HANDOVER, "metric=cpu&agg=raw", {"cpu": [10, 11, 12, 13, 50, 51, 52, 53]}),
    (HEADER, [*HANDOVER, HANDOVER[5]], "metric=cpu&agg=raw",
     {"cpu": [10, 11, 12, 13, 50, 51, 51, 52, 53]}),
], ids=["turns", "turnsdup", "turns-row-thrice", "turns-both-repeated", "fleet-2pct-dups",
        "fleet", "together-both-repeated", "one-host-repeated", "regions-in-turn",
        "regions-in-turn-repeated", "handover",
        "handover-repeated"])
def test_a_repeated_point_never_merges_series(write_csv: Callable[[str, str], Path],
                                              client: FlaskClient, header: str,
                                              rows: list[str], query: str,
                                              expected: dict[str, list[int]]) -> None:
    write_csv("points", csv(rows, header))
    client.application.extensions["dash"].folder.scan()
    assert lines(client, "points", query) == expected


def ways(rows: list[str]) -> dict[str, list[list[str]]]:
    """Batches that bring ``rows`` in: all at once, two halves, one row at a time."""
    half = len(rows) // 2
    return {"one batch": [rows], "two batches": [rows[:half], rows[half:]],
            "row by row": [[row] for row in rows]}


@pytest.mark.parametrize("rows, expected", [(TURNS, TURNS_LINES), (TURNS_DUP, TURNS_DUP_LINES)],
                         ids=["turns", "turnsdup"])
@pytest.mark.parametrize("way", ["one batch", "two batches", "row by row"])
def test_the_same_points_make_the_same_lines_however_they_came(
        make_app: Callable[[], Flask], data_dir: Path, rows: list[str],
        expected: dict[str, list[int]], way: str) -> None:
    live = make_app().test_client()
    for batch in ways(rows)[way]:
        ingest(live, "points", batch)
        lines(live, "points")  # a page open on the chart meanwhile
    assert lines(live, "points") == expected  # ingested
    assert lines(make_app().test_client(), "points") == expected  # after a restart
    # the file written at once, read by a fresh process
    (data_dir / "copy.csv").write_text(csv(rows))
    restarted = make_app()
    assert lines(restarted.test_client(), "copy") == expected
    # the same file rewritten (a reload, another epoch) and appended to while read
    (data_dir / "copy.csv").write_text(csv(rows[:3]))
    folder = restarted.extensions["dash"].folder
    folder.scan()
    for row in rows[3:]:
        with (data_dir / "copy.csv").open("a") as handle:
            handle.write(row + "\n")
        folder.scan()
        lines(restarted.test_client(), "copy")
    assert lines(restarted.test_client(), "copy") == expected


def test_a_repeat_ingested_into_a_dataset_read_from_a_file_changes_no_line(
        make_app: Callable[[], Flask], data_dir: Path) -> None:
    (data_dir / "turns.csv").write_text(csv(TURNS))
    client = make_app().test_client()
    assert lines(client, "turns") == TURNS_LINES
    ingest(client, "turns", [TURNS[4]])
    assert lines(client, "turns") == TURNS_DUP_LINES
    assert lines(make_app().test_client(), "turns") == TURNS_DUP_LINES  # after a restart


def dataset_of(rows: list[str], header: str = HEADER) -> Any:
    """A stored dataset of ``rows``, loaded the way a CSV file is."""
    reading = read_table(pd.read_csv(io.StringIO(csv(rows, header))))
    dataset = Store().create("points", reading.schema)
    dataset.append(reading.batch)
    return dataset


@pytest.mark.parametrize("header, rows, expected", [
    (FLEET_HEADER, FLEET, ("host",)), (FLEET_HEADER, FLEET_DUP, ("host",)),
    (FLEET_HEADER, FLEET[0::4], ()),  # h1 alone
    (HEADER, TURNS_DUP, ("host",)), (HEADER, [*HANDOVER, HANDOVER[5]], ()),
], ids=["fleet", "fleet-2pct-dups", "one-host", "turnsdup", "handover-repeated"])
def test_key_labels_of_points_with_repeats(header: str, rows: list[str],
                                           expected: tuple[str, ...]) -> None:
    assert key_labels(dataset_of(rows, header).snapshot()) == expected


def test_series_keys_look_again_as_series_grow_not_on_every_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    looks: list[int] = []
    real = serieskeys.key_labels

    def counted(snap: Any) -> tuple[str, ...]:
        looks.append(snap.points)
        return real(snap)

    monkeypatch.setattr(serieskeys, "key_labels", counted)
    dataset = dataset_of(TURNS[:2])
    frame = pd.read_csv(io.StringIO(csv(TURNS)))
    keys = SeriesKeys()
    # web-1 and web-2 one point each: nothing tells them apart yet
    assert keys.labels(dataset.snapshot()) == ()
    answers = []
    for i in range(2, len(frame)):
        dataset.append(read_table(frame.iloc[i:i + 1], dataset.schema).batch)
        answers.append(keys.labels(dataset.snapshot()))
    # looked again only when the points doubled (both hosts stay short of MIN_TAIL, 16);
    # from 4 points on, two hosts in turn
    assert looks == [2, 4, 8, 16]
    assert answers == [()] + [("host",)] * (len(frame) - 3)
