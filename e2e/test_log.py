"""The CSV files as the log, against the real server: ingest writes only where it can read
back, a full disk rolls the batch back (507), and what was acknowledged survives a restart."""
from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import INGEST_TOKEN, Server, run_server

HEADER = "timestamp,cpu,host\n"
ROWS = "2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,b\n"


def post(server: Server, name: str, points: list[dict[str, Any]]) -> tuple[int, dict[str, Any],
                                                                          dict[str, str]]:
    """POST points; (status, JSON body, headers) whatever the status."""
    request = urllib.request.Request(
        f"{server.url}/api/d/{name}/points", data=json.dumps(points).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {INGEST_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def batch(n: int, size: int = 2) -> list[dict[str, Any]]:
    """Batch ``n``: ``size`` points with cpu 1000n, 1000n+1, ..."""
    return [{"timestamp": f"2024-05-02T{n // 60 % 24:02d}:{n % 60:02d}:{i % 60:02d}Z",
             "cpu": 1000 * n + i, "host": f"h{n}"} for i in range(size)]


def values(server: Server, name: str) -> list[float]:
    body = server.get_json(f"/api/d/{name}/rows?metric=cpu&agg=raw&format=json")
    return sorted(row["value"] for row in body["rows"])


def sent(batches: list[int], size: int = 2) -> list[float]:
    return sorted(float(1000 * n + i) for n in batches for i in range(size))


def error_of(server: Server, name: str) -> str | None:
    listed = {d["name"]: d for d in server.get_json("/api/datasets")}
    return listed[name]["error"] if name in listed else "(not listed)"


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A server folder whose data folder holds ``cpu.csv`` (two rows)."""
    folder = tmp_path_factory.mktemp("log")
    (folder / "data").mkdir()
    (folder / "data" / "cpu.csv").write_text(HEADER + ROWS)
    return folder


def test_an_emptied_file_gets_its_header_back_and_every_batch_survives_a_restart(
        workdir: Path) -> None:
    path = workdir / "data" / "cpu.csv"
    with run_server(workdir, demo=False) as server:
        assert values(server, "cpu") == [1.0, 2.0]
        with path.open("r+") as handle:  # `: > cpu.csv`
            handle.truncate(0)
        for n in (1, 2, 3):
            status, body, _ = post(server, "cpu", batch(n))
            assert status == 200, body
        assert path.read_text().startswith(HEADER)
        assert values(server, "cpu") == sent([1, 2, 3])
    with run_server(workdir, demo=False) as server:
        assert values(server, "cpu") == sent([1, 2, 3])


def _symlink(path: Path) -> Callable[[], None]:
    outside = path.parent.parent / "elsewhere.csv"
    outside.write_text(HEADER + ROWS)
    path.unlink()
    path.symlink_to(outside)
    return lambda: None


def _directory(path: Path) -> Callable[[], None]:
    path.unlink()
    path.mkdir()

    def fix() -> None:
        path.rmdir()
        path.write_text(HEADER + ROWS)
    return fix


def _other_header(path: Path) -> Callable[[], None]:
    with path.open("r+") as handle:  # in place, same inode: no timestamp column any more
        handle.write("when,how much\nyesterday,3\n")
        handle.truncate()

    def fix() -> None:
        path.write_text(HEADER + ROWS)
    return fix


@pytest.mark.parametrize("break_file, message", [
    (_symlink, "cpu.csv is a symbolic link"),
    (_directory, "cpu.csv is a directory"),
    (_other_header, "cpu.csv exists but cannot be read: cpu.csv: no timestamp column"),
], ids=["symlink", "directory", "another-header"])
def test_a_file_ingest_cannot_read_back_is_a_409_naming_it_until_it_is_fixed(
        workdir: Path, break_file: Callable[[Path], Callable[[], None]],
        message: str) -> None:
    path = workdir / "data" / "cpu.csv"
    with run_server(workdir, demo=False) as server:
        assert values(server, "cpu") == [1.0, 2.0]
        fix = break_file(path)
        before = sorted(p.name for p in path.parent.parent.rglob("*"))
        outside = path.parent.parent / "elsewhere.csv"
        target = outside.read_bytes() if outside.exists() else None
        for _ in range(2):  # the second answer the same: nothing was half done
            status, body, _ = post(server, "cpu", batch(1))
            assert (status, body["error"][:len(message)]) == (409, message)
        assert sorted(p.name for p in path.parent.parent.rglob("*")) == before
        if target is not None:
            assert outside.read_bytes() == target  # nothing written outside the folder
        if path.is_symlink():
            return
        fix()
        status, body, _ = post(server, "cpu", batch(2))  # ingest looks at the file itself
        assert status == 200, body
        assert error_of(server, "cpu") is None
        assert values(server, "cpu") == [1.0, 2.0, *sent([2])]


@pytest.fixture
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A server folder whose data folder is a 256 KiB tmpfs (skipped where mounting is not
    allowed, e.g. in an unprivileged container)."""
    folder = tmp_path_factory.mktemp("full")
    data = folder / "data"
    data.mkdir()
    mount = shutil.which("mount")
    result = subprocess.run([mount or "mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                             str(data)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(data)], check=False)


def test_a_full_disk_is_a_507_and_rolls_the_batch_back(small_disk: Path) -> None:
    data = small_disk / "data"
    acked: list[int] = []
    with run_server(small_disk, demo=False) as server:
        status, body, _ = post(server, "cpu", batch(0, 50))  # creates cpu.csv
        assert status == 200, body
        acked.append(0)
        ballast = data / "ballast"
        with ballast.open("wb") as handle:  # most of the rest of the disk
            handle.write(b"\0" * (200 * 1024))
        refused = 0
        for n in range(1, 60):  # bounded: ~3 KB a batch fills the rest in a few
            status, body, _ = post(server, "cpu", batch(n, 50))
            if status == 200:
                acked.append(n)
                continue
            assert status == 507, body
            assert body["error"].startswith("no space left for cpu.csv: the batch was not "
                                            "stored")
            refused += 1
            file_size = (data / "cpu.csv").stat().st_size
            if refused == 3:
                break
        assert refused == 3
        assert (data / "cpu.csv").stat().st_size == file_size  # rolled back every time
        assert values(server, "cpu") == sent(acked, 50)
        ballast.unlink()  # space again: the same dataset takes batches again
        status, body, _ = post(server, "cpu", batch(99, 50))
        assert status == 200, body
        acked.append(99)
    with run_server(small_disk, demo=False) as server:
        assert values(server, "cpu") == sent(acked, 50)
