"""Percentiles of buckets that a ranked tier tiles (3m of minutes, 15m of 5-minute
buckets, 2h and 24h of hours), read from the tier's sorted runs: equal to numpy's linear
quantile of each cell's raw points, whatever cuts the cells (the window, the open bucket,
gaps, late points, retention), and the same whichever way (windows or brackets) a cell is
answered."""
from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
import pytest

from app.data.schema import Batch, Schema
from app.data.store import Dataset, Snapshot
from app.engine.cells import bucket_range, cells_of, trace_cells
from app.engine.compute import run
from app.engine.percentiles import (
    PERCENTILES,
    _tiled,
    _windowed,
    count_below,
    record_tier,
    tier_runs,
)
from app.engine.selection import select
from app.engine.view import View

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
START = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z
SCHEMA = Schema("timestamp", "long", (), ("host", "region"))
REGION = {"a": "eu", "b": "eu", "c": "us"}
PCTS = ("p50", "p90", "p95", "p99")


def points(ts: np.ndarray, host: str, value: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"ts": np.asarray(ts, np.int64), "host": host,
                         "value": np.asarray(value, np.float64)})


def load(frame: pd.DataFrame, chunks: int = 1, retention: int = 0,
         max_age: int = 0) -> Snapshot:
    """A dataset fed ``frame`` in ``chunks`` batches in the frame's row order."""
    dataset = Dataset("t", SCHEMA, retention=retention, max_age_ns=max_age)
    for part in np.array_split(np.arange(len(frame)), chunks):
        rows = frame.iloc[np.sort(part)] if chunks > 1 else frame.iloc[part]
        hosts = rows.host.to_numpy(dtype=object)
        dataset.append(Batch(rows.ts.to_numpy(), np.full(len(rows), "cpu", dtype=object),
                             rows.value.to_numpy(),
                             {"host": hosts,
                              "region": np.array([REGION[h] for h in hosts], dtype=object)}))
    return dataset.snapshot()


def steady(hours: float, every: int = 2, seed: int = 1, hosts: str = "abc") -> pd.DataFrame:
    """Hosts with a point every ``every`` s (jittered by a second), values with ties."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 / every)
    frames = []
    for host in hosts:
        ts = START + (np.arange(n) * every + rng.integers(0, 2, n)) * SECOND
        frames.append(points(np.sort(ts), host, rng.normal(50, 10, n).round(1)))
    return pd.concat(frames, ignore_index=True)


def with_gap(frame: pd.DataFrame) -> pd.DataFrame:
    """Host a misses minute 7 (inside the 5m bucket 5..10) and minutes 31..47."""
    minute = (frame.ts - START) // MINUTE
    missing = (frame.host == "a") & ((minute == 7) | ((minute >= 31) & (minute <= 47)))
    return frame[~missing].reset_index(drop=True)


def one_a_minute(frame: pd.DataFrame) -> pd.DataFrame:
    """Host b keeps one point a minute in its second hour: sub-buckets of one value."""
    minute = (frame.ts - START) // MINUTE
    second = (frame.ts - START) // SECOND % 60
    thin = (frame.host == "b") & (minute >= 60) & (minute < 120) & (second > 1)
    return frame[~thin].reset_index(drop=True)


def all_equal(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(value=7.25)


def few_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Values 0..5 only: every rank sought sits among many equal values."""
    return frame.assign(value=(frame.value // 4 % 6).astype(np.float64))


def expected(frame: pd.DataFrame, view: View, newest: int) -> dict[str, dict[int, float]]:
    """Trace -> {bucket start: numpy's linear quantile of the cell's raw values}, worked
    out cell by cell from the points."""
    lo, hi = view.time_range(newest)
    rows = frame[(frame.ts >= (lo if lo is not None else frame.ts.min()))
                 & (frame.ts <= (hi if hi is not None else frame.ts.max()))]
    width = view.bucket_ns
    assert width is not None
    q = PERCENTILES[view.agg]
    if view.by == "series":
        names = rows.host + " · " + rows.host.map(REGION)
    elif view.by in ("host", "region"):
        names = rows.host if view.by == "host" else rows.host.map(REGION)
    else:
        names = pd.Series("cpu", index=rows.index)
    out: dict[str, dict[int, float]] = {}
    for key, cell in rows.groupby([names, rows.ts // width * width]):
        name, start = cast(tuple[str, int], key)
        out.setdefault(str(name), {})[int(start)] = float(
            np.quantile(cell.value.to_numpy(), q, method="linear"))
    return out


def answered(snap: Snapshot, view: View) -> dict[str, dict[int, float]]:
    return {t.name: dict(zip(t.x.tolist(), t.y.tolist(), strict=True))
            for t in run(snap, view).traces if len(t.x)}


def assert_numpy(snap: Snapshot, frame: pd.DataFrame, view: View) -> None:
    got = answered(snap, view)
    want = expected(frame, view, int(frame.ts.max()))
    assert sorted(got) == sorted(want)
    for trace, cells in want.items():
        assert list(got[trace]) == list(cells), trace
        np.testing.assert_allclose(list(got[trace].values()), list(cells.values()),
                                   rtol=0, atol=0, err_msg=f"{trace} {view.query}")


FRAMES = {
    "steady": steady(2.5),
    "gap in a 5m cell": with_gap(steady(2.5)),
    "one point a minute": one_a_minute(steady(2.5)),
    "all equal": all_equal(steady(1.5)),
    "few distinct values": few_values(steady(1.5)),
}
SNAPS = {name: load(frame) for name, frame in FRAMES.items()}


@pytest.mark.parametrize("agg", PCTS)
@pytest.mark.parametrize("by", ["series", "region", "none"])
@pytest.mark.parametrize("bucket", ["3m", "5m", "15m", "2h", "90s"])
@pytest.mark.parametrize("data", list(FRAMES))
def test_tiled_buckets_equal_numpy(data: str, bucket: str, by: str, agg: str) -> None:
    """3m (of minutes), 5m (a tier itself), 15m (of 5-minute buckets), 2h (of hours), and
    90s (no tier tiles it: the raw path)."""
    assert_numpy(SNAPS[data], FRAMES[data], View(metrics=("cpu",), agg=agg, bucket=bucket,
                                                 by=by))


@pytest.mark.parametrize("agg", PCTS)
@pytest.mark.parametrize("start, end", [
    (START + 7 * MINUTE + 31 * SECOND, None),  # cuts a minute inside a 3m cell
    (START + 22 * MINUTE, START + 97 * MINUTE + 13 * SECOND),  # ends inside a minute
    (START + 2 * HOUR + 29 * MINUTE + 40 * SECOND, None),  # only the open minute and one
])
@pytest.mark.parametrize("bucket", ["3m", "15m", "2h"])
def test_cells_cut_by_the_window_equal_numpy(start: int, end: int | None, bucket: str,
                                             agg: str) -> None:
    frame = FRAMES["steady"]
    assert_numpy(SNAPS["steady"], frame, View(metrics=("cpu",), start=start, end=end,
                                              agg=agg, bucket=bucket, by="none"))


DAYS = steady(50, every=3, hosts="ab")
DAYS_SNAP = load(DAYS)


@pytest.mark.parametrize("agg", PCTS)
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("by", ["series", "none"])
def test_days_of_hours_equal_numpy_in_any_zone(tz: str, by: str, agg: str) -> None:
    """24h buckets of hour runs, the last day holding the open hour. Buckets are UTC days
    whatever ``tz`` (it only changes how times are written), so +05:30 changes nothing."""
    view = View(metrics=("cpu",), agg=agg, bucket="24h", by=by, tz=tz)
    assert_numpy(DAYS_SNAP, DAYS, view)
    assert all(x % (24 * HOUR) == 0 for t in run(DAYS_SNAP, view).traces for x in t.x.tolist())


LATE = steady(3, seed=5)
KEEPS = {"late batches": (0, 0), "2,000 points kept": (2000, 0),
         "100 minutes kept": (0, 100 * MINUTE)}


def kept_frame(snap: Snapshot) -> pd.DataFrame:
    held = snap.merged()
    return pd.DataFrame({"ts": held.ts, "value": held.value,
                         "host": [snap.label_values["host"][c] for c in held.labels["host"]]})


@pytest.mark.parametrize("agg", PCTS)
@pytest.mark.parametrize("bucket", ["3m", "15m", "2h"])
@pytest.mark.parametrize("keep", list(KEEPS))
def test_after_late_points_and_retention_equal_numpy(keep: str, bucket: str,
                                                     agg: str) -> None:
    """Fed in shuffled batches (every one late), with and without retention: the ranked
    runs and records are rebuilt, and the answers still equal the points kept."""
    points_kept, age = KEEPS[keep]
    shuffled = LATE.sample(frac=1.0, random_state=3).reset_index(drop=True)
    snap = load(shuffled, chunks=9, retention=points_kept, max_age=age)
    frame = kept_frame(snap)
    assert len(frame) == (len(LATE) if keep == "late batches" else len(frame))
    for by in ("series", "none"):
        assert_numpy(snap, frame, View(metrics=("cpu",), agg=agg, bucket=bucket, by=by))


@pytest.mark.parametrize("agg", PCTS)
@pytest.mark.parametrize("bucket, by", [("3m", "series"), ("15m", "none"), ("2h", "region")])
@pytest.mark.parametrize("data", list(FRAMES))
def test_windows_and_brackets_each_equal_numpy(data: str, bucket: str, by: str,
                                               agg: str) -> None:
    """Both ways of answering from sorted runs, each forced on every cell it can take:
    the windows (cells of whole runs only) and the brackets (loose pieces too)."""
    snap, frame = SNAPS[data], FRAMES[data]
    view = View(metrics=("cpu",), agg=agg, bucket=bucket, by=by)
    width = view.bucket_ns
    assert width is not None
    sel = select(snap, view)
    cells = cells_of(snap, sel, width)
    merged = trace_cells(sel, sel.group[cells.member], cells.bucket, cells.counts,
                         bucket_range(snap, sel, width))
    n = len(merged.group)
    tier = record_tier(width)
    assert tier is not None
    runs = tier_runs(snap, sel.series, cells.member, cells.start, cells.stop, cells.bucket,
                     merged.owner, n, width, tier)
    assert runs is not None and runs.usable.any()
    want = expected(frame, view, int(frame.ts.max()))
    flat = np.array([want[sel.names[g]][int(b) * width]
                     for g, b in zip(merged.group.tolist(), merged.bucket.tolist(),
                                     strict=True)])
    q = PERCENTILES[agg]
    ranked = snap.ranked[tier]
    only_runs = runs.usable & (np.bincount(runs.loose_owner, minlength=n) == 0)
    use = only_runs[runs.owner]
    out = np.full(n, np.nan)
    done = _windowed(ranked, runs.owner[use], runs.start[use], runs.length[use], n, q, out)
    assert done.any() or not only_runs.any()  # 1.5 hours in 2h cells: all hold the open hour
    np.testing.assert_allclose(out[done], flat[done], rtol=1e-12, atol=0)
    out = np.full(n, np.nan)
    done = _tiled(ranked, snap.value, runs, n, q, out, np.ones(n, dtype=bool))
    assert done.any()
    np.testing.assert_allclose(out[done], flat[done], rtol=1e-12, atol=0)


# Runs of one array: [0, 1, 2, ..., 19] (20 values) and [5, 5, 5, 7, 9] (5 values).
COUNT_ARRAY = np.array([*range(20), 5, 5, 5, 7, 9], dtype=np.float64)


@pytest.mark.parametrize(("start", "length", "x", "near", "reach", "expected"), [
    (0, 20, 10.0, 10, 2, 10),  # the count at the hint
    (0, 20, 10.5, 9, 2, 11),  # inside the searched places, after the hint
    (0, 20, 3.0, 15, 2, 3),  # all searched values above x: searched again whole
    (0, 20, 18.0, 4, 2, 18),  # all searched values below x: searched again whole
    (0, 20, -1.0, 1, 1, 0),  # none below, the searched places start the run
    (0, 20, 99.0, 19, 3, 20),  # all below, the searched places end the run
    (20, 5, 5.0, 0, 1, 0),  # ties are not below
    (20, 5, 5.5, 4, 1, 3),  # past the ties, hint at the run's end
    (20, 5, 8.0, 2, 0, 4),  # reach 0: one place searched, then the whole run
    (20, 5, 7.0, 2, 7, 3),  # reach longer than the run
])
def test_count_below_near_a_hint(start: int, length: int, x: float, near: int, reach: int,
                                 expected: int) -> None:
    """The count of values below x in a sorted run is exact wherever the hint points."""
    got = count_below(COUNT_ARRAY, np.array([start]), np.array([length]), np.array([x]),
                      near=np.array([near]), reach=reach)
    assert got.tolist() == [expected]
    whole = count_below(COUNT_ARRAY, np.array([start]), np.array([length]), np.array([x]))
    assert whole.tolist() == [expected]


@pytest.mark.parametrize("reach", [0, 1, 3, 7])
def test_count_below_many_runs_match_by_hand(reach: int) -> None:
    """Both runs at once, hints anywhere: counts below 5.0 are 5 and 0, below 9.5 are 10
    and 5."""
    starts, lengths = np.array([0, 20, 0, 20]), np.array([20, 5, 20, 5])
    x = np.array([5.0, 5.0, 9.5, 9.5])
    got = count_below(COUNT_ARRAY, starts, lengths, x, near=np.array([19, 4, 0, 0]),
                      reach=reach)
    assert got.tolist() == [5, 0, 10, 5]


@pytest.mark.parametrize("values, agg, want", [
    # 0.99 of 10 values: rank 8.91, between 30.62 and 85.9. From 30.62 up by 0.91 of the
    # step rounds to 80.9248; numpy (and pandas' Series.quantile) go down from 85.9 by
    # 0.09 of it when the fraction is at least a half: 80.92480000000002.
    ([1, 2, 3, 4, 5, 6, 7, 8, 30.62, 85.9], "p99", 80.92480000000002),
    ([1, 2, 3, 4, 5, 6, 7, 8, 30.62, 85.9], "p50", 5.5),
    # rank 3.8: 91.0 - 33.2 x 0.2 is 84.36; 57.8 + 33.2 x 0.8 rounds to 84.35999999999999
    ([16.7, 39.6, 56.1, 57.8, 91.0], "p95", 84.36),
])
def test_percentiles_round_as_numpy_does(values: list[float], agg: str, want: float) -> None:
    """Within one 5m bucket of one host, read from its ranked run: the same double as
    ``np.quantile``, worked out by hand above, not one ulp off."""
    ts = START + np.arange(len(values) + 1) * 7 * SECOND
    ts[-1] = START + 10 * MINUTE  # a point of the next bucket closes (ranks) the first
    frame = points(ts, "a", np.array([*values[::-1], 0.0]))  # unsorted on arrival
    assert float(np.quantile(np.array(values), PERCENTILES[agg])) == want
    for snap in (load(frame), load(frame.iloc[:-1])):  # ranked, and the open bucket
        trace, = run(snap, View(metrics=("cpu",), agg=agg, bucket="5m", by="none")).traces
        assert trace.y.tolist()[0] == want
