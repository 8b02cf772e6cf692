"""The columnar store: sorted appends, stable label codes, immutable snapshots, retention."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from app.data.schema import Batch, Schema
from app.data.store import CHANGES_KEPT, MIN_CAPACITY, Categories, Dataset, Snapshot, Store

SCHEMA = Schema("timestamp", "wide", ("cpu", "mem"), ("host",))


def points(ts: list[int], values: list[float] | None = None, hosts: list[str | None] | None = None,
           metric: str = "cpu") -> Batch:
    """A batch of ``metric`` points at ``ts`` (plain integers stand in for ns)."""
    values = [float(t) for t in ts] if values is None else values
    hosts = ["web-1"] * len(ts) if hosts is None else hosts
    return Batch(np.array(ts, dtype=np.int64), np.array([metric] * len(ts), dtype=object),
                 np.array(values, dtype=np.float64), {"host": np.array(hosts, dtype=object)})


def hosts_of(snap: Snapshot) -> list[str | None]:
    """The host label of each point, decoded as a user sees it."""
    return [snap.label_values["host"][c] if c >= 0 else None
            for c in snap.merged().labels["host"]]


@pytest.mark.parametrize("batches, expected_ts", [
    ([[10, 20, 30]], [10, 20, 30]),
    ([[30, 10, 20]], [10, 20, 30]),
    ([[10, 20, 30], [40, 50]], [10, 20, 30, 40, 50]),
    ([[10, 20, 30], [15, 5, 25]], [5, 10, 15, 20, 25, 30]),
    ([[10, 20, 30], [1, 2]], [1, 2, 10, 20, 30]),
    ([[10, 20, 30], [25, 35]], [10, 20, 25, 30, 35]),
    ([[50], [40], [30], [20], [10]], [10, 20, 30, 40, 50]),
    ([[10, 20], [], [15]], [10, 15, 20]),
])
def test_append_keeps_time_order(batches: list[list[int]], expected_ts: list[int]) -> None:
    dataset = Dataset("d", SCHEMA)
    for ts in batches:
        dataset.append(points(ts))
    snap = dataset.snapshot()
    assert snap.merged().ts.tolist() == expected_ts
    # values travel with times
    assert snap.merged().value.tolist() == [float(t) for t in expected_ts]
    assert (dataset.start, dataset.end) == (expected_ts[0], expected_ts[-1])


def test_late_points_keep_their_labels_and_arrive_after_equal_times() -> None:
    dataset = Dataset("d", SCHEMA)
    dataset.append(points([10, 20, 30], [1, 2, 3], ["a", "b", "c"]))
    dataset.append(points([20, 5], [4, 5], ["d", None]))
    snap = dataset.snapshot()
    assert snap.merged().ts.tolist() == [5, 10, 20, 20, 30]
    assert snap.merged().value.tolist() == [5, 1, 2, 4, 3]
    assert hosts_of(snap) == [None, "a", "b", "d", "c"]


def test_label_and_metric_codes_are_stable_across_appends() -> None:
    dataset = Dataset("d", SCHEMA)
    dataset.append(points([1, 2], hosts=["web-2", "web-1"]))
    first = dataset.snapshot()
    dataset.append(points([0, 3, 4], hosts=["web-3", "web-1", "web-2"], metric="mem"))
    second = dataset.snapshot()
    assert second.label_values["host"] == ("web-2", "web-1", "web-3")
    assert second.metrics == ("cpu", "mem")  # the schema's metrics come first, in order
    assert second.merged().labels["host"].tolist() == [2, 0, 1, 1, 0]
    assert second.merged().metric.tolist() == [1, 0, 0, 1, 1]
    # Codes an older snapshot holds still mean the same values in the newer one.
    assert [second.label_values["host"][c]
            for c in first.merged().labels["host"]] == ["web-2", "web-1"]


def test_a_batch_without_a_label_column_leaves_that_label_missing() -> None:
    dataset = Dataset("d", SCHEMA)
    dataset.append(Batch(np.array([1], np.int64), np.array(["cpu"], object), np.array([1.0])))
    assert hosts_of(dataset.snapshot()) == [None]


def _in_order_small(dataset: Dataset) -> None:
    dataset.append(points([400, 500], hosts=["web-9", "web-9"]))


def _in_order_grows(dataset: Dataset) -> None:
    dataset.append(points(list(range(1000, 1000 + 2 * MIN_CAPACITY)), hosts=["web-9"] * 2048))


def _out_of_order(dataset: Dataset) -> None:
    dataset.append(points([150, 0], [-1.0, -2.0], ["web-9", "web-9"]))


def _retention(dataset: Dataset) -> None:
    dataset.retention = 2
    dataset.append(points([400, 500, 600]))


@pytest.mark.parametrize("change", [_in_order_small, _in_order_grows, _out_of_order, _retention])
def test_snapshots_do_not_change_after_later_appends(change: Callable[[Dataset], None]) -> None:
    dataset = Dataset("d", SCHEMA)
    dataset.append(points([100, 200, 300], [1.0, 2.0, 3.0], ["web-1", "web-2", None]))
    snap = dataset.snapshot()
    old = snap.merged()
    before = (snap.version, old.ts.tolist(), old.value.tolist(), old.metric.tolist(),
              hosts_of(snap), snap.label_values)
    change(dataset)
    dataset.append(points([10_000], [9.0], ["web-1"]))  # and another write on the new buffers
    assert dataset.snapshot().version == snap.version + 2
    new = snap.merged()
    after = (snap.version, new.ts.tolist(), new.value.tolist(), new.metric.tolist(),
             hosts_of(snap), snap.label_values)
    assert after == before == (1, [100, 200, 300], [1.0, 2.0, 3.0], [0, 0, 0],
                               ["web-1", "web-2", None], {"host": ("web-1", "web-2")})


def test_version_grows_by_one_per_append() -> None:
    store = Store()
    dataset = store.create("d", SCHEMA)
    seen: list[str] = []
    store.subscribe(seen.append)
    assert dataset.version == 0
    versions = [store.append("d", points([1])), store.append("d", points([0])),
                store.append("d", points([]))]
    assert versions == [1, 2, 3]
    assert dataset.snapshot().version == 3
    assert seen == ["d", "d", "d"]


def test_a_new_dataset_of_the_same_name_has_a_new_epoch() -> None:
    store = Store()
    first = store.create("d", SCHEMA)
    second = store.create("d", SCHEMA)
    assert store.get("d") is second
    assert first.epoch != second.epoch


@pytest.mark.parametrize("retention, batches, expected_ts", [
    (0, [list(range(300))], list(range(300))),  # 0 keeps everything
    (100, [list(range(200))], list(range(100, 200))),
    (100, [list(range(125))], list(range(125))),  # trimmed only once 25% over the limit
    (100, [list(range(120)), list(range(120, 130))], list(range(30, 130))),
    (100, [list(range(100, 220)), [0, 1, 2, 3, 4, 5, 6]], list(range(120, 220))),
    (100, [list(range(100, 200)), list(range(90))], list(range(100, 200))),  # late and too old
])
def test_retention_keeps_the_newest_points(retention: int, batches: list[list[int]],
                                           expected_ts: list[int]) -> None:
    dataset = Store(retention=retention).create("d", SCHEMA)
    for ts in batches:
        dataset.append(points(ts))
    snap = dataset.snapshot()
    assert snap.merged().ts.tolist() == expected_ts
    assert snap.merged().value.tolist() == [float(t) for t in expected_ts]
    assert not retention or len(snap) <= retention * 1.25


@pytest.mark.parametrize("known, values, codes, after", [
    ([], ["a", "b", "a"], [0, 1, 0], ["a", "b"]),
    ([], [None, "a", None], [-1, 0, -1], ["a"]),
    ([], [None], [-1], []),
    ([], [], [], []),
    ([], ["None", None], [0, -1], ["None"]),  # the text "None" is a value, None is missing
    (["x"], ["y", "x", None, "y"], [1, 0, -1, 1], ["x", "y"]),
    (["b", "a"], ["a", "b"], [1, 0], ["b", "a"]),
])
def test_categories_encode(known: list[str], values: list[str | None], codes: list[int],
                           after: list[str]) -> None:
    categories = Categories(known)
    encoded = categories.encode(np.array(values, dtype=object))
    assert encoded.tolist() == codes
    assert categories.values == after


def test_single_point_appends_equal_one_batch_append() -> None:
    """The one-point fast path (in order, within capacity) and the general path agree."""
    from app.data.schema import Batch as B

    schema = Schema("timestamp", "wide", ("cpu",), ("host", "zone"))
    rng = np.random.default_rng(5)
    ts = np.sort(rng.integers(0, 10**12, 3000)).astype(np.int64)
    ts[1500] = ts[10]  # one late point goes down the general path
    hosts = np.array([None if i % 17 == 0 else f"h{i % 7}" for i in range(3000)], object)
    values = rng.normal(size=3000)
    one_by_one, batched = Dataset("a", schema), Dataset("b", schema)
    for i in range(3000):  # capacity grows past 1024 and 2048 on the way
        one_by_one.append(B(ts[i:i + 1], np.array(["cpu"], object), values[i:i + 1],
                            {"host": hosts[i:i + 1]}))  # "zone" missing: code -1
    batched.append(B(ts, np.array(["cpu"] * 3000, object), values, {"host": hosts}))
    a, b = one_by_one.snapshot().merged(), batched.snapshot().merged()
    assert np.array_equal(a.ts, b.ts) and np.array_equal(a.value, b.value)
    names = one_by_one.snapshot().label_values["host"]
    assert names == batched.snapshot().label_values["host"]
    def decode(points: Any) -> list[str | None]:
        return [names[c] if c >= 0 else None for c in points.labels["host"]]

    assert decode(a) == decode(b)
    assert set(a.labels["zone"].tolist()) == {-1}
    assert one_by_one.version == 3000


@pytest.mark.parametrize("shown, first_missed", [
    (0, 1),  # shows nothing yet: the first version is the first it missed
    (1, 2),
    (2, 3),  # version 3 is a touch (a reload that found nothing new): a change all the same
    (3, None),  # shows the newest
])
def test_first_change_after_a_version_is_when_the_next_one_came(shown: int,
                                                                first_missed: int | None) -> None:
    dataset = Dataset("d", SCHEMA)
    at = {}
    for ts in (10, 20):
        version = dataset.append(points([ts]))
        at[version] = dataset.updated_at
    version = dataset.touch()
    at[version] = dataset.updated_at
    assert sorted(at) == [1, 2, 3]
    expected = None if first_missed is None else at[first_missed]
    assert dataset.first_change_after(shown) == expected


def test_first_change_after_a_version_older_than_the_history_is_the_oldest_kept() -> None:
    dataset = Dataset("d", SCHEMA)
    at = {}
    for ts in range(CHANGES_KEPT + 6):  # versions 1 … KEPT + 6; the first 6 forgotten
        version = dataset.append(points([ts]))
        at[version] = dataset.updated_at
    assert dataset.first_change_after(0) == at[7]  # understated, never overstated
    assert dataset.first_change_after(9) == at[10]
