"""What the benchmarks launch and read back: the product's server (``wsgi.py`` on a free
loopback port, stopped when done), client processes that say when they are ready, the
fan-out times the server logs, and the CPU a process used.

Every benchmark that runs the real server starts it here, with the same environment:
its own ``DASH_*`` settings only, an ingest token, a fresh secret key.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
START_TIMEOUT = 20.0  # seconds for /healthz to answer


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: str, extra: Mapping[str, str] | None = None,
                 log: Any = subprocess.DEVNULL, root: Path = ROOT,
                 timeout: float = START_TIMEOUT) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``root``'s wsgi.py over ``data_dir`` (its stderr to ``log``, ``extra`` settings
    over the defaults) and wait at most ``timeout`` s for /healthz: the process and its
    URL. ``SystemExit`` if it does not answer or exits first."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
    env.update(DASH_PORT=str(port), DASH_DATA_DIR=data_dir, DASH_INGEST_TOKEN=TOKEN,
               DASH_SECRET_KEY=secrets.token_hex(16), DASH_LOG_LEVEL="WARNING")
    env.update(extra or {})
    process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
            return process, url
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


def post_points(url: str, dataset: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    """POST ``points`` (JSON objects) to ``dataset`` of the server at ``url`` with the bench's
    ingest token: its 200 answer. ``urllib.error.HTTPError`` on any other status."""
    request = urllib.request.Request(
        f"{url}/api/d/{dataset}/points", data=json.dumps(points).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


@contextmanager
def server(data_dir: str, extra: Mapping[str, str] | None = None,
           log: Any = subprocess.DEVNULL,
           root: Path = ROOT) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``start_server``, stopped (SIGTERM, then waited for 10 s at most) on the way out."""
    process, url = start_server(data_dir, extra, log, root)
    try:
        yield process, url
    finally:
        process.terminate()
        process.wait(10)


def wait_ready(clients: Iterable[subprocess.Popen[str]], timeout: float) -> None:
    """Wait for each client process's "ready" line, ``timeout`` seconds in all;
    ``SystemExit`` quoting the line of the first that says anything else or is late."""
    deadline = time.monotonic() + timeout
    for process in clients:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready" or time.monotonic() > deadline:
            raise SystemExit(f"a client process did not get ready: {line!r}")


def fanout_ms(log: IO[bytes]) -> list[float]:
    """Every fan-out's milliseconds, from change to last write, that a server logged at
    DEBUG into ``log`` (read from its start)."""
    log.seek(0)
    return [json.loads(line)["ms"] for line in log if b'"event": "fanout"' in line]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds process ``pid`` has used: (in all, in the kernel)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system, times.system
