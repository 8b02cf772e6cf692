"""The log under faults: every system call of an ingest may fail (disk full, I/O error), tear
a write in half, or be where the process dies. Whatever happens, every acknowledged batch
reads back whole after a restart, and no other batch does, in memory or on disk."""
from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.data.disk import Disk
from app.data.errors import Conflict, DataError, StorageFull, Unavailable
from app.data.folder import DataFolder
from app.data.ingest import DecodedBody
from app.data.store import Store

HEADER = "timestamp,cpu,host\n"
START = HEADER + "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,b\n"
BATCHES = 2  # sent one after the other; the fault hits one of them (or the next)


class Crash(BaseException):
    """The process dies at this call (kill -9): nothing after it runs, no handler sees it."""


class FaultyDisk(Disk):
    """Fails call number ``fail_at`` (counting every call), the way ``mode`` says:
    ``fail`` raises ``OSError(code)``, ``torn`` writes half of a write then raises it,
    ``crash`` dies there (after half of a write). ``also(op)`` names more calls to fail."""

    def __init__(self, fail_at: int = -1, code: int = errno.EIO, mode: str = "fail") -> None:
        self.fail_at, self.code, self.mode = fail_at, code, mode
        self.also: Any = lambda op, args: False
        self.calls = 0
        self.fired: str | None = None
        self.data_fds: set[int] = set()  # descriptors of a data file opened for appending

    def _fault(self, op: str, args: tuple[Any, ...]) -> bool:
        self.calls += 1
        if self.calls != self.fail_at and not self.also(op, args):
            return False
        self.fired = self.fired or op
        return True

    def _raise(self) -> None:
        if self.mode == "crash":
            raise Crash
        raise OSError(self.code, os.strerror(self.code))

    def open(self, path: Path, flags: int, mode: int = 0o644) -> int:
        if self._fault("open", (path, flags)):
            self._raise()
        fd = super().open(path, flags, mode)
        if Path(path).suffix == ".csv" and flags & os.O_RDWR:
            self.data_fds.add(fd)
        return fd

    def close(self, fd: int) -> None:
        self.data_fds.discard(fd)
        if self._fault("close", (fd,)):
            super().close(fd)  # a failed close still releases the descriptor
            self._raise()
        super().close(fd)

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if self._fault("pwrite", (fd,)):
            if self.mode in ("torn", "crash") and len(data) > 1:
                super().pwrite(fd, data[:len(data) // 2], offset)
            self._raise()
        return super().pwrite(fd, data, offset)

    def append(self, fd: int, data: bytes | memoryview) -> int:
        """``torn``: half of it goes, as when the disk fills up mid-write (the next call
        then fails); ``crash``: the process dies with half of it written."""
        if self._fault("append", (fd,)):
            if self.mode == "torn" and len(data) > 1:
                self.fail_at = self.calls + 1  # and the rest cannot be written either
                return super().append(fd, data[:len(data) // 2])
            if self.mode == "crash" and len(data) > 1:
                super().append(fd, data[:len(data) // 2])
            self._raise()
        return super().append(fd, data)


def _wrap(op: str) -> Any:
    def call(self: FaultyDisk, *args: Any) -> Any:
        if self._fault(op, args):
            self._raise()
        return getattr(Disk, op)(self, *args)
    return call


for _op in ("stat", "lstat", "fstat", "pread", "position", "fsync", "ftruncate", "replace",
            "unlink"):
    setattr(FaultyDisk, _op, _wrap(_op))


def batch(n: int) -> DecodedBody:
    """Batch ``n``: two points, cpu 100n and 100n+1, host h<n>."""
    return DecodedBody([{"timestamp": f"2024-05-01T01:{n:02d}:00Z", "cpu": 100 * n,
                         "host": f"h{n}"},
                        {"timestamp": f"2024-05-01T01:{n:02d}:30Z", "cpu": 100 * n + 1,
                         "host": f"h{n}"}])


def rows(store: Store, name: str) -> list[float]:
    dataset = store.find(name)
    return sorted(dataset.snapshot().merged().value.tolist()) if dataset is not None else []


def expected(start: list[float], acked: list[int]) -> list[float]:
    return sorted(start + [v for n in acked for v in (100.0 * n, 100.0 * n + 1)])


def setup(data_dir: Path, target: str) -> tuple[str, list[float]]:
    """The dataset the batches go to, and the values it starts with."""
    if target == "file":
        (data_dir / "cpu.csv").write_text(START)
        return "cpu", [1.0, 2.0]
    if target == "emptied":
        (data_dir / "cpu.csv").write_text(START)
        DataFolder(Store(), data_dir).scan()
        (data_dir / "cpu.csv").write_text("")  # `: > cpu.csv`: the old rows are gone
        return "cpu", []
    return "fresh", []  # no file yet: the first batch creates it


def send(folder: DataFolder, name: str) -> tuple[list[int], list[DataError], bool]:
    """Send every batch; (acknowledged, refusals, crashed)."""
    acked: list[int] = []
    refused: list[DataError] = []
    for n in range(1, BATCHES + 1):
        try:
            folder.append(name, batch(n))
        except DataError as exc:
            refused.append(exc)
            folder.scan()  # what the scanner does meanwhile: it must not read torn bytes
        except Crash:
            return acked, refused, True
        else:
            acked.append(n)
    return acked, refused, False


def fault_free_calls(tmp_path: Path, target: str) -> int:
    data_dir = tmp_path / "count"
    data_dir.mkdir()
    name, _ = setup(data_dir, target)
    disk = FaultyDisk()
    folder = DataFolder(Store(), data_dir, disk=disk)
    folder.scan()
    disk.calls = 0
    assert send(folder, name)[0] == list(range(1, BATCHES + 1))
    return disk.calls


def scenarios(tmp_path: Path, target: str) -> Iterator[tuple[int, Path]]:
    for fail_at in range(1, fault_free_calls(tmp_path, target) + 1):
        data_dir = tmp_path / f"run{fail_at}"
        data_dir.mkdir()
        yield fail_at, data_dir


@pytest.mark.parametrize("target", ["file", "fresh", "emptied"])
@pytest.mark.parametrize("mode, code", [("fail", errno.ENOSPC), ("torn", errno.EIO),
                                        ("crash", 0)])
def test_every_acknowledged_batch_and_no_other_survives_any_single_fault(
        tmp_path: Path, target: str, mode: str, code: int) -> None:
    fired: set[str | None] = set()
    for fail_at, data_dir in scenarios(tmp_path, target):
        name, start = setup(data_dir, target)
        disk = FaultyDisk(code=code, mode=mode)
        folder = DataFolder(Store(), data_dir, disk=disk)
        folder.scan()
        disk.calls, disk.fail_at = 0, fail_at
        acked, refused, crashed = send(folder, name)
        where = f"fault at call {fail_at} ({disk.fired}, {mode})"
        fired.add(disk.fired)
        if not crashed:
            # Alive: memory holds exactly the acknowledged batches, and so does the file.
            assert rows(folder.store, name) == expected(start, acked), where
            assert len(acked) + len(refused) == BATCHES
            for exc in refused:
                if disk.fired in ("append", "pwrite", "fsync", "ftruncate"):
                    assert isinstance(exc, StorageFull if code == errno.ENOSPC
                                      else Unavailable), where
                else:
                    assert isinstance(exc, (StorageFull, Unavailable, Conflict)), where
        restarted = DataFolder(Store(), data_dir)
        restarted.scan()
        survivors = acked
        if crashed and rows(restarted.store, name) != expected(start, acked):
            # Died after the batch in flight was whole on disk but before it was
            # acknowledged: it may stay, whole (no process can tell a reply was received).
            survivors = [*acked, len(acked) + 1]
        assert rows(restarted.store, name) == expected(start, survivors), where
        if expected(start, survivors):  # (an emptied file that stayed empty shows that)
            assert restarted.store.error(name) is None, where
        # The log goes on: a batch after the restart is stored and read back too.
        restarted.append(name, batch(9))
        again = DataFolder(Store(), data_dir)
        again.scan()
        assert rows(again.store, name) == expected(start, [*survivors, 9]), where
    assert {"append" if target == "file" else "pwrite", "fsync", "open",
            "replace" if target != "file" else "pread"} <= fired


@pytest.mark.parametrize("restart_first", [True, False])
def test_a_write_that_cannot_even_be_rolled_back_is_never_read_and_dropped_later(
        tmp_path: Path, restart_first: bool) -> None:
    """The data fsync fails, and so does every cut back: the torn bytes are never read;
    the next batch cuts them first, and a restart before that drops them too."""
    (tmp_path / "cpu.csv").write_text(START)
    disk = FaultyDisk()
    folder = DataFolder(Store(), tmp_path, disk=disk)
    folder.scan()
    folder.append("cpu", batch(1))
    disk.also = lambda op, args: op == "ftruncate" or (op == "fsync" and args[0] in disk.data_fds)
    with pytest.raises(Unavailable, match=r"writing cpu\.csv failed"):
        folder.append("cpu", batch(2))
    assert (tmp_path / "cpu.csv").stat().st_size > len(START) + 60  # still there, torn
    disk.also = lambda op, args: False
    folder.scan()
    assert rows(folder.store, "cpu") == expected([1.0, 2.0], [1])
    if restart_first:
        folder = DataFolder(Store(), tmp_path)
        folder.scan()
        assert rows(folder.store, "cpu") == expected([1.0, 2.0], [1])
    folder.append("cpu", batch(3))
    assert rows(folder.store, "cpu") == expected([1.0, 2.0], [1, 3])
    restarted = DataFolder(Store(), tmp_path)
    restarted.scan()
    assert rows(restarted.store, "cpu") == expected([1.0, 2.0], [1, 3])


def test_an_unreadable_file_is_a_409_on_ingest_and_the_error_clears_when_fixed(
        tmp_path: Path) -> None:
    """(As root, chmod 000 does not stop reads: the permission error is injected.)"""
    (tmp_path / "cpu.csv").write_text(START)
    disk = FaultyDisk()
    folder = DataFolder(Store(), tmp_path, disk=disk)
    folder.scan()
    denied = True
    disk.code = errno.EACCES
    disk.also = lambda op, args: denied and op == "open" and Path(args[0]).name == "cpu.csv"
    os.chmod(tmp_path / "cpu.csv", 0)
    assert folder.scan() == {"cpu"}
    assert folder.store.error("cpu") == "cannot read cpu.csv: Permission denied"
    assert rows(folder.store, "cpu") == [1.0, 2.0]  # the last good data stays
    for _ in range(2):
        with pytest.raises(Conflict, match=r"cpu\.csv exists but cannot be read: cannot read "
                                           r"cpu\.csv: Permission denied"):
            folder.append("cpu", batch(1))
    assert (tmp_path / "cpu.csv").read_text() == START
    denied = False
    os.chmod(tmp_path / "cpu.csv", 0o644)  # fixed: only its ctime says so
    folder.append("cpu", batch(2))
    assert folder.store.error("cpu") is None
    assert rows(folder.store, "cpu") == expected([1.0, 2.0], [2])


@pytest.mark.parametrize("dataset", ["cpu", "new"])
def test_a_read_only_file_system_is_a_503_saying_so_and_nothing_is_stored(
        tmp_path: Path, dataset: str) -> None:
    """(A tmpfs cannot be remounted read-only while the server holds files open for writing:
    the error is injected.) Before: a 409 for an existing file, "fix its permissions"."""
    (tmp_path / "cpu.csv").write_text(START)
    disk = FaultyDisk(code=errno.EROFS)
    folder = DataFolder(Store(), tmp_path, disk=disk)
    folder.scan()
    disk.also = lambda op, args: op == "open" and args[1] & (os.O_RDWR | os.O_WRONLY)
    with pytest.raises(Unavailable, match=rf"^the file system of {dataset}\.csv is read-only: "
                                          "the batch was not stored") as refused:
        folder.append(dataset, batch(1))
    assert refused.value.retry_after == 5
    assert (tmp_path / "cpu.csv").read_text() == START
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu.csv"]
    assert rows(folder.store, "cpu") == [1.0, 2.0] and folder.store.find("new") is None


class Unlistable(type(Path())):
    """A folder whose listing fails as it does when the process is out of descriptors."""

    def glob(self, pattern: str) -> Any:
        raise OSError(errno.EMFILE, "Too many open files")


def test_a_folder_that_cannot_be_listed_is_logged_once_a_minute_not_every_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import time

    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    folder = DataFolder(Store(), tmp_path)
    listable = folder.directory
    folder.directory = Unlistable(tmp_path)
    with caplog.at_level("INFO", logger="dash.files"):
        for _ in range(50):  # ten seconds of passes, five a second
            assert folder.scan() == set()
            now[0] += 0.2
        now[0] += 50.0  # a minute after the first error: logged again
        folder.scan()
        folder.scan()
        folder.directory = listable
        folder.scan()
        folder.scan()
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events == ["scan_error", "scan_error", "scan_recovered"]
    assert "Too many open files" in caplog.records[0].getMessage() + str(
        getattr(caplog.records[0], "error", ""))
