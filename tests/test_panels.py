"""What a dashboard panel shows besides the chart: stat reductions, threshold colours, trend
lines, and threshold lines on the server's SVG chart. Expected values worked out by hand."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pytest

from app.data.schema import Schema
from app.data.store import Dataset, Snapshot
from app.engine import compute, panels, svg
from app.engine.view import parse_view
from tests.samples import read_table

# web-1: 1, 4, 2 (newest 2); web-2: 10, 30 (newest 30, arrived at second 1).
POINTS = [(0, "web-1", 1.0), (0, "web-2", 10.0), (1, "web-1", 4.0), (1, "web-2", 30.0),
          (2, "web-1", 2.0)]


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    frame = pd.DataFrame([{"timestamp": f"2024-05-01T00:00:0{s}Z", "cpu": v, "host": h}
                          for s, h, v in POINTS])
    schema = Schema("timestamp", "wide", ("cpu",), ("host",))
    dataset = Dataset("hosts", schema)
    dataset.append(read_table(frame, schema).batch)
    return dataset.snapshot()


def selection(snap: Snapshot, query: str) -> compute.Selection:
    view = parse_view(parse_qsl(query), snap.metrics, tuple(snap.label_values))
    return compute.select(snap, view)


@pytest.mark.parametrize("reduce, by_host, across", [
    ("last", [2.0, 30.0], 2.0),  # the newest point: web-1's at second 2
    ("mean", [7 / 3, 20.0], 47 / 5),
    ("min", [1.0, 10.0], 1.0),
    ("max", [4.0, 30.0], 30.0),
    ("sum", [7.0, 40.0], 47.0),
    ("count", [3.0, 2.0], 5.0),
])
def test_reduce_over_each_traces_raw_points(snap: Snapshot, reduce: str,
                                            by_host: list[float], across: float) -> None:
    split = panels.reduce_traces(snap, selection(snap, "by=host"), reduce)
    assert [name for name, _ in split] == ["web-1", "web-2"]
    assert [value for _, value in split] == pytest.approx(by_host)
    [(name, value)] = panels.reduce_traces(snap, selection(snap, "by=none"), reduce)
    assert name == "cpu" and value == pytest.approx(across)


@pytest.mark.parametrize("reduce, expected", [("count", 0.0), ("sum", None), ("last", None),
                                              ("max", None)])
def test_a_view_without_points_counts_zero_and_has_no_other_number(
        snap: Snapshot, reduce: str, expected: float | None) -> None:
    empty = selection(snap, "start=2030-01-01T00:00:00Z&by=none")
    assert panels.reduce_traces(snap, empty, reduce) == [("cpu", expected)]


@pytest.mark.parametrize("value, color", [
    (None, None),
    (69.9, None),
    (70.0, "orange"),  # reaching a threshold is enough
    (89.99, "orange"),
    (90.0, "red"),
    (1e9, "red"),
])
def test_a_stat_takes_the_colour_of_the_highest_threshold_it_reaches(
        value: float | None, color: str | None) -> None:
    thresholds = [(90.0, "red"), (70.0, "orange")]  # in any order
    assert panels.threshold_color(value, thresholds) == color


def test_a_sparkline_draws_one_line_through_every_value() -> None:
    line = str(panels.sparkline({"y": [0.0, 10.0, float("nan"), 5.0]}, "red"))
    points = re.search(r'points="([^"]+)"', line)
    assert points and 'stroke="red"' in line
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys == [46.0, 2.0, 24.0]  # lowest at the bottom, highest at the top, NaN skipped
    assert "polyline" not in str(panels.sparkline({"y": [1.0]}, None))


def test_the_svg_chart_draws_thresholds_at_their_value_and_reaches_them() -> None:
    figure = {"data": [{"name": "cpu", "x": np.array(["2024-05-01T00:00:00",
                                                      "2024-05-01T00:01:00"],
                                                     dtype="datetime64[ms]"),
                        "y": [10.0, 20.0]}]}
    drawn = str(svg.render(figure, "cpu", [(30.0, "red"), (15.0, "#ffa500")]))
    lines = dict(re.findall(r'class="threshold" data-value="([^"]+)" [^>]*y1="([\d.]+)"', drawn))
    # The axis runs from 10 (the lowest point) to 30 (the highest threshold): 30 is at the
    # plot's top edge, 15 a quarter of the way up from its bottom.
    top, bottom = svg.TOP, svg.HEIGHT - svg.BOTTOM
    assert float(lines["30"]) == pytest.approx(top, abs=0.05)
    assert float(lines["15"]) == pytest.approx(bottom - (bottom - top) / 4, abs=0.05)
    assert 'stroke="#ffa500"' in drawn and 'stroke="red"' in drawn


@pytest.mark.parametrize("thresholds, drawn, off", [
    # Data 10..20: a span of 10, so thresholds from -90 to 120 are drawn.
    ([(15.0, "red"), (120.0, "gold"), (-90.0, "blue")],
     [(15.0, "red"), (120.0, "gold"), (-90.0, "blue")], []),
    ([(15.0, "red"), (121.0, "gold"), (-1e308, "blue")],
     [(15.0, "red")], [(121.0, "gold"), (-1e308, "blue")]),
    ([(1e308, "red")], [], [(1e308, "red")]),
])
def test_thresholds_far_outside_the_data_are_named_not_drawn(
        thresholds: list[tuple[float, str]], drawn: list[tuple[float, str]],
        off: list[tuple[float, str]]) -> None:
    figure = {"data": [{"y": [10.0, None, 20.0]}, {"y": [12.0, float("nan")]}]}
    assert panels.split_thresholds(figure, thresholds) == (drawn, off)


@pytest.mark.parametrize("ys, thresholds, drawn", [
    ([50.0, 50.0], [(80.0, "red"), (-451.0, "blue")], [(80.0, "red")]),  # flat: 50 wide
    ([0.0], [(10.0, "red"), (11.0, "blue")], [(10.0, "red")]),  # flat at 0: 1 wide
    ([], [(10.0, "red")], []),  # no points: nothing to draw, nothing to name
])
def test_a_flat_line_reaches_by_its_own_size(ys: list[float],
                                             thresholds: list[tuple[float, str]],
                                             drawn: list[tuple[float, str]]) -> None:
    assert panels.split_thresholds({"data": [{"y": ys}]}, thresholds)[0] == drawn


def test_a_narrow_svg_chart_keeps_its_labels_the_same_size() -> None:
    figure = {"data": [{"name": f"host-{i}", "y": [10.0, 20.0],
                        "x": np.array(["2024-05-01T00:00:00", "2024-05-01T06:00:00"],
                                      dtype="datetime64[ms]")} for i in range(3)]}
    narrow = str(svg.render(figure, "cpu", [(15.0, "red")], 360, 270))
    assert 'viewBox="0 0 360 270"' in narrow
    assert 'x2="344" y1=' in narrow  # threshold and grid lines end at the right edge
    # Three legend entries, one a row (200 units apart would not fit 360), 16 apart.
    legend = re.findall(r'<rect x="(\d+)" y="(-?[\d.]+)" width="10"', narrow)
    assert [x for x, _ in legend] == ["72", "72", "72"]
    assert [float(y) for _, y in legend] == [svg.TOP + 5 + 16 * row for row in range(3)]
    # Time ticks ~110 units apart at most: 280 units wide takes 2 intervals of 3 hours.
    assert len(re.findall(r'class="x-ticks"', narrow)) == 1
    ticks = re.findall(r'text-anchor="middle">(.*?)</g>', narrow)[0]
    assert re.findall(r">(\d\d:\d\d)</text>", ticks) == ["00:00", "03:00", "06:00"]
    wide = str(svg.render(figure, "cpu", [(15.0, "red")]))
    assert 'viewBox="0 0 960 360"' in wide and 'x2="944" y1=' in wide
