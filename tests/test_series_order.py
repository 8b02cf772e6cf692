"""The order of ``by=series`` traces, read from the dataset's sorted series: trace names in
Python's string order (ties by series id), metrics in the view's order, as the engine
sorted the names per query before."""
from __future__ import annotations

import numpy as np
import pytest

from app.data.schema import Batch, Schema
from app.data.store import Dataset, Snapshot
from app.engine.compute import run
from app.engine.view import View

SECOND = 1_000_000_000
START = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z
SCHEMA = Schema("timestamp", "long", (), ("host", "region"))
# A series: (metric, host, region); None = the label is missing.
Series = tuple[str, str | None, str | None]


def append(dataset: Dataset, series: list[Series]) -> None:
    """One point per series, in list order (so series ids follow it); point i has value i."""
    dataset.append(Batch(
        START + np.arange(len(series), dtype=np.int64) * SECOND,
        np.array([m for m, _, _ in series], dtype=object),
        np.arange(len(series), dtype=np.float64),
        {"host": np.array([h for _, h, _ in series], dtype=object),
         "region": np.array([r for _, _, r in series], dtype=object)}))


def traces(snap: Snapshot, metrics: tuple[str, ...]) -> list[tuple[str, list[float]]]:
    """(name, values) of each trace of the view split by series, in the order shown."""
    result = run(snap, View(metrics=metrics, agg="sum", bucket="1d", by="series"))
    return [(t.name, t.y.tolist()) for t in result.traces]


@pytest.mark.parametrize("series, metrics, expected", [
    # One metric: a series without labels is named by its metric and sorted by that name;
    # upper case before lower case, accented letters after ASCII (code point order).
    ([("cpu", "b", None), ("cpu", "a", None), ("cpu", None, None), ("cpu", "B", None),
      ("cpu", "é", None), ("cpu", "a", "eu")], ("cpu",),
     [("B", [3.0]), ("a", [1.0]), ("a · eu", [5.0]), ("b", [0.0]), ("cpu", [2.0]),
      ("é", [4.0])]),
    # Several metrics: in the view's order (mem first); within each, the bare metric
    # first, then "metric · labels" by their labels.
    ([("cpu", "b", None), ("cpu", None, None), ("mem", "a", None), ("mem", None, None),
      ("cpu", "a", "eu"), ("mem", "Z", None)], ("mem", "cpu"),
     [("mem", [3.0]), ("mem · Z", [5.0]), ("mem · a", [2.0]), ("cpu", [1.0]),
      ("cpu · a · eu", [4.0]), ("cpu · b", [0.0])]),
    # Equal names (host=x and region=x; no labels beside a host named like the metric):
    # the series stored first comes first.
    ([("cpu", None, "x"), ("cpu", "cpu", None), ("cpu", "x", None), ("cpu", None, None)],
     ("cpu",),
     [("cpu", [1.0]), ("cpu", [3.0]), ("x", [0.0]), ("x", [2.0])]),
    # Series of a metric not in the view are left out of the order.
    ([("mem", "0", None), ("cpu", "b", None), ("cpu", "a", None)], ("cpu",),
     [("a", [2.0]), ("b", [1.0])]),
])
def test_series_traces_are_in_name_order(series: list[Series], metrics: tuple[str, ...],
                                         expected: list[tuple[str, list[float]]]) -> None:
    dataset = Dataset("t", SCHEMA)
    append(dataset, series)
    assert traces(dataset.snapshot(), metrics) == expected


def test_a_new_series_takes_its_place_in_the_order() -> None:
    dataset = Dataset("t", SCHEMA)
    append(dataset, [("cpu", "b", None), ("cpu", "d", None)])
    assert [name for name, _ in traces(dataset.snapshot(), ("cpu",))] == ["b", "d"]
    append(dataset, [("cpu", "c", None), ("cpu", "b", None), ("cpu", "A", None)])
    assert traces(dataset.snapshot(), ("cpu",)) == [("A", [2.0]), ("b", [1.0]),
                                                    ("c", [0.0]), ("d", [1.0])]


@pytest.mark.parametrize("metrics", [("cpu",), ("cpu", "mem"), ("mem", "cpu")])
def test_order_matches_sorting_the_names(metrics: tuple[str, ...]) -> None:
    """Against the rule itself on many mixed names (case, accents, other scripts, repeats):
    names sorted, equal ones by series id, then stably by the metric's place in the view."""
    rng = np.random.default_rng(7)
    letters = ["a", "A", "b", "é", "É", "z", "Z", "0", " ", "·", "ß", "日"]
    series: list[Series] = [
        (str(rng.choice(["cpu", "mem"])),
         "".join(rng.choice(letters, rng.integers(1, 4))) if rng.random() > 0.1 else None,
         str(rng.choice(["eu", "us", "EU"])) if rng.random() > 0.5 else None)
        for _ in range(400)]
    dataset = Dataset("t", SCHEMA)
    append(dataset, series)
    totals: dict[Series, float] = {}  # distinct series in order of first point, as stored
    for i, one in enumerate(series):
        totals[one] = totals.get(one, 0.0) + i

    def name(one: Series) -> str:
        m, host, region = one
        text = " · ".join(v for v in (host, region) if v is not None)
        return (f"{m} · {text}" if text else m) if len(metrics) > 1 else text or m

    shown = sorted((one for one in totals if one[0] in metrics), key=name)
    shown.sort(key=lambda one: metrics.index(one[0]))
    assert traces(dataset.snapshot(), metrics) == [(name(one), [totals[one]]) for one in shown]
