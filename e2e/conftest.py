"""Browser-test fixtures: Debian's chromium, and the real server (``python wsgi.py``).

The server always runs in its own process: eventlet monkey-patches whatever
imports it, so it is never imported into pytest.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
START_TIMEOUT = 20.0  # seconds for the server to answer /healthz
STOP_TIMEOUT = 5.0  # seconds for each of terminate and kill
SCAN_INTERVAL = "0.2"  # the data folder is rescanned this often (seconds)
DEMO_INTERVAL = "0.5"  # the demo stream ticks this often (seconds)
INGEST_TOKEN = "e2e-token"  # DASH_INGEST_TOKEN of every test server
ADMIN_TOKEN = "e2e-admin"  # DASH_ADMIN_TOKEN of every test server (dashboard writes)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's chromium (Playwright cannot download its own browsers here), headless."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("DASH_CHROMIUM", "/usr/bin/chromium"),
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@dataclass
class Server:
    """A running ``wsgi.py``: its base URL, its data folder, and its log."""

    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"

    def post_points(self, name: str, points: list[dict[str, Any]]) -> dict[str, Any]:
        """Ingest ``points`` into dataset ``name``; the parsed 200 answer (raises otherwise)."""
        request = urllib.request.Request(
            f"{self.url}/api/d/{name}/points", data=json.dumps(points).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {INGEST_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def put_dashboard(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Create or replace dashboard ``name`` with the admin token; the parsed answer."""
        request = urllib.request.Request(
            f"{self.url}/api/dashboards/{name}", data=json.dumps(doc).encode(), method="PUT",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {ADMIN_TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def get_json(self, path: str) -> Any:
        """GET ``path`` and parse the JSON answer."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def write_csv(self, name: str, text: str) -> Path:
        """Put ``<name>.csv`` into the data folder in one step (written aside, then renamed)."""
        final = self.data_dir / f"{name}.csv"
        partial = self.data_dir / f".{name}.csv.part"
        partial.write_text(text)
        os.replace(partial, final)
        return final


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_environment(port: int, data_dir: Path, demo: bool,
                        extra: dict[str, str] | None = None) -> dict[str, str]:
    # Start from the caller's environment without any DASH_* setting, so a
    # developer's shell cannot change what the tests run against.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
    env.update(
        DASH_HOST="127.0.0.1",
        DASH_PORT=str(port),
        DASH_DATA_DIR=str(data_dir),
        DASH_SECRET_KEY=secrets.token_hex(32),
        DASH_DEMO="1" if demo else "0",
        DASH_SCAN_INTERVAL=SCAN_INTERVAL,
        DASH_DEMO_INTERVAL=DEMO_INTERVAL,
        PYTHONUNBUFFERED="1",
        DASH_INGEST_TOKEN=INGEST_TOKEN,
        DASH_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    env.update(extra or {})
    return env


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def run_server(workdir: Path, demo: bool, env: dict[str, str] | None = None,
               port: int | None = None) -> Iterator[Server]:
    """Run ``python wsgi.py`` with its data folder in ``workdir``; stop it on exit.

    Pass the ``port`` of a stopped server to start it again where browsers expect it.
    """
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "server.log"
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "wsgi.py"], cwd=ROOT,
            env=_server_environment(port, data_dir, demo, env),
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = Server(url=url, data_dir=data_dir, log_path=log_path, process=process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"the server exited with status {process.returncode} before "
                            f"answering {url}/healthz; its log:\n{server.log()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer {url}/healthz within "
                            f"{START_TIMEOUT:.0f} s; its log:\n{server.log()}", pytrace=False)
            time.sleep(0.1)  # start-up polling only; tests never sleep
        yield server
    finally:
        _stop(process)


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[Callable[..., Server]]:
    """Start extra servers in a test: ``server_factory(demo=True, env={...})``; all stop
    after it."""
    with ExitStack() as stack:
        def start(demo: bool = False, env: dict[str, str] | None = None) -> Server:
            workdir = tmp_path_factory.mktemp("server")
            context: AbstractContextManager[Server] = run_server(workdir, demo, env)
            return stack.enter_context(context)
        yield start


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module with the demo stream on and an empty data folder."""
    with run_server(tmp_path_factory.mktemp("demo-server"), demo=True) as server:
        yield server


@pytest.fixture
def live_server(server_factory: Callable[..., Server]) -> Server:
    """A fresh server for one test: demo off, its own empty data folder."""
    return server_factory(demo=False)
