"""A view's traces held as columns: the traces laid end to end, each made on first use,
and the same points whichever way they are read (the chart reads the columns)."""
from __future__ import annotations

import numpy as np
import pytest

from app.data.schema import Batch, Schema
from app.data.store import Dataset, Snapshot
from app.engine.compute import Lines, Result, Trace, run
from app.engine.view import View

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
START = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z
SCHEMA = Schema("timestamp", "long", (), ("host",))


def snapshot() -> Snapshot:
    """cpu of host b at minutes 0, 1, 2 (values 1, 2, 3) and of host a at minute 1 (10);
    mem of host a at minute 0 (7)."""
    dataset = Dataset("t", SCHEMA)
    dataset.append(Batch(
        np.array([0, 1, 2, 1, 0], np.int64) * MINUTE + START,
        np.array(["cpu", "cpu", "cpu", "cpu", "mem"], dtype=object),
        np.array([1.0, 2.0, 3.0, 10.0, 7.0]),
        {"host": np.array(["b", "b", "b", "a", "a"], dtype=object)}))
    return dataset.snapshot()


M0, M1, M2 = START, START + MINUTE, START + 2 * MINUTE


@pytest.mark.parametrize("view, keep, expected, truncated", [
    # One trace per series, by name: a (minute 1), then b (minutes 0-2).
    (View(metrics=("cpu",), agg="sum", bucket="1m", by="series"), 50000,
     [("a", [M1], [10.0]), ("b", [M0, M1, M2], [1.0, 2.0, 3.0])], False),
    # Each trace cut to its newest 2 buckets: the columns hold only those, no gap.
    (View(metrics=("cpu",), agg="sum", bucket="1m", by="series"), 2,
     [("a", [M1], [10.0]), ("b", [M1, M2], [2.0, 3.0])], True),
    # Split by a label over two metrics: mem's traces after cpu's, the host's values in
    # the order first stored (b, a); mem of b has no points: an empty trace, no gap.
    (View(metrics=("cpu", "mem"), agg="max", bucket="1m", by="host"), 50000,
     [("cpu · b", [M0, M1, M2], [1.0, 2.0, 3.0]), ("cpu · a", [M1], [10.0]),
      ("mem · b", [], []), ("mem · a", [M0], [7.0])], False),
    # Raw points: traces made one by one, laid end to end on demand.
    (View(metrics=("cpu",), agg="raw", by="none"), 50000,
     [("cpu", [M0, M1, M1, M2], [1.0, 2.0, 10.0, 3.0])], False),
])
def test_columns_are_the_traces_end_to_end(view: View, keep: int,
                                           expected: list[tuple[str, list[int], list[float]]],
                                           truncated: bool) -> None:
    result = run(snapshot(), view, raw_max_points=keep)
    assert result.truncated is truncated
    names, x, y, starts, ends = result.columns()
    assert names == tuple(name for name, _, _ in expected)
    assert x.tolist() == [t for _, times, _ in expected for t in times]
    assert y.tolist() == [v for _, _, values in expected for v in values]
    lengths = [len(times) for _, times, _ in expected]
    assert ends.tolist() == np.cumsum(lengths).tolist()
    assert starts.tolist() == (np.cumsum(lengths) - lengths).tolist()
    assert [(t.name, t.x.tolist(), t.y.tolist()) for t in result.traces] == expected


def test_lines_make_their_traces_once_and_act_as_a_sequence() -> None:
    result = run(snapshot(), View(metrics=("cpu",), agg="mean", bucket="1m", by="series"))
    lines = result.traces
    assert isinstance(lines, Lines)
    assert len(lines) == 2
    first = lines[0]
    assert isinstance(first, Trace)
    assert (first.name, first.x.tolist(), first.y.tolist()) == ("a", [M1], [10.0])
    assert lines[0] is first  # made once, kept
    assert [t.name for t in lines[-1:]] == ["b"]
    assert [t.name for t in lines] == ["a", "b"]


def test_columns_of_traces_given_one_by_one() -> None:
    traces = (Trace("a", np.array([M0, M1]), np.array([1.0, 2.0])),
              Trace("b", np.empty(0, np.int64), np.empty(0)),
              Trace("c", np.array([M2]), np.array([5.0])))
    names, x, y, starts, ends = Result(traces, "mean", MINUTE, False).columns()
    assert names == ("a", "b", "c")
    assert x.tolist() == [M0, M1, M2] and y.tolist() == [1.0, 2.0, 5.0]
    assert starts.tolist() == [0, 2, 2] and ends.tolist() == [2, 2, 3]
