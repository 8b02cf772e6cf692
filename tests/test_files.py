"""The data folder: new files, appended lines, partial lines, rewrites, removals, bad files."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from app.data import reader
from app.data.disk import Disk
from app.data.folder import DataFolder
from app.data.ingest import DecodedBody
from app.data.store import Store

HEADER = "timestamp,cpu,host\n"


@pytest.fixture
def folder(data_dir: Path) -> DataFolder:
    return DataFolder(Store(), data_dir)


def write(path: Path, text: str, mode: str = "w", age: float = 0.0) -> None:
    """Write ``text`` (in place, never a new file for "w"), then make it ``age`` seconds old."""
    with path.open(mode) as handle:
        handle.write(text)
    stamp = path.stat().st_mtime - age
    os.utime(path, (stamp, stamp))


def values(folder: DataFolder, name: str) -> list[float]:
    return folder.store.get(name).snapshot().merged().value.tolist()


def test_new_files_load_and_invalid_names_are_skipped(folder: DataFolder, data_dir: Path,
                                                      caplog: Any) -> None:
    write(data_dir / "cpu.csv", HEADER + "2024-05-01T00:00:00Z,1,a\n")
    write(data_dir / "bad name!.csv", HEADER)
    write(data_dir / "notes.txt", "hello")
    assert folder.scan() == {"cpu"}
    assert folder.store.names() == ["cpu"]
    assert "skipping file with an invalid dataset name" in caplog.text
    assert folder.scan() == set()  # nothing changed


def test_appended_lines_are_tailed_in_the_same_epoch(folder: DataFolder, data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + "2024-05-01T00:00:00Z,1,a\n")
    folder.scan()
    dataset = folder.store.get("cpu")
    epoch, version = dataset.epoch, dataset.version
    write(path, "2024-05-01T00:01:00Z,2,a\n2024-05-01T00:02:00Z,3,b\n", "a")
    assert folder.scan() == {"cpu"}
    assert folder.store.get("cpu") is dataset and dataset.epoch == epoch
    assert dataset.version == version + 2  # a file's version counts its lines read
    assert values(folder, "cpu") == [1.0, 2.0, 3.0]


def test_a_line_still_being_written_waits_for_its_newline(folder: DataFolder,
                                                          data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + "2024-05-01T00:00:00Z,1,a\n")
    folder.scan()
    write(path, "2024-05-01T00:01:00Z,2,a\n2024-05-01T00:0", "a", age=0)
    folder.scan()
    assert values(folder, "cpu") == [1.0, 2.0]
    write(path, "2:00Z,3,a\n", "a", age=0)
    folder.scan()
    assert values(folder, "cpu") == [1.0, 2.0, 3.0]


def test_truncated_or_rewritten_files_reload_with_a_new_epoch(folder: DataFolder,
                                                              data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,a\n")
    folder.scan()
    first = folder.store.get("cpu").epoch
    write(path, HEADER + "2024-06-01T00:00:00Z,9,a\n")  # shorter: truncated and rewritten
    assert folder.scan() == {"cpu"}
    assert folder.store.get("cpu").epoch != first
    assert values(folder, "cpu") == [9.0]
    second = folder.store.get("cpu").epoch
    write(path, "timestamp,mem,host\n2024-06-01T00:00:00Z,7,a\n2024-06-01T00:01:00Z,8,a\n")
    folder.scan()  # same size or longer but a new header: rewritten, not appended
    assert folder.store.get("cpu").epoch != second
    assert folder.store.get("cpu").snapshot().metrics == ("mem",)


def test_a_broken_rewrite_keeps_the_last_good_data_and_shows_why(folder: DataFolder,
                                                                 data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + "2024-05-01T00:00:00Z,1,a\n")
    folder.scan()
    write(path, "just,words\nno,dates\n")
    folder.scan()
    assert values(folder, "cpu") == [1.0]
    assert "cpu.csv: no timestamp column" in folder.store.error("cpu")


def test_a_removed_file_removes_its_dataset(folder: DataFolder, data_dir: Path) -> None:
    write(data_dir / "cpu.csv", HEADER + "2024-05-01T00:00:00Z,1,a\n")
    folder.scan()
    (data_dir / "cpu.csv").unlink()
    assert folder.scan() == {"cpu"}
    assert folder.store.names() == []


def test_a_file_with_impossible_dates_loads_the_rest(folder: DataFolder, data_dir: Path) -> None:
    write(data_dir / "cpu.csv", HEADER + "9999-01-01T00:00:00Z,1,a\n2024-05-01T00:00:00Z,2,a\n")
    folder.scan()
    assert values(folder, "cpu") == [2.0]
    assert folder.store.get("cpu").skipped == 1


@pytest.mark.parametrize("age", [0.0, 3600.0, 86400.0 * 30],
                         ids=["just-written", "an-hour-old", "a-month-old"])
def test_a_line_without_its_newline_waits_for_it_however_long(folder: DataFolder,
                                                               data_dir: Path,
                                                               age: float) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,12", age=age)
    folder.scan()
    assert values(folder, "cpu") == [1.0]
    assert folder.scan() == set()  # time passing changes nothing
    write(path, "3.5,a\n", "a", age=age)
    assert folder.scan() == {"cpu"}
    assert values(folder, "cpu") == [1.0, 123.5]  # the whole line, never "12"


def test_a_file_whose_only_row_is_unfinished_says_so(folder: DataFolder, data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + "2024-05-01T00:00:00Z,1,a")
    folder.scan()
    error = folder.store.error("cpu")
    assert error is not None and error.endswith(
        "(its last line has no newline yet: it is read once it has one)")
    write(path, "\n", "a")
    folder.scan()
    assert folder.store.error("cpu") is None and values(folder, "cpu") == [1.0]


@pytest.mark.parametrize("before, after", [
    # Same size: only the value changes.
    ("2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,a\n",
     "2024-05-01T00:00:00Z,7,a\n2024-05-01T00:01:00Z,8,a\n"),
    # Longer, the first rows rewritten: not an append of the last one.
    ("2024-05-01T00:00:00Z,1,a\n",
     "2024-05-01T00:00:00Z,5,a\n2024-05-01T00:01:00Z,6,a\n"),
    # Longer, a row in the middle of a long file rewritten (past the start's fingerprint).
    ("".join(f"2024-05-01T00:{m:02d}:00Z,{m},a\n" for m in range(60)) * 3,
     "".join(f"2024-05-01T00:{m:02d}:00Z,{m},a\n" for m in range(60)) * 2
     + "".join(f"2024-05-01T00:{m:02d}:00Z,{m},a\n" for m in range(59))
     + "2024-05-01T00:59:00Z,99,a\n2024-05-01T01:00:00Z,100,a\n"),
], ids=["same-size", "longer", "longer-past-the-start"])
def test_a_file_rewritten_in_place_is_reloaded_under_a_new_epoch(
        folder: DataFolder, data_dir: Path, before: str, after: str) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + before)
    folder.scan()
    inode, epoch = path.stat().st_ino, folder.store.get("cpu").epoch
    with path.open("r+") as handle:  # same inode, other bytes
        handle.write(HEADER + after)
        handle.truncate()
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a coarse clock still ticks
    assert path.stat().st_ino == inode
    assert folder.scan() == {"cpu"}
    assert folder.store.get("cpu").epoch != epoch
    expected = [float(line.split(",")[1]) for line in after.splitlines()]
    assert sorted(values(folder, "cpu")) == sorted(expected)


def test_a_file_with_comment_lines_is_tailed_and_its_warnings_kept(folder: DataFolder,
                                                                    data_dir: Path) -> None:
    path = data_dir / "log.csv"
    write(path, "# logger v2\n# site lab\n" + HEADER + "2024-05-01T00:00:00Z,1,a\n")
    folder.scan()
    assert folder.store.get("log").warnings == ()
    write(path, "2024-05-01T00:01:00Z,2,a\nnot a time,3,a\n", "a")
    assert folder.scan() == {"log"}
    assert values(folder, "log") == [1.0, 2.0]
    assert folder.store.get("log").skipped == 1
    # lines 1-2 comments, 3 header, 4 the first row: the bad line is line 6 of the file
    assert folder.store.get("log").warnings == (
        "1 row skipped: the timestamp is not written like the rest of 'timestamp' "
        "(line 6; e.g. 'not a time')",)


def test_appended_lines_that_settle_the_date_order_reload_the_file(folder: DataFolder,
                                                                   data_dir: Path) -> None:
    path = data_dir / "days.csv"
    write(path, "date,v\n01/02/2024,1\n03/04/2024,2\n")
    folder.scan()
    first = folder.store.get("days")
    assert first.schema.time_format == "%m/%d/%Y"  # DASH_DATE_ORDER=MDY by default
    assert "read as month/day/year" in folder.store.get("days").warnings[0]
    write(path, "13/04/2024,3\n", "a")  # only day-first reads it: the whole file is re-read
    assert folder.scan() == {"days"}
    reloaded = folder.store.get("days")
    assert reloaded.epoch != first.epoch and reloaded.schema.time_format == "%d/%m/%Y"
    # 1 Feb, 3 Apr and 13 Apr 2024 at midnight UTC, as seconds since the epoch
    assert (reloaded.snapshot().merged().ts // 1_000_000_000).tolist() == [1706745600, 1712102400,
                                                                  1712966400]
    assert folder.store.get("days").warnings == ()


def test_the_folder_reads_ambiguous_dates_in_its_date_order(data_dir: Path) -> None:
    write(data_dir / "days.csv", "date,v\n01/02/2024,1\n")
    folder = DataFolder(Store(), data_dir, date_order="DMY")
    folder.scan()
    points = folder.store.get("days").snapshot().merged()
    assert (points.ts // 1_000_000_000).tolist() == [1706745600]
    assert "read as day/month/year (DASH_DATE_ORDER=DMY)" in folder.store.get("days").warnings[0]


DAYFIRST = "date,v\n" + "".join(f"{day}/05/2024,{day}\n" for day in range(13, 32))  # 19 rows
SECONDS = "ts,v\n" + "".join(f"{1714564800 + 60 * i},{i}\n" for i in range(40))


@pytest.mark.parametrize("first, appended, error", [
    # one month-first line after twenty day-first ones: a stray, skipped and named
    (DAYFIRST + "13/06/2024,613\n", "06/14/2024,614\n", ""),
    # day-first settled, then as many month-first lines: the file mixes orders, refused
    (DAYFIRST, "".join(f"05/{day}/2024,{day}\n" for day in range(13, 32)),
     "column 'date' mixes day/month/year"),
    # a decimal comma settled; a decimal point among many commas is a stray cell
    ("timestamp;v\n" + "".join(f"2024-05-01T12:{m:02d}:00Z;{m},5\n" for m in range(20)),
     "2024-05-01T12:30:00Z;1.5\n", ""),
    # epoch seconds settled; milliseconds for half the file is a mix of units
    (SECONDS, "".join(f"{1714564800000 + 60_000 * i},{i}\n" for i in range(40, 80)),
     "column 'ts' mixes epoch seconds"),
    # and a stray millisecond value among forty seconds is skipped
    (SECONDS, "1714567200000,40\n", ""),
])
def test_appended_lines_read_as_a_fresh_load_of_the_whole_file(tmp_path: Path, first: str,
                                                                appended: str, error: str
                                                                ) -> None:
    tailed, whole = tmp_path / "tailed", tmp_path / "whole"
    tailed.mkdir()
    whole.mkdir()
    write(tailed / "log.csv", first)
    write(whole / "log.csv", first + appended)
    by_lines, at_once = DataFolder(Store(), tailed), DataFolder(Store(), whole)
    by_lines.scan()
    write(tailed / "log.csv", appended, "a")
    by_lines.scan()
    at_once.scan()
    if error:
        for folder in (by_lines, at_once):
            assert error in (folder.store.error("log") or "")
        return
    a, b = by_lines.store.get("log"), at_once.store.get("log")
    assert by_lines.store.error("log") is None and at_once.store.error("log") is None
    assert a.snapshot().merged().ts.tolist() == b.snapshot().merged().ts.tolist()
    assert a.snapshot().merged().value.tolist() == b.snapshot().merged().value.tolist()
    assert (a.skipped, a.warnings) == (b.skipped, b.warnings)
    assert a.skipped + len(a.warnings) > 0  # the stray was named, not read


def lines(first: int, count: int, width: int = 0) -> str:
    """``count`` rows of cpu ``first``.., host ``a`` padded to ``width`` characters."""
    host = "a".ljust(width, "a") if width else "a"
    return "".join(f"2024-05-01T{m // 60 % 24:02d}:{m % 60:02d}:00Z,{m},{host}\n"
                   for m in range(first, first + count))


@pytest.mark.parametrize("grown", [False, True], ids=["same-size", "grown"])
def test_a_rewrite_in_the_middle_of_a_file_is_reloaded_under_a_new_epoch(
        folder: DataFolder, data_dir: Path, grown: bool) -> None:
    """Far from the file's first and last 4 KB, which were all that was compared."""
    path = data_dir / "cpu.csv"
    write(path, HEADER + lines(100, 900))  # 900 rows of 27 bytes: 24 KB
    folder.scan()
    epoch = folder.store.get("cpu").epoch
    text = path.read_text()
    middle = text.index("T09:10:00Z,550,a")  # row 450 of 900, 12 KB in
    with path.open("r+") as handle:  # same inode, same bytes around it
        handle.seek(middle + len("T09:10:00Z,"))
        handle.write("9")  # 550 -> 950
        if grown:
            handle.seek(0, os.SEEK_END)
            handle.write(lines(1000, 1))
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    assert folder.scan() == {"cpu"}
    assert folder.store.get("cpu").epoch != epoch
    shown = values(folder, "cpu")
    assert 950.0 in shown and 550.0 not in shown
    assert len(shown) == 900 + grown


def test_a_named_pipe_in_the_folder_is_listed_as_skipped_and_never_opened(
        folder: DataFolder, data_dir: Path) -> None:
    write(data_dir / "cpu.csv", HEADER + lines(0, 2))
    os.mkfifo(data_dir / "pipe.csv")
    scanning = threading.Thread(target=folder.scan, daemon=True)
    scanning.start()
    scanning.join(timeout=10)
    try:
        assert not scanning.is_alive(), "the scan waits for a writer of the named pipe"
    finally:  # let a scan stuck in open() go
        os.close(os.open(data_dir / "pipe.csv", os.O_WRONLY | os.O_NONBLOCK)) \
            if scanning.is_alive() else None
    assert folder.store.error("pipe") == ("pipe.csv is a named pipe (FIFO), not a data file; "
                                          "data files are regular files")
    assert values(folder, "cpu") == [0.0, 1.0]


class ExternalWriter(Disk):
    """Another program (a logger) appends ``line`` to the file just before ingest's write."""

    def __init__(self, path: Path, line: str) -> None:
        self.path, self.line, self.armed = path, line, False

    def _before_write(self) -> None:
        if self.armed:
            self.armed = False
            with self.path.open("a") as logger:
                logger.write(self.line)

    def append(self, fd: int, data: bytes | memoryview) -> int:
        self._before_write()
        return super().append(fd, data)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        self._before_write()
        return super().pwrite(fd, data, offset)


def test_lines_another_program_appends_during_ingest_are_kept_and_read(data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + lines(0, 2))
    disk = ExternalWriter(path, "2024-05-01T05:00:00Z,77,logger\n")
    folder = DataFolder(Store(), data_dir, disk=disk)
    folder.scan()
    disk.armed = True
    folder.append("cpu", DecodedBody([{"timestamp": "2024-05-01T06:00:00Z", "cpu": 88,
                                       "host": "ingest"}]))
    assert path.read_text() == (HEADER + lines(0, 2) + "2024-05-01T05:00:00Z,77,logger\n"
                                + "2024-05-01T06:00:00Z,88.0,ingest\n")
    folder.scan()
    assert sorted(values(folder, "cpu")) == [0.0, 1.0, 77.0, 88.0]
    again = DataFolder(Store(), data_dir)
    again.scan()
    assert sorted(values(again, "cpu")) == [0.0, 1.0, 77.0, 88.0]


def test_a_slow_reload_of_one_dataset_does_not_hold_up_ingest_into_another(
        data_dir: Path) -> None:
    write(data_dir / "slow.csv", HEADER + lines(0, 2))
    write(data_dir / "busy.csv", HEADER + lines(0, 2))
    reading, release = threading.Event(), threading.Event()

    def offload(function: Any, *args: Any) -> Any:
        if threading.current_thread().name == "reloader" and not reading.is_set():
            reading.set()
            release.wait(timeout=30)  # a file that takes long to read and parse
        return function(*args)

    folder = DataFolder(Store(), data_dir, offload)
    folder.scan()
    reloader = threading.Thread(target=folder.reload, args=("slow",), name="reloader",
                                daemon=True)
    reloader.start()
    try:
        assert reading.wait(timeout=10)
        ingest = threading.Thread(target=folder.append, args=("busy", DecodedBody([{
            "timestamp": "2024-05-01T06:00:00Z", "cpu": 5, "host": "b"}])), daemon=True)
        ingest.start()
        ingest.join(timeout=10)
        assert not ingest.is_alive(), "ingest into busy waited for the reload of slow"
        assert sorted(values(folder, "busy")) == [0.0, 1.0, 5.0]
    finally:
        release.set()
        reloader.join(timeout=10)


class SlowParse:
    """An ``offload`` whose first parse of a whole file in thread ``thread`` waits until
    ``release`` is set (a file that takes long to parse); ``parsing`` says it is waiting."""

    def __init__(self, thread: str) -> None:
        self.thread = thread
        self.parsing, self.release = threading.Event(), threading.Event()

    def __call__(self, function: Any, *args: Any) -> Any:
        if function is reader.read and threading.current_thread().name == self.thread \
                and not self.parsing.is_set():
            self.parsing.set()
            self.release.wait(timeout=30)
        return function(*args)


def ingest_while_parsing(folder: DataFolder, slow: SlowParse, name: str,
                         cpus: list[int]) -> list[int]:
    """Ingest one point per cpu value into ``name`` while ``slow`` holds a parse; the cpu
    values acknowledged, all of them before the parse goes on (else the test fails)."""
    assert slow.parsing.wait(timeout=10)
    acknowledged: list[int] = []

    def ingest() -> None:
        for cpu in cpus:
            folder.append(name, DecodedBody([{"timestamp": f"2024-05-02T00:{cpu:02d}:00Z",
                                              "cpu": cpu, "host": "ingest"}]))
            acknowledged.append(cpu)

    writer = threading.Thread(target=ingest, daemon=True)
    writer.start()
    writer.join(timeout=10)  # a safety net: the parse goes on only when the test says so
    assert not writer.is_alive() and not slow.release.is_set(), \
        "ingest waited for the file to be parsed"
    return acknowledged


def test_ingest_during_a_slow_reload_is_not_held_up_lost_or_doubled(data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + lines(0, 3))
    slow = SlowParse("reloader")
    folder = DataFolder(Store(), data_dir, slow)
    folder.scan()
    before = folder.store.get("cpu")
    reloader = threading.Thread(target=folder.reload, args=("cpu",), name="reloader",
                                daemon=True)
    reloader.start()
    try:
        acknowledged = ingest_while_parsing(folder, slow, "cpu", [10, 11, 12, 13])
        assert acknowledged == [10, 11, 12, 13]
        # Meanwhile the dataset being replaced shows them.
        assert folder.store.get("cpu") is before
        assert sorted(values(folder, "cpu")) == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0]
    finally:
        slow.release.set()
        reloader.join(timeout=10)
    assert not reloader.is_alive()
    after = folder.store.get("cpu")
    # Read again, the file holds the same lines: the same points, version and epoch.
    assert after is not before
    assert (after.version, after.epoch) == (before.version, before.epoch)
    # Each acknowledged point once: the 4 batches were written after the bytes the reload
    # parsed, and were read from the file at the swap.
    assert sorted(values(folder, "cpu")) == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0]
    assert [p for p in path.read_text().splitlines() if ",ingest" in p] == [
        f"2024-05-02T00:{cpu}:00Z,{cpu}.0,ingest" for cpu in (10, 11, 12, 13)]
    folder.append("cpu", DecodedBody([{"timestamp": "2024-05-03T00:00:00Z", "cpu": 14,
                                       "host": "ingest"}]))
    assert folder.scan() == set()  # the swap left the state where the file ends
    assert sorted(values(folder, "cpu"))[-2:] == [13.0, 14.0]
    again = DataFolder(Store(), data_dir)
    again.scan()
    assert sorted(values(again, "cpu")) == [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0, 14.0]


def test_ingest_while_a_file_rewritten_in_place_is_read_again_lands_in_the_new_data(
        data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + lines(0, 3))
    slow = SlowParse("scanner")
    folder = DataFolder(Store(), data_dir, slow)
    folder.scan()
    before = folder.store.get("cpu")
    write(path, HEADER + lines(50, 2))  # same inode, other rows: read again, a new epoch
    scanner = threading.Thread(target=folder.scan, name="scanner", daemon=True)
    scanner.start()
    try:
        assert ingest_while_parsing(folder, slow, "cpu", [20, 21]) == [20, 21]
        # The scanner keeps away from the file while it is read: nothing is taken twice.
        assert folder.scan() == set()
    finally:
        slow.release.set()
        scanner.join(timeout=10)
    assert not scanner.is_alive()
    assert folder.store.get("cpu").epoch != before.epoch
    assert sorted(values(folder, "cpu")) == [20.0, 21.0, 50.0, 51.0]
    again = DataFolder(Store(), data_dir)
    again.scan()
    assert sorted(values(again, "cpu")) == [20.0, 21.0, 50.0, 51.0]


def test_lines_another_program_appends_during_a_slow_reload_are_tailed_after_it(
        data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + lines(0, 2))
    slow = SlowParse("reloader")
    folder = DataFolder(Store(), data_dir, slow)
    folder.scan()
    reloader = threading.Thread(target=folder.reload, args=("cpu",), name="reloader",
                                daemon=True)
    reloader.start()
    try:
        assert slow.parsing.wait(timeout=10)
        write(path, lines(30, 1) + "2024-05-01T00:31:00Z,3", "a")  # the last line unfinished
    finally:
        slow.release.set()
        reloader.join(timeout=10)
    assert sorted(values(folder, "cpu")) == [0.0, 1.0]  # read before they came
    assert folder.scan() == {"cpu"}
    assert sorted(values(folder, "cpu")) == [0.0, 1.0, 30.0]  # the unfinished line waits
    write(path, "1,a\n", "a")
    folder.scan()
    assert sorted(values(folder, "cpu")) == [0.0, 1.0, 30.0, 31.0]


def test_cutting_the_last_line_of_an_acknowledged_batch_drops_no_other_line(
        data_dir: Path) -> None:
    folder = DataFolder(Store(), data_dir)
    for first, count in ((0, 2), (2, 5)):  # a new file, then a batch of 5 appended to it
        folder.append("cpu", DecodedBody([{"timestamp": f"2024-05-01T00:00:{n:02d}Z",
                                           "cpu": n, "host": "a"}
                                          for n in range(first, first + count)]))
    path = data_dir / "cpu.csv"
    text = path.read_bytes()
    os.truncate(path, text.rstrip(b"\n").rfind(b"\n") + 1)  # its last line removed by hand
    folder.scan()
    # Before: the file was taken for one torn by a crash mid-batch, and cut back to the
    # batch's start: [0.0, 1.0], the 4 acknowledged lines left by hand gone too.
    assert sorted(values(folder, "cpu")) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    again = DataFolder(Store(), data_dir)
    again.scan()
    assert sorted(values(again, "cpu")) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_file_rewritten_while_a_reload_parses_it_is_read_again(data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    write(path, HEADER + lines(0, 3))
    slow = SlowParse("reloader")
    folder = DataFolder(Store(), data_dir, slow)
    folder.scan()
    reloader = threading.Thread(target=folder.reload, args=("cpu",), name="reloader",
                                daemon=True)
    reloader.start()
    try:
        assert slow.parsing.wait(timeout=10)
        write(path, HEADER + lines(60, 3))  # in place, while the old bytes are parsed
    finally:
        slow.release.set()
        reloader.join(timeout=10)
    assert sorted(values(folder, "cpu")) == [60.0, 61.0, 62.0]  # not the bytes read before
    assert folder.scan() == set()
