"""Real redis-server and nginx as subprocesses on loopback, for the cluster tests and benches.

Both run from the configuration the project ships (``deploy/redis.conf``,
``deploy/nginx.conf.template``) with only the ports and folders overridden, in the
foreground, in their own process group (so a kill reaches nginx's workers too) and with
the parent-death signal set (so they die with the test run even if it is killed -9).
Debian's packages provide the binaries: ``tools/apt-ensure`` installs them.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy import nginx_config

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = os.environ.get("DASH_REDIS_SERVER", "/usr/bin/redis-server")
NGINX = os.environ.get("DASH_NGINX", nginx_config.NGINX)
REDIS_CONF = ROOT / "deploy" / "redis.conf"
START_TIMEOUT = 20.0  # seconds for a service to answer after it is started
STOP_TIMEOUT = 5.0  # seconds for a graceful stop before SIGKILL
SETPRIV = "/usr/bin/setpriv"


class ServiceError(RuntimeError):
    """A service that did not start or answer; the message carries its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(argv: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    # setpriv (util-linux, on every Debian) sets the parent-death signal and execs the
    # service, which keeps it: no preexec_fn, which is unsafe in a process with threads.
    if os.access(SETPRIV, os.X_OK):
        argv = [SETPRIV, "--pdeathsig", "KILL", *argv]
    with log_path.open("ab") as log_file:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes] | None, graceful: int) -> None:
    """Stop ``process`` and its process group: ``graceful`` first, SIGKILL if it lingers."""
    if process is None:
        return
    try:
        if process.poll() is None:
            os.killpg(process.pid, graceful)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left (workers)
    except ProcessLookupError:
        pass
    process.wait(timeout=STOP_TIMEOUT)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"


def _ping(port: int) -> bytes:
    """Redis's answer to PING on ``port`` (b"+PONG", b"-LOADING ...") or b"" if none."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(256).strip()
    except OSError:
        return b""


@dataclass
class RedisServer:
    """A redis-server on 127.0.0.1:``port`` keeping its AOF in ``data_dir``."""

    port: int
    data_dir: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``DASH_REDIS_URL`` of this server (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        """The command line: the shipped config, then this server's port and folder."""
        return [REDIS_SERVER, str(REDIS_CONF), "--port", str(self.port),
                "--bind", "127.0.0.1", "--dir", str(self.data_dir), "--daemonize", "no",
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--protected-mode", "yes", *self.extra_args]

    def start(self) -> None:
        """Start it (again, on the same port and folder) and wait until it answers PING."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = _spawn(self.argv(), self.log_path, self.data_dir)
        deadline = time.monotonic() + START_TIMEOUT
        while (answer := _ping(self.port)) != b"+PONG":  # -LOADING while it reads its AOF
            if self.process.poll() is not None:
                raise ServiceError(f"redis-server exited with status {self.process.returncode}"
                                   f"; its log:\n{self.log()}")
            if time.monotonic() > deadline:
                raise ServiceError(f"redis-server did not answer PING on port {self.port} "
                                   f"within {START_TIMEOUT:.0f} s (last answer {answer!r})"
                                   f"; its log:\n{self.log()}")
            time.sleep(0.02)  # start-up polling only

    def stop(self) -> None:
        """Shut it down cleanly (SIGTERM: it fsyncs the AOF and exits)."""
        _stop(self.process, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL it: what a crash or a power cut leaves is what the AOF has."""
        _stop(self.process, signal.SIGKILL)

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything redis-server has written so far (over every start)."""
        return _read(self.log_path)


@contextmanager
def redis_server(workdir: Path, port: int | None = None,
                 extra_args: list[str] | None = None) -> Iterator[RedisServer]:
    """Run redis-server with its data in ``workdir``/redis; killed on exit, whatever state."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(port=port or free_port(), data_dir=workdir / "redis",
                         log_path=workdir / "redis.log", extra_args=list(extra_args or []))
    try:
        server.start()
        yield server
    finally:
        server.kill()


@dataclass
class NginxProxy:
    """nginx on 127.0.0.1:``port`` in front of ``upstreams``, with the shipped config."""

    port: int
    prefix: Path
    upstreams: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Write the configuration, check it (``nginx -t``), start nginx, wait for its port."""
        nginx_config.write_local(self.prefix, self.upstreams, f"127.0.0.1:{self.port}")
        # One process, no master: if the test run is killed, nginx dies with it.
        argv = nginx_config.command(self.prefix, NGINX, single_process=True)
        check = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise ServiceError(f"nginx refused its configuration:\n{check.stderr}")
        self.process = _spawn(argv, self.prefix / "nginx.out", self.prefix)
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(self.port):
            if self.process.poll() is not None:
                raise ServiceError(f"nginx exited with status {self.process.returncode}; "
                                   f"its log:\n{self.log()}")
            if time.monotonic() > deadline:
                raise ServiceError(f"nginx did not listen on port {self.port} within "
                                   f"{START_TIMEOUT:.0f} s; its log:\n{self.log()}")
            time.sleep(0.02)  # start-up polling only

    def restart(self, upstreams: list[str] | None = None) -> None:
        """Stop, then start again on the same port (in front of ``upstreams`` if given).

        A restart, not a SIGHUP reload: without a master process nginx's reload keeps
        the old upstreams and fails requests ("worker_connections are not enough").
        """
        self.stop()
        if upstreams is not None:
            self.upstreams = list(upstreams)
        self.start()

    def stop(self) -> None:
        """Stop nginx and its workers (SIGTERM: at once, open requests are cut)."""
        _stop(self.process, signal.SIGTERM)

    def log(self) -> str:
        """nginx's error log and anything it printed."""
        return _read(self.prefix / "error.log") + _read(self.prefix / "nginx.out")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


@contextmanager
def nginx_proxy(workdir: Path, upstreams: list[str],
                port: int | None = None) -> Iterator[NginxProxy]:
    """Run nginx in ``workdir``/nginx in front of ``upstreams`` ("host:port"); stopped on exit."""
    proxy = NginxProxy(port=port or free_port(), prefix=workdir / "nginx",
                       upstreams=list(upstreams))
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()
