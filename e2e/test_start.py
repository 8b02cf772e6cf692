"""A second server never starts beside the first: not on its port (eventlet's SO_REUSEPORT
let it, and the kernel split the connections), not on its data folder (two servers
appending to the same files lost acknowledged points)."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from e2e.conftest import ROOT, START_TIMEOUT, Server, _server_environment, free_port, run_server


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
