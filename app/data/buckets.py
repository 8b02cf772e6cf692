"""Each series' closed buckets of one ranked tier, kept on append: where each bucket's
points start in the series, its bucket number and the sum of its values.

A view bucketed by a tier's width (or a multiple of it) over a long history reads these
records instead of finding every bucket edge among the points and summing every value:
``window=all&bucket=1m&by=series`` over 10M points (6.7M selected, 111,000 cells) reads
111,000 records, not 6.7M times and values.

Records are kept only for series whose closed buckets hold ``RECORD_POINTS`` points or
more on average: there they cost at most 24 B per ``RECORD_POINTS`` points (a point a
second: 0.4 B a point for minutes). A sparse series (a point a minute has one a minute
bucket) stops keeping them when it falls below, and its views read its points as
before: records would cost as much as the points and save nothing. It keeps them again
(``SeriesColumns`` records its closed buckets afresh) once its points are twice as dense
as needed over its whole span: a file loaded out of order looks sparse at first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .runs import put_runs, run_index, search_runs

RECORD_POINTS = 16  # points per closed bucket, on average, for a series to keep records
RECORD_SLACK = 2  # buckets it may have beyond that (its first is often cut short)
# Points per bucket of its span for a series that dropped its records to record again:
# twice the bar to keep them, so a series near it does not record everything anew again
# and again (each time costs all its points; each needs 16 points a bucket more first).
RECORD_AGAIN = 2 * RECORD_POINTS
MIN_RECORD_ROOM = 4
RECORD_GROWTH = 1.5


@dataclass(frozen=True)
class Records:
    """One tier's bucket records as a snapshot sees them (arrays shared, never rewritten
    where a snapshot reads): series ``i`` keeps ``count[i]`` records at
    ``offset/bucket/total[start[i]:start[i] + count[i]]``, in time order, when ``kept[i]``;
    together they cover exactly its first ``series_ranked[tier, i]`` points."""

    kept: np.ndarray  # bool per series: its records are complete
    start: np.ndarray  # int64 per series
    count: np.ndarray  # int64 per series
    offset: np.ndarray  # int64 per record: its bucket's first point, from the series' start
    bucket: np.ndarray  # int64 per record: its bucket number (time // tier width)
    total: np.ndarray  # float64 per record: the sum of its bucket's values


class BucketRecords:
    """The records of one tier for every series, in regions of shared columns that grow
    as ``SeriesColumns``' do: writes only go past a series' count inside its room, or
    into room never handed out; a series that needs more room, or loses records (late
    points, retention), moves to fresh room; columns that run out are compacted into new
    ones. Snapshots keep the arrays and copies of the bookkeeping."""

    def __init__(self) -> None:
        self.offset = np.zeros(0, np.int64)
        self.bucket = np.zeros(0, np.int64)
        self.total = np.zeros(0, np.float64)
        self.kept = np.zeros(0, dtype=bool)
        self.start = np.zeros(0, np.int64)
        self.room = np.zeros(0, np.int64)
        self.count = np.zeros(0, np.int64)
        self.series = 0
        self.used = 0

    def add_series(self, k: int) -> None:
        """Register ``k`` new series, keeping records and holding none."""
        first = self.series
        if first + k > len(self.start):
            size = max(64, int((first + k) * RECORD_GROWTH))
            for name, dtype in (("kept", bool), ("start", np.int64), ("room", np.int64),
                                ("count", np.int64)):
                grown = np.zeros(size, dtype)
                grown[:first] = getattr(self, name)[:first]
                setattr(self, name, grown)
        self.kept[first:first + k] = True
        self.start[first:first + k] = self.used
        self.series = first + k

    def frozen(self) -> Records:
        """What a snapshot keeps: copies of the bookkeeping, the shared columns."""
        n = self.series
        return Records(self.kept[:n].copy(), self.start[:n].copy(), self.count[:n].copy(),
                       self.offset, self.bucket, self.total)

    @property
    def held(self) -> int:
        """Records held by every series."""
        return int(self.count[:self.series].sum())

    def _over(self, count: np.ndarray | int, covered: np.ndarray | int) -> np.ndarray | bool:
        """Whether series holding ``count`` records over ``covered`` points are too sparse."""
        return count > np.asarray(covered) // RECORD_POINTS + RECORD_SLACK

    def extend_one(self, sid: int, offset: int, bucket: int, total: float,
                   covered: int) -> None:
        """One more closed bucket of series ``sid``; ``covered``: its points in closed
        buckets, this one's included."""
        if not self.kept[sid]:
            return
        c = int(self.count[sid]) + 1
        if self._over(c, covered):
            self._drop(np.array([sid]))
            return
        if c > self.room[sid]:
            self._move(np.array([sid]), np.array([c]))
        at = int(self.start[sid]) + c - 1
        self.offset[at] = offset
        self.bucket[at] = bucket
        self.total[at] = total
        self.count[sid] = c

    def extend(self, series: np.ndarray, lengths: np.ndarray, offset: np.ndarray,
               bucket: np.ndarray, total: np.ndarray, covered: np.ndarray) -> None:
        """More closed buckets: ``lengths[i]`` of them for series ``series[i]`` (distinct),
        one series after another in ``offset``/``bucket``/``total``; ``covered[i]``: its
        points in closed buckets, these included."""
        kept = self.kept[series]
        total_count = self.count[series] + lengths
        over = kept & self._over(total_count, covered)
        if over.any():
            self._drop(series[over])
        write = kept & ~over & (lengths > 0)
        if not write.any():
            return
        if not write.all():
            keep = np.repeat(write, lengths)
            offset, bucket, total = offset[keep], bucket[keep], total[keep]
            series, lengths, total_count = series[write], lengths[write], total_count[write]
        grow = total_count > self.room[series]
        if grow.any():
            room = self._grown(total_count)
            if self.used + int(room[grow].sum()) > len(self.offset):
                # Room for every series written here, not only those that grow: a
                # compaction leaves the others 12.5% spare, maybe less than they add.
                self._compact(series, room)
            else:
                self._move(series[grow], total_count[grow])
        to = self.start[series] + self.count[series]
        put_runs(self.offset, to, lengths, offset)
        put_runs(self.bucket, to, lengths, bucket)
        put_runs(self.total, to, lengths, total)
        self.count[series] = total_count

    def _drop(self, series: np.ndarray) -> None:
        """``series`` stop keeping records. Their room goes too: records written again
        later go to fresh room, never over what a snapshot still reads."""
        self.kept[series] = False
        self.count[series] = 0
        self.room[series] = 0

    def restart(self, series: np.ndarray) -> None:
        """``series`` (keeping none) keep records again, from none (fresh room)."""
        self.kept[series] = True
        self.count[series] = 0
        self.room[series] = 0

    @staticmethod
    def _grown(total: np.ndarray) -> np.ndarray:
        """The room a series moving with ``total`` records gets."""
        room: np.ndarray = np.maximum(MIN_RECORD_ROOM,
                                      np.ceil(total * RECORD_GROWTH).astype(np.int64))
        return room

    def _move(self, series: np.ndarray, total: np.ndarray) -> None:
        """Give ``series`` fresh room for ``total`` records each, their records copied."""
        room = self._grown(total)
        if self.used + int(room.sum()) > len(self.offset):
            self._compact(series, room)
            return
        fresh = self.used + np.cumsum(room) - room
        self.used += int(room.sum())
        count = self.count[series]
        old = self.start[series]
        for column in (self.offset, self.bucket, self.total):
            column[run_index(fresh, count)] = column[run_index(old, count)]
        self.start[series] = fresh
        self.room[series] = room

    def _compact(self, series: np.ndarray | None = None, room_for: np.ndarray | None = None,
                 count: np.ndarray | None = None,
                 columns: tuple[np.ndarray, ...] | None = None) -> None:
        """Every kept series into new columns with 12.5% spare room (``room_for`` for
        ``series``) and 25% more for moves. ``count``/``columns``: records to hold instead
        of the current ones (each series' run one after another)."""
        n = self.series
        if count is None:
            count = self.count[:n].copy()
            source = self.start[:n].copy()
            runs = run_index(source, count)
            columns = (self.offset[runs], self.bucket[runs], self.total[runs])
        assert columns is not None
        room = np.where(self.kept[:n], np.maximum(MIN_RECORD_ROOM, count + count // 8), 0)
        if series is not None and room_for is not None:
            room[series] = np.maximum(room[series], room_for)
        needed = int(room.sum())
        capacity = needed + needed // 4 + MIN_RECORD_ROOM
        target = np.cumsum(room) - room
        fresh = [np.zeros(capacity, c.dtype) for c in columns]
        at = run_index(target, count)
        for new, old in zip(fresh, columns, strict=True):
            new[at] = old
        self.offset, self.bucket, self.total = fresh
        self.start[:n] = target
        self.room[:n] = room
        self.count[:n] = count
        self.used = needed

    def cut(self, series: np.ndarray, points: np.ndarray) -> None:
        """Forget the records of ``series[i]`` from its point ``points[i]`` on (a bucket's
        first point: late points are merged from there). Kept records move to fresh room,
        so that later records never overwrite what a snapshot reads."""
        held = self.count[series] > 0
        series, points = series[held], points[held]
        if not len(series):
            return
        keep = search_runs(self.offset, self.start[series], self.count[series], points)
        cut = keep < self.count[series]
        if not cut.any():
            return
        series, keep = series[cut], keep[cut]
        self.count[series] = keep
        self._move(series, keep)

    def drop_front(self, drop: np.ndarray, covered: np.ndarray, value: np.ndarray,
                   series_start: np.ndarray) -> None:
        """Retention dropped the ``drop[i]`` oldest points of every series ``i``, which had
        ``covered[i]`` points in closed buckets: records of buckets wholly dropped go, the
        rest start ``drop[i]`` points earlier, and a bucket cut short is summed again from
        ``value`` (the series now starting at ``series_start``). All into new columns."""
        n = self.series
        count = self.count[:n]
        at = run_index(self.start[:n], count)
        owner = np.repeat(np.arange(n), count)
        offset = self.offset[at]
        first_of = np.cumsum(count) - count
        ends = np.empty(len(at), np.int64)  # where each record's bucket ends
        ends[:-1] = offset[1:]
        last = first_of + count - 1
        ends[last[count > 0]] = covered[:n][count > 0]
        dropped = drop[owner]
        keep = ends > dropped
        offset = np.maximum(offset - dropped, 0)
        total = self.total[at].copy()
        cut = np.flatnonzero(keep & (self.offset[at] < dropped))
        if len(cut):
            lengths = ends[cut] - dropped[cut]
            starts = series_start[owner[cut]]
            gathered = value[run_index(starts, lengths)]
            total[cut] = np.add.reduceat(gathered, np.cumsum(lengths) - lengths)
        kept_count = np.bincount(owner[keep], minlength=n).astype(np.int64)
        self._compact(count=kept_count, columns=(offset[keep], self.bucket[at][keep],
                                                 total[keep]))
