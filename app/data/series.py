"""Every series' points in shared columns: each series a time-ordered region with spare room.

Series ``i`` owns ``[start[i], start[i] + room[i])`` of the columns and holds its
``count[i]`` points, sorted by time, at the front of it. One set of columns for all
series lets the engine work on any number of series with whole-array operations (a
window's edges for 10,000 series are one vectorised binary search, not 10,000 calls),
while a metric filter or a split still picks whole series, never masks points.
"""
from __future__ import annotations

import numpy as np

from ..instants import HOUR, MINUTE
from .buckets import RECORD_AGAIN, BucketRecords
from .runs import (
    bucket_bounds,
    copy_runs,
    put_runs,
    run_index,
    search_runs,
    segment_bounds,
    sort_segments,
    take_runs,
)

# The run helpers moved to .runs; modules that import them from here still can.
__all__ = ["GROWTH", "MIN_ROOM", "RANKED_TIERS", "SeriesColumns", "bucket_bounds",
           "copy_runs", "put_runs", "run_index", "search_runs", "segment_bounds",
           "sort_segments", "take_runs"]

# Buckets whose exact percentiles are kept ready: a series' values sorted within each
# closed 1-minute, 5-minute and 1-hour bucket (each tier a multiple of the first; 8 B a
# point each). A p95 per host per hour over 10M points is then an index per bucket
# instead of sorting 3.3M values (2.7 s before, see BENCHMARKS.md); 5 minutes, the bucket
# of most multi-day charts, went 14-25 ms -> 1.5-2 ms read as 5 minute runs each.
RANKED_TIERS = (MINUTE, 5 * MINUTE, HOUR)
MIN_ROOM = 16  # points a series' first region holds
GROWTH = 1.5  # a series that outgrows its region moves to one 1.5x its points
# Ranking a few newly closed points in plain Python beats numpy's per-call cost
# (one point closing an hour: 2 us against 20 us).
SMALL_RANK = 16
SLICE_RANK = 4096  # runs this long on average are ranked one by one (few numpy calls each)



def _zeros(n: int, dtype: type) -> np.ndarray:
    # Zeroed, not empty: untouched pages of a big calloc cost no memory until written,
    # and reductions that run over spare room never meet garbage (NaN, inf).
    return np.zeros(n, dtype)


class SeriesColumns:
    """Points of every series of a dataset: times (int64 ns), values, values ranked per
    closed bucket of each ``RANKED_TIERS`` width, and where each series lives in them.

    ``ranked[t][start[i]:start[i] + ranked_count[t, i]]`` holds series ``i``'s values
    sorted within each closed bucket: buckets before its newest point's. Snapshots keep
    the arrays and a copy of the bookkeeping, so writes only ever go past what they see:
    past a series' count inside its room, or into room never handed out. Late points,
    growth past the room and retention move a series to fresh room; moving everything
    into new arrays (compaction) happens when the columns run out of room.

    ``records[t]`` holds, for series dense enough, where each of those closed buckets
    starts, its number and its sum (``buckets.BucketRecords``), kept with the ranking.
    """

    def __init__(self) -> None:
        self.ts = _zeros(0, np.int64)
        self.value = _zeros(0, np.float64)
        self.ranked = [_zeros(0, np.float64) for _ in RANKED_TIERS]
        self.series = 0  # series in use: the first ``series`` entries below
        self.start = _zeros(0, np.int64)
        self.room = _zeros(0, np.int64)
        self.count = _zeros(0, np.int64)
        self.ranked_count = np.zeros((len(RANKED_TIERS), 0), np.int64)
        self.records = [BucketRecords() for _ in RANKED_TIERS]
        self.used = 0  # room handed out so far (regions are never reused in place)
        self.points = 0

    def add_series(self, k: int = 1) -> int:
        """Register ``k`` new empty series; returns the first new id."""
        first = self.series
        if first + k > len(self.start):
            size = max(64, int((first + k) * GROWTH))
            for name in ("start", "room", "count"):
                grown = _zeros(size, np.int64)
                grown[:first] = getattr(self, name)[:first]
                setattr(self, name, grown)
            ranked = np.zeros((len(RANKED_TIERS), size), np.int64)
            ranked[:, :first] = self.ranked_count[:, :first]
            self.ranked_count = ranked
        for records in self.records:
            records.add_series(k)
        self.series = first + k
        return first

    def append_one(self, sid: int, ts: int, value: float) -> None:
        """Add one point with scalar writes (moving the series if full); a late point takes
        the general path of ``append``. ``item`` reads: numpy scalars cost 2x more."""
        c = self.count.item(sid)
        previous = self.ts.item(self.start.item(sid) + c - 1) if c else ts
        if ts < previous:
            self.append(np.array([sid], np.int64), np.array([ts], np.int64),
                        np.array([value], np.float64))
            return
        if c == self.room.item(sid):
            self._move_one(sid, c + 1)
        at = self.start.item(sid) + c
        self.ts[at] = ts
        self.value[at] = value
        self.count[sid] = c + 1
        self.points += 1
        if ts // MINUTE != previous // MINUTE:  # a bucket closed (every tier's end a minute's)
            for tier_index, tier in enumerate(RANKED_TIERS):
                if ts // tier != previous // tier:
                    self._rank_before(sid, tier_index, c)

    def _move_one(self, sid: int, total: int) -> None:
        """Move series ``sid`` to fresh room for ``total`` points (slice copies)."""
        room = int(self._grown(np.array([total]))[0])
        self._reserve(room, np.array([sid]), np.array([total]))
        if total <= self.room[sid]:  # the compaction made room
            return
        old, fresh, c = int(self.start[sid]), self.used, int(self.count[sid])
        self.used += room
        self.ts[fresh:fresh + c] = self.ts[old:old + c]
        self.value[fresh:fresh + c] = self.value[old:old + c]
        for t, column in enumerate(self.ranked):
            k = int(self.ranked_count[t, sid])
            column[fresh:fresh + k] = column[old:old + k]
        self.start[sid] = fresh
        self.room[sid] = room

    def append(self, sid: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        """Add points sorted by series, then time (equal times keep their order, after the
        points already held)."""
        k = len(sid)
        if k == 0:
            return
        run_lo = np.flatnonzero(np.concatenate(([True], sid[1:] != sid[:-1])))
        lengths = np.diff(np.append(run_lo, k))
        series = sid[run_lo]
        count = self.count[series]
        first_new = ts[run_lo]
        late = np.zeros(len(series), dtype=bool)
        held = count > 0
        if held.any():
            last_old = self.ts[self.start[series[held]] + count[held] - 1]
            late[held] = first_new[held] < last_old
        # Points held that sort after the first new one: merged with the new points.
        keep = count.copy()
        keep_ranked = self.ranked_count[:, series].copy()
        if late.any():
            starts = self.start[series[late]]
            keep[late] = search_runs(self.ts, starts, count[late], first_new[late], right=True)
            for t, tier in enumerate(RANKED_TIERS):  # buckets from the first late one on
                below = search_runs(self.ts, starts, count[late], first_new[late] // tier * tier)
                keep_ranked[t, late] = np.minimum(keep_ranked[t, late], below)
        total = count + lengths
        move = late | (total > self.room[series])
        # Many points to move (a big batch over every series): one compaction copies each
        # point once and leaves no dead room behind, where moves would leave their old room.
        compacted = bool(move.any()) and (
            int(count[move].sum()) > self.points // 4
            or self.used + int(self._grown(total[move]).sum()) >= len(self.ts))
        if compacted:
            self._compact(0, series, total)
            move[:] = False  # fresh columns: every touched series has room, nobody reads them
        old_start = self.start[series]
        # Tails of late series, then the new points: one stable sort by (run, time).
        tail = count - keep
        tails = take_runs(self.ts, old_start[late] + keep[late], tail[late])
        new_ts = np.concatenate((tails, ts))
        new_value = np.concatenate((take_runs(self.value, old_start[late] + keep[late],
                                              tail[late]), value))
        if len(tails):
            run_key = np.concatenate((np.repeat(np.flatnonzero(late), tail[late]),
                                      np.repeat(np.arange(len(series)), lengths)))
            order = np.lexsort((new_ts, run_key))
            new_ts, new_value = new_ts[order], new_value[order]
        if move.any():
            moved = series[move]
            new_room = self._grown(total[move])
            fresh = self.used + np.cumsum(new_room) - new_room
            self.used += int(new_room.sum())
            self._copy(old_start[move], fresh, keep[move], keep_ranked[:, move])
            self.start[moved] = fresh
            self.room[moved] = new_room
        # Write the merged tails and new points after what each series keeps.
        written = tail + lengths
        to = self.start[series] + keep
        put_runs(self.ts, to, written, new_ts)
        put_runs(self.value, to, written, new_value)
        self.count[series] = total
        if late.any():  # the records of the buckets ranked again go with them
            for t, records in enumerate(self.records):
                records.cut(series[late], keep_ranked[t, late])
        self.ranked_count[:, series] = keep_ranked
        self.points += k
        self._rank(series)

    def _copy(self, source: np.ndarray, target: np.ndarray, count: np.ndarray,
              ranked_count: np.ndarray) -> None:
        """Copy series' first ``count`` points and ranked values from ``source`` to ``target``."""
        copy_runs(self.ts, target, self.ts, source, count)
        copy_runs(self.value, target, self.value, source, count)
        for t, column in enumerate(self.ranked):
            copy_runs(column, target, column, source, ranked_count[t])

    @staticmethod
    def _grown(total: np.ndarray) -> np.ndarray:
        """The room a series moving with ``total`` points gets."""
        grown: np.ndarray = np.maximum(MIN_ROOM, np.ceil(total * GROWTH).astype(np.int64))
        return grown

    def _reserve(self, extra: int, series: np.ndarray | None = None,
                 total: np.ndarray | None = None) -> None:
        """Make room for ``extra`` more points past ``used`` (one slot always stays spare: a
        reduceat index may point just past a series), compacting if needed; a compaction
        gives ``series``, about to grow to ``total`` points each, room to grow."""
        if self.used + extra < len(self.ts):
            return
        self._compact(extra, series, total)

    def _compact(self, extra: int, series: np.ndarray | None = None,
                 total: np.ndarray | None = None) -> None:
        """Copy every series into new columns: 12.5% spare room each (50% for ``series``,
        about to grow to ``total`` points), ``extra`` after them and 25% more for moves.
        Room never written costs address space only (zeroed pages are mapped on write)."""
        n = self.series
        count = self.count[:n]
        room = np.maximum(MIN_ROOM, count + count // 8)
        if series is not None and total is not None:
            room[series] = np.maximum(room[series], self._grown(total))
        needed = int(room.sum()) + extra
        capacity = needed + needed // 4 + 1
        old_ts, old_value, old_ranked = self.ts, self.value, self.ranked
        source = self.start[:n].copy()
        self.ts, self.value = _zeros(capacity, np.int64), _zeros(capacity, np.float64)
        self.ranked = [_zeros(capacity, np.float64) for _ in RANKED_TIERS]
        target = np.cumsum(room) - room
        copy_runs(self.ts, target, old_ts, source, count)
        copy_runs(self.value, target, old_value, source, count)
        for t, column in enumerate(self.ranked):
            copy_runs(column, target, old_ranked[t], source, self.ranked_count[t, :n])
        self.start[:n] = target
        self.room[:n] = room
        self.used = int(room.sum())

    def drop_oldest(self, drop: np.ndarray) -> None:
        """Forget the ``drop[i]`` oldest points of each series ``i`` (retention): every
        series moves to new columns, the partly dropped oldest buckets ranked again."""
        n = self.series
        self.start[:n] += drop
        self.count[:n] -= drop
        self.room[:n] -= drop
        ranked = self.ranked_count[:, :n].copy()
        self.ranked_count[:, :n] = np.maximum(ranked - drop, 0)
        self.points -= int(drop.sum())
        self._compact(0)  # never write where snapshots read
        cut = np.flatnonzero((drop > 0) & (self.count[:n] > 0))
        starts, count = self.start[cut], self.count[cut]
        for t, tier in enumerate(RANKED_TIERS):
            first = self.ts[starts]
            end = search_runs(self.ts, starts, count, (first // tier + 1) * tier)
            end = np.minimum(end, self.ranked_count[t, cut])
            at = run_index(starts, end)
            self.ranked[t][at] = sort_segments(self.value[at],
                                               np.concatenate(([0], np.cumsum(end))))
        for t, records in enumerate(self.records):
            records.drop_front(drop, ranked[t], self.value, self.start[:n])

    def _rank_before(self, sid: int, tier_index: int, close: int) -> None:
        """Rank series ``sid``'s points ``[ranked_count, close)``: all in closed buckets."""
        lo = self.ranked_count.item(tier_index, sid)
        if close <= lo:
            return
        s = self.start.item(sid)
        column = self.ranked[tier_index]
        records = self.records[tier_index]
        tier = RANKED_TIERS[tier_index]
        if close - lo == 1:  # a sparse series: its one point closed a bucket
            value = self.value.item(s + lo)
            column[s + lo] = value
            records.extend_one(sid, lo, self.ts.item(s + lo) // tier, value, close)
        elif close - lo > SMALL_RANK:
            self._rank_runs(tier_index, np.array([s + lo]), np.array([close - lo]),
                            np.array([sid]), np.array([close]))
        else:
            times = self.ts[s + lo:s + close].tolist()
            values = self.value[s + lo:s + close].tolist()
            ranked: list[float] = []
            i = 0
            while i < len(times):  # one bucket at a time
                j = i + 1
                while j < len(times) and times[j] // tier == times[i] // tier:
                    j += 1
                ranked += sorted(values[i:j])
                # Summed as reduce_runs sums a cell (reduceat: neither sum() nor
                # ndarray.sum() gives the same last bit), so a view reads the same sum
                # whether from records or from the points.
                total = float(np.add.reduceat(self.value[s + lo + i:s + lo + j], [0])[0])
                records.extend_one(sid, lo + i, times[i] // tier, total, close)
                i = j
            column[s + lo:s + close] = ranked
        self.ranked_count[tier_index, sid] = close
        if not records.kept[sid] and close >= RECORD_AGAIN * (
                self.ts.item(s + close - 1) // tier - self.ts.item(s) // tier + 1):
            self._record_again(tier_index, np.array([sid]))

    def _rank(self, series: np.ndarray) -> None:
        """Sort the values of every bucket of ``series`` closed since they were last ranked."""
        count = self.count[series]
        starts = self.start[series]
        last = self.ts[starts + count - 1]
        for t, tier in enumerate(RANKED_TIERS):
            lo = self.ranked_count[t, series]
            # The newest point's bucket is open; everything before it is closed.
            if len(series) == 1:  # one series (a live append): scalar steps
                s, c = int(starts[0]), int(count[0])
                close = int(np.searchsorted(self.ts[s:s + c], int(last[0]) // tier * tier))
                self._rank_before(int(series[0]), t, close)
                continue
            # Only series whose first unranked point lies in an older bucket than their
            # newest have closed one (a batch of 1,000 over 60 series: most have not).
            opened = self.ts[starts + np.minimum(lo, count - 1)] // tier
            todo = np.flatnonzero((lo < count) & (opened < last // tier))
            if not len(todo):
                continue
            first = starts[todo] + lo[todo]
            closed = search_runs(self.ts, first, count[todo] - lo[todo],
                                 last[todo] // tier * tier)
            self._rank_runs(t, first, closed, series[todo], lo[todo] + closed)
            self.ranked_count[t, series[todo]] = lo[todo] + closed
            dropped = series[todo][~self.records[t].kept[series[todo]]]
            if len(dropped):
                self._record_again(t, dropped)

    def _record_again(self, tier_index: int, series: np.ndarray) -> None:
        """Record every closed bucket afresh for those of ``series`` (keeping no records)
        whose closed buckets are now ``RECORD_AGAIN`` points a bucket of their span."""
        tier = RANKED_TIERS[tier_index]
        covered = self.ranked_count[tier_index, series]
        starts = self.start[series]
        span = self.ts[starts + np.maximum(covered, 1) - 1] // tier - self.ts[starts] // tier + 1
        dense = (covered > 0) & (covered >= RECORD_AGAIN * span)
        if dense.any():
            self.records[tier_index].restart(series[dense])
            self._rank_runs(tier_index, starts[dense], covered[dense], series[dense],
                            covered[dense], sort=False)

    def _rank_runs(self, tier_index: int, start: np.ndarray, lengths: np.ndarray,
                   series: np.ndarray, covered: np.ndarray, sort: bool = True) -> None:
        """Rank the runs ``start[i]`` .. ``start[i] + lengths[i]`` of ``series[i]``, each
        made of closed buckets: every bucket's values sorted into ``ranked`` (unless not
        ``sort``: already done), and recorded (its series then has ``covered[i]`` points
        in closed buckets)."""
        tier = RANKED_TIERS[tier_index]
        column = self.ranked[tier_index]
        if int(lengths.sum()) >= SLICE_RANK * len(lengths):  # long runs: one sort each
            heads, totals, buckets = [], [], []
            for a, n in zip(start.tolist(), lengths.tolist(), strict=True):
                bounds = bucket_bounds(self.ts[a:a + n], tier)
                if sort:
                    column[a:a + n] = sort_segments(self.value[a:a + n], bounds)
                heads.append(a + bounds[:-1])
                totals.append(np.add.reduceat(self.value[a:a + n], bounds[:-1]))
                buckets.append(self.ts[a + bounds[:-1]] // tier)
            per_run = np.array([len(h) for h in heads], np.int64)
            first, total, bucket = map(np.concatenate, (heads, totals, buckets))
        else:
            at = run_index(start, lengths)
            runs = np.cumsum(lengths) - lengths
            keys = self.ts[at] // tier
            bounds = segment_bounds(keys, runs)
            values = self.value[at]
            if sort:
                column[at] = sort_segments(values, bounds)
            head = bounds[:-1]
            per_run = np.diff(np.append(np.searchsorted(head, runs), len(head)))
            first, total, bucket = at[head], np.add.reduceat(values, head), keys[head]
        self.records[tier_index].extend(series, per_run,
                                        first - np.repeat(self.start[series], per_run),
                                        bucket, total, covered)
