"""A file dataset's version and epoch: the same in every process that reads the same file,
kept by appends and restarts, changed by a rewrite."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.data.folder import DataFolder
from app.data.ingest import DecodedBody
from app.data.store import Store

HEADER = "timestamp,cpu,host\n"
ROWS = "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,b\n"


def stamp(folder: DataFolder, name: str = "cpu") -> tuple[int, str]:
    dataset = folder.store.get(name)
    return dataset.version, dataset.epoch


def values(folder: DataFolder, name: str = "cpu") -> list[float]:
    return folder.store.get(name).snapshot().merged().value.tolist()


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


@pytest.mark.parametrize("chunks", [
    ["2024-05-01T00:02:00Z,3,a\n", "2024-05-01T00:03:00Z,4,b\n"],
    ["2024-05-01T00:02:00Z,3,a\n2024-05-01T00:03:00Z,4,b\n"],
    ["\n", "2024-05-01T00:02:00Z,3,a\n", "\n2024-05-01T00:03:00Z,4,b\n"],  # blank lines
])
def test_two_processes_tailing_a_file_in_other_steps_agree(data_dir: Path,
                                                           chunks: list[str]) -> None:
    path = data_dir / "cpu.csv"
    path.write_text(HEADER + ROWS)
    often, once = DataFolder(Store(), data_dir), DataFolder(Store(), data_dir)
    often.scan()
    once.scan()
    first = stamp(often)
    assert stamp(once) == first == (3, first[1])  # 3 lines read: the header and 2 rows
    for chunk in chunks:
        append(path, chunk)
        often.scan()  # one process sees each append, the other only all of them at once
    once.scan()
    lines = 3 + sum(chunk.count("\n") for chunk in chunks)
    assert stamp(often) == stamp(once) == (lines, first[1])  # appends keep the epoch
    assert values(often) == values(once) == [1.0, 2.0, 3.0, 4.0]


def test_a_restart_reads_an_unchanged_file_under_the_same_version_and_epoch(
        data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    path.write_text(HEADER + ROWS)
    before = DataFolder(Store(), data_dir)
    before.scan()
    restarted = DataFolder(Store(), data_dir)
    restarted.scan()
    # A long-poll's since=3&epoch=E is still good: no full figure for nothing.
    assert stamp(restarted) == stamp(before) == (3, stamp(before)[1])


def test_a_process_that_first_reads_a_file_after_an_append_has_another_epoch(
        data_dir: Path) -> None:
    """The known cost of an epoch made of the bytes read whole: a process (re)started after
    lines were appended cannot tell them from a rewrite of what the others read first, so
    its clients get one full figure; never the same version and epoch with other points."""
    path = data_dir / "cpu.csv"
    path.write_text(HEADER + ROWS)
    early = DataFolder(Store(), data_dir)
    early.scan()
    append(path, "2024-05-01T00:02:00Z,3,a\n")
    early.scan()
    late = DataFolder(Store(), data_dir)
    late.scan()
    assert stamp(late)[0] == stamp(early)[0] == 4 and stamp(late)[1] != stamp(early)[1]
    assert values(late) == values(early) == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("rewrite", [
    HEADER + "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,7,b\n",  # one digit, in place
    HEADER + "2024-05-01T00:00:00Z,1,a\n",  # shorter
    HEADER + "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,c\n"
    "2024-05-01T00:02:00Z,3,c\n",  # longer, and a byte of what was read differs
])
def test_a_rewrite_is_a_new_epoch_that_every_process_agrees_on(data_dir: Path,
                                                               rewrite: str) -> None:
    path = data_dir / "cpu.csv"
    path.write_text(HEADER + ROWS)
    running = DataFolder(Store(), data_dir)
    running.scan()
    old = stamp(running)
    with path.open("r+") as handle:  # in place: the same inode
        handle.truncate(0)
        handle.write(rewrite)
    running.scan()
    fresh = DataFolder(Store(), data_dir)
    fresh.scan()
    assert stamp(running)[1] != old[1]
    assert stamp(running) == stamp(fresh) == (rewrite.count("\n"), stamp(fresh)[1])
    assert values(running) == values(fresh)


def test_a_file_replaced_by_the_same_bytes_keeps_its_epoch(data_dir: Path) -> None:
    path = data_dir / "cpu.csv"
    path.write_text(HEADER + ROWS)
    folder = DataFolder(Store(), data_dir)
    folder.scan()
    old = stamp(folder)
    aside = data_dir / "cpu.tmp"
    aside.write_text(HEADER + ROWS)
    aside.replace(path)  # another inode, the same points: nothing to redraw
    folder.scan()
    assert stamp(folder) == old


def test_another_date_order_is_another_epoch(data_dir: Path) -> None:
    (data_dir / "cpu.csv").write_text("date,cpu\n01/02/2024,1\n03/04/2024,2\n")
    mdy, dmy = DataFolder(Store(), data_dir), DataFolder(Store(), data_dir, date_order="DMY")
    mdy.scan()
    dmy.scan()
    # The same bytes read as other instants are other points: versions do not compare.
    assert stamp(mdy)[0] == stamp(dmy)[0] == 3 and stamp(mdy)[1] != stamp(dmy)[1]


def test_a_file_made_by_ingest_reads_back_under_its_version_and_epoch(data_dir: Path) -> None:
    folder = DataFolder(Store(), data_dir)
    folder.append("cpu", DecodedBody([{"timestamp": "2024-05-01T00:00:00Z", "cpu": 1}]))
    assert stamp(folder)[0] == 2  # the header and one row
    restarted = DataFolder(Store(), data_dir)
    restarted.scan()
    assert stamp(restarted) == stamp(folder) and values(restarted) == [1.0]
    folder.append("cpu", DecodedBody([{"timestamp": "2024-05-01T00:01:00Z", "cpu": 2},
                                      {"timestamp": "2024-05-01T00:02:00Z", "cpu": 3}]))
    assert stamp(folder)[0] == 4
    again = DataFolder(Store(), data_dir)
    again.scan()
    assert stamp(again)[0] == stamp(folder)[0] and values(again) == [1.0, 2.0, 3.0]
