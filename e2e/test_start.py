"""A second server never starts beside the first: not on its port (eventlet's SO_REUSEPORT
let it, and the kernel split the connections), not on its data folder (two servers
appending to the same files lost acknowledged points)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from e2e.conftest import (
    ADMIN_TOKEN,
    ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Server,
    _server_environment,
    free_port,
    run_server,
)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(tmp_path_factory.mktemp("first"), demo=False) as running:
        yield running


def second(port: int, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Start another ``python wsgi.py``; it must exit by itself."""
    return subprocess.run([sys.executable, "wsgi.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=START_TIMEOUT,
                          env=_server_environment(port, data_dir, demo=False))


def test_a_second_server_on_the_same_data_folder_refuses_to_start(first: Server) -> None:
    done = second(free_port(), first.data_dir)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"realtime-dash cannot start: process {first.process.pid} serves the data folder "
        f"{first.data_dir} already")
    assert first.post_points("still", [{"timestamp": "2024-05-01T00:00:00Z", "v": 1}])[
        "accepted"] == 1


def test_a_second_server_on_the_same_port_refuses_to_start(
        first: Server, tmp_path: Path) -> None:
    port = urlsplit(first.url).port
    assert port is not None
    done = second(port, tmp_path / "data")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"cannot listen on 127.0.0.1:{port}: another process listens there already "
        "(another realtime-dash?); stop it or set DASH_PORT")
    assert first.get_json("/healthz")["pid"] == first.process.pid


def checkout_copy(folder: Path) -> Path:
    """A checkout in ``folder`` as a fresh clone has it: this one's files (linked), its own
    ``dev``, and the Python environment running the tests as its ``.venv``."""
    folder.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {".venv", ".dash-secret", ".dash-admin-token", "dev", ".git"}:
            (folder / entry.name).symlink_to(entry)
    shutil.copy2(ROOT / "dev", folder / "dev")
    venv = ROOT / ".venv" if (ROOT / ".venv").exists() else Path(sys.prefix)
    (folder / ".venv").symlink_to(venv)
    return folder


@pytest.mark.parametrize("admin_token", ["from the environment", "made by ./dev"])
def test_dev_serve_says_where_the_admin_token_comes_from(tmp_path: Path,
                                                         admin_token: str) -> None:
    checkout = checkout_copy(tmp_path / "checkout")
    port = free_port()
    env = _server_environment(port, tmp_path / "data", demo=False)
    if admin_token == "made by ./dev":
        del env["DASH_ADMIN_TOKEN"]
    err = tmp_path / "dev.err"
    with err.open("wb") as sink:
        process = subprocess.Popen([str(checkout / "dev"), "serve"], cwd=checkout, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=sink)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "To edit dashboards" not in (said := err.read_text(errors="replace")):
            assert process.poll() is None, f"./dev serve exited:\n{said}"
            assert time.monotonic() < deadline, f"./dev serve never said how to sign in:\n{said}"
            time.sleep(0.1)  # start-up polling only
    finally:
        process.terminate()
        process.wait(STOP_TIMEOUT)
    line = next(line for line in said.splitlines() if line.startswith("To edit dashboards"))
    login = f"http://127.0.0.1:{port}/login"
    made = checkout / ".dash-admin-token"
    if admin_token == "made by ./dev":
        assert line == (f"To edit dashboards, sign in at {login} with the admin token kept in "
                        f".dash-admin-token: {made.read_text().strip()}")
    else:  # before: "... (DASH_ADMIN_TOKEN, kept in .dash-admin-token): e2e-admin"
        assert line == (f"To edit dashboards, sign in at {login} with the admin token you set "
                        "in DASH_ADMIN_TOKEN.")
        assert ADMIN_TOKEN not in said and not made.exists()
