"""``./dev cluster N``'s supervisor: Redis, N product processes and nginx, in the foreground.

    python -m deploy.cluster N [--admin-token-from file|environment]

run from the checkout by ``./dev cluster`` once the venv and the secrets are there. It
starts Debian's ``redis-server`` (``deploy/redis.conf``), the processes (``wsgi.py`` on
DASH_PORT+1...) and nginx on DASH_PORT, then watches them until Ctrl-C, SIGTERM or SIGHUP:

- a product process that dies starts again after ``RESTART_DELAY`` s; one that dies again
  within ``CRASH_LOOP`` s of that is left down, saying so with its log's last line;
- but a process that died or was refused while Redis does not answer is waiting for Redis,
  not crash-looping: it starts again, with backoff, once Redis answers PING;
- redis-server or nginx dying stops everything (exit status 1), naming it.

Every child runs in a process group of its own (so stopping nginx stops its workers too),
inherits no descriptor but its log (the folder's lock stays with this process), and gets
SIGTERM from the kernel if this process dies, even by ``kill -9`` (PR_SET_PDEATHSIG).
Standard library only: it runs before anything else is needed.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deploy import nginx_config

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = "/usr/bin/redis-server"
RESTART_DELAY = 2.0  # seconds before a dead product process starts again
CRASH_LOOP = 10.0  # a process dying again within this many seconds of a restart is left down
REDIS_RETRY_FIRST = 1.0  # seconds between PINGs while a process waits for Redis, doubling...
REDIS_RETRY_MAX = 16.0  # ...up to this
START_TIMEOUT = 60.0  # seconds for a process to answer /healthz (~2 s measured on 2 cores)
STOP_TIMEOUT = 10.0  # seconds for SIGTERM before SIGKILL when stopping
TICK = 0.2  # seconds between looks at the children: a few waitpid calls, no new process
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Stop(Exception):
    """End the supervisor with exit status ``code`` (after stopping everything)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def say(text: str) -> None:
    """One line to stderr, unbuffered; a terminal that went away is not an error here."""
    try:
        os.write(2, (text + "\n").encode())
    except OSError:
        pass


# -- the decisions, kept apart from the processes so they can be tested ------------------

def how_it_ended(status: int) -> str:
    """"exited with status 1", or "was killed by SIGKILL" for a Popen returncode of -9."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def refused_for_redis(last_line: str) -> bool:
    """True if a process's last log line is its refusal to start because Redis is away
    (app.cluster: "… cannot start: cluster mode cannot start: Redis at … unreachable …")."""
    return "cannot start" in last_line and "unreachable" in last_line


def redis_retry_delay(attempt: int) -> float:
    """Seconds before the ``attempt``-th (0, 1, ...) look for Redis: 1, 2, 4, 8, 16, 16..."""
    return float(min(REDIS_RETRY_FIRST * 2.0 ** min(attempt, 16), REDIS_RETRY_MAX))


def after_exit(since_restart: float | None, redis_away: bool) -> str:
    """What to do with a product process that ended: "wait for redis" (Redis does not
    answer, or it said so), "left down" (it died again within CRASH_LOOP s of being started
    again: a crash loop), or "restart". ``since_restart`` is None for a first start."""
    if redis_away:
        return "wait for redis"
    if since_restart is not None and since_restart < CRASH_LOOP:
        return "left down"
    return "restart"


def port_problem(port: int, count: int, redis_port: int,
                 taken: Callable[[int], bool]) -> str | None:
    """Why ports ``port``..``port``+``count`` (nginx, then the processes) and ``redis_port``
    cannot be used, as one line saying what to change; None if they can."""
    if not 1 <= port <= 65535 - count:
        return (f"DASH_PORT={port} leaves no room for nginx and {count} "
                f"process{'es' if count != 1 else ''} (ports {port}-{port + count})")
    if port <= redis_port <= port + count:
        return (f"DASH_CLUSTER_REDIS_PORT={redis_port} is inside the cluster's ports "
                f"{port}-{port + count} (nginx on DASH_PORT, the processes on the next "
                f"{count}): move one of them")
    for candidate in range(port, port + count + 1):
        if taken(candidate):
            return (f"port {candidate} is taken (something listens there): the cluster needs "
                    f"ports {port}-{port + count} (nginx on DASH_PORT, the processes on the "
                    f"next {count}); stop what uses it, or set DASH_PORT to move them all")
    if taken(redis_port):
        return (f"port {redis_port} is taken (something listens there): stop that service, "
                "or set DASH_CLUSTER_REDIS_PORT to another port for the cluster's Redis")
    return None


def port_taken(port: int) -> bool:
    """True if 127.0.0.1:``port`` cannot be listened on (a listener there, or anywhere)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def last_line(path: Path, limit: int = 65536) -> str:
    """The last non-blank line of the file at ``path`` ("" if none), from its last
    ``limit`` bytes."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - limit))
            lines = file.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def keep_previous_logs(logs: Path) -> None:
    """Move the last run's logs to ``logs``/previous/ (replacing the run before it)."""
    files = [path for path in logs.glob("*.log") if path.is_file()] if logs.is_dir() else []
    if not files:
        return
    previous = logs / "previous"
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir(parents=True)
    for path in files:
        path.rename(previous / path.name)


def holders(path: Path, proc: Path = Path("/proc")) -> list[int]:
    """Pids of the processes with the file at ``path`` open (from ``proc``/*/fd)."""
    target = str(path.resolve())
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    found.append(int(entry.name))
                    break
            except OSError:  # closed meanwhile (this scan's own directory, for one)
                continue
    return sorted(found)


def command_line(pid: int) -> str:
    """The command line of process ``pid``, shortened; "?" if it cannot be read."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in argv if part) or "?"
    return text if len(text) <= 80 else text[:77] + "..."


def alive(pid: int) -> bool:
    """True if a process ``pid`` exists (a zombie counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_refusal(folder: Path, holder_pid: int | None, pids: Iterable[int]) -> str:
    """Why ``folder``/lock is busy, and how to free it: its holder (``holder_pid``, as
    written in it) still runs, or it is dead and ``pids`` (its orphans) hold the lock."""
    if holder_pid is not None and alive(holder_pid):
        return (f"another ./dev cluster (pid {holder_pid}) already uses {folder}/ in this "
                "checkout: stop it first (Ctrl-C in its terminal), or set DASH_CLUSTER_DIR "
                "to another folder")
    pids = list(pids)
    named = "; ".join(f"{pid} ({command_line(pid)})" for pid in pids) or "?"
    return (f"{folder}/lock is still held, though the ./dev cluster that took it "
            f"(pid {holder_pid if holder_pid is not None else '?'}) is gone: by {named}. "
            f"Stop {'them' if len(pids) != 1 else 'it'} with kill {' '.join(map(str, pids))} "
            f"(kill -9 if {'they stay' if len(pids) != 1 else 'it stays'}), then start again")


def ingest_note(environ: dict[str, str], port: int, count: int) -> str:
    """The banner's line about ingest: on (and where the token comes from) or off."""
    if environ.get("DASH_INGEST_TOKEN"):
        return (f"Ingest is on: POST http://127.0.0.1:{port}/api/ingest/<name> with the "
                "token you set in DASH_INGEST_TOKEN.")
    return ("Ingest is off: start with DASH_INGEST_TOKEN=<a secret> ./dev cluster "
            f"{count} to turn it on.")


def plural(count: int, noun: str) -> str:
    """"1 process", "3 processes"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}es"


# -- the processes ------------------------------------------------------------------------

def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: SIGTERM this child when ``parent`` dies (however it dies)."""
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: the child only calls

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # it died between the fork and the prctl
            os._exit(1)
    return preexec


@dataclass
class Part:
    """One child: redis-server, nginx, or product process ``index`` (1...)."""

    name: str
    argv: list[str]
    log: Path
    index: int | None = None
    port: int | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_again: float | None = None  # monotonic time of the latest restart
    redis_attempt: int = 0  # looks for Redis since it last ran
    waiting_said: bool = False
    due: float | None = None  # monotonic time of the next start, while it is down
    left_down: bool = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def where(self) -> str:
        return f"pid {self.pid}" + (f", port {self.port}" if self.port is not None else "")

    def start(self, marker: str | None = None) -> None:
        """Spawn it, appending to its log (after ``marker``, a line saying why)."""
        with self.log.open("ab") as log:
            if marker:
                log.write(f"---- ./dev cluster {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                          f"{marker} ----\n".encode())
                log.flush()
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()))
        self.due = None

    def reap(self) -> int | None:
        """Its exit status if it has ended (its process group's leftovers killed), else None."""
        if self.process is None:
            return None
        status = self.process.poll()
        if status is not None:
            kill_group(self.process.pid, signal.SIGKILL)  # nginx's workers outlive their master
        return status


def kill_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def http_ok(url: str) -> bool:
    """True if GET ``url`` answers 200 within 1 s (in this process: no new python each time)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def redis_answers(port: int, timeout: float = 1.0) -> bool:
    """True if Redis on 127.0.0.1:``port`` answers PING within ``timeout`` s."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as link:
            link.sendall(b"PING\r\n")
            return link.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class Cluster:
    """The supervisor's state: its folder, ports and children."""

    folder: Path
    port: int
    redis_port: int
    count: int
    parts: list[Part] = field(default_factory=list)
    lock_fd: int | None = None

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def products(self) -> list[Part]:
        return [part for part in self.parts if part.index is not None]

    def take_lock(self) -> None:
        """One cluster per folder: a second one would start another redis-server on the
        same AOF. The descriptor is not inherited (Python's default), so the lock goes
        with this process however it ends, and no orphan keeps it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            text = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            holder = int(text) if text.isdigit() else None
            say(lock_refusal(self.folder, holder, (pid for pid in holders(path)
                                                   if pid != os.getpid())))
            raise Stop(1) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.lock_fd = fd

    def wait_until(self, ready: Callable[[], bool], part: Part, timeout: float,
                   log_hint: Path) -> None:
        """Until ``ready()``; refuse (Stop 1) at once if ``part`` ends, saying its log's last
        line, or after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not ready():
            status = part.reap()
            if status is not None:
                say(f"{part.name} did not start: it {how_it_ended(status)}, saying: "
                    f"{last_line(log_hint) or '(nothing)'} (see {log_hint})")
                raise Stop(1)
            if time.monotonic() > deadline:
                say(f"{part.name} did not answer within {timeout:.0f} s: see {log_hint}")
                raise Stop(1)
            time.sleep(0.1)

    def run(self, environ: dict[str, str], admin_token_from: str) -> None:
        """Start everything, print the banner, then watch until a Stop."""
        problem = port_problem(self.port, self.count, self.redis_port, port_taken)
        if problem:
            say(problem)
            raise Stop(1)
        self.logs.mkdir(parents=True, exist_ok=True)
        keep_previous_logs(self.logs)
        (self.folder / "redis").mkdir(exist_ok=True)
        redis = Part("redis-server", [
            REDIS_SERVER, str(ROOT / "deploy" / "redis.conf"),
            "--dir", str((self.folder / "redis").resolve()), "--port", str(self.redis_port)],
            self.logs / "redis.log")
        self.parts.append(redis)
        redis.start()
        self.wait_until(lambda: redis_answers(self.redis_port), redis, 10, redis.log)
        env = {**environ, "DASH_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
               "DASH_DEMO": environ.get("DASH_DEMO", "1"), "DASH_HOST": "127.0.0.1",
               "DASH_TRUSTED_PROXIES": environ.get("DASH_TRUSTED_PROXIES", "127.0.0.1")}
        for index in range(1, self.count + 1):
            port = self.port + index
            part = Part(f"process {index}", [sys.executable, "wsgi.py"],
                        self.logs / f"process-{index}.log", index, port,
                        {**env, "DASH_PORT": str(port)})
            self.parts.append(part)
            part.start()
        for part in self.products:
            url = f"http://127.0.0.1:{part.port}/healthz"
            self.wait_until(lambda url=url: http_ok(url), part, START_TIMEOUT,  # type: ignore[misc]
                            part.log)
        prefix = self.folder / "nginx"
        upstreams = [f"127.0.0.1:{part.port}" for part in self.products]
        nginx_config.write_local(prefix, upstreams, f"127.0.0.1:{self.port}", logs=self.logs)
        nginx = Part("nginx", nginx_config.command(prefix, logs=self.logs),
                     self.logs / "nginx.log")
        self.parts.append(nginx)
        nginx.start()
        self.wait_until(lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"), nginx, 10,
                        nginx.log)
        say(f"realtime-dash cluster: http://127.0.0.1:{self.port} (nginx, sticky) in front of "
            f"{plural(self.count, 'process')} on "
            + (f"port {self.port + 1}" if self.count == 1
               else f"ports {self.port + 1}-{self.port + self.count}")
            + f", Redis on {self.redis_port}.")
        say(ingest_note(environ, self.port, self.count))
        login = f"http://127.0.0.1:{self.port}/login"
        if admin_token_from == "file":
            say(f"To edit dashboards, sign in at {login} with the admin token kept in "
                f".dash-admin-token: {environ.get('DASH_ADMIN_TOKEN', '')}")
        else:
            say(f"To edit dashboards, sign in at {login} with the admin token you set in "
                "DASH_ADMIN_TOKEN.")
        say(f"Logs in {self.logs}/ (the previous run's in {self.logs}/previous/); data in "
            f"{self.folder}/redis. Ctrl-C stops all.")
        self.watch()

    def watch(self) -> None:
        """Until a Stop: product processes started again, redis or nginx dying ends it."""
        while True:
            now = time.monotonic()
            for part in self.parts:
                if part.process is None or part.due is not None or part.left_down:
                    continue
                status = part.reap()
                if status is None:
                    continue
                if part.index is None:
                    say(f"{part.name} ({part.where()}) {how_it_ended(status)}: stopping the "
                        f"cluster; see {self.logs}/")
                    raise Stop(1)
                self.ended(part, status, now)
            for part in self.products:
                if part.due is not None and now >= part.due:
                    self.due(part, now)
            if not any(part.due is not None or not part.left_down for part in self.products):
                say("no product process is left: stopping the cluster")
                raise Stop(1)
            time.sleep(TICK)

    def ended(self, part: Part, status: int, now: float) -> None:
        """A product process ended with ``status``: schedule its next start, or leave it."""
        reason = last_line(part.log)
        since = None if part.started_again is None else now - part.started_again
        redis_away = refused_for_redis(reason) or not redis_answers(self.redis_port)
        decision = after_exit(since, redis_away)
        if decision == "wait for redis":
            if not part.waiting_said:
                say(f"{part.name} ({part.where()}) {how_it_ended(status)} while Redis does "
                    f"not answer: it starts again once Redis answers (looking every "
                    f"{REDIS_RETRY_FIRST:.0f}-{REDIS_RETRY_MAX:.0f} s; log: {part.log})")
                part.waiting_said = True
            part.due = now + redis_retry_delay(part.redis_attempt)
            part.redis_attempt += 1
        elif decision == "left down":
            say(f"{part.name} ({part.where()}) {how_it_ended(status)} again within "
                f"{CRASH_LOOP:.0f} s of its start: left down (the others carry on). Its last "
                f"words: {reason or '(nothing)'} (log: {part.log}); Ctrl-C and ./dev cluster "
                "again bring it back")
            part.left_down = True
        else:
            say(f"{part.name} ({part.where()}) {how_it_ended(status)}; the others carry on, "
                f"and it starts again in {RESTART_DELAY:.0f} s (log: {part.log})")
            part.due = now + RESTART_DELAY
            part.redis_attempt = 0
            part.waiting_said = False

    def due(self, part: Part, now: float) -> None:
        """``part``'s restart is due: start it, unless it waits for Redis that still does
        not answer (then look again later, saying nothing more)."""
        if part.waiting_said:
            if not redis_answers(self.redis_port):
                part.due = now + redis_retry_delay(part.redis_attempt)
                part.redis_attempt += 1
                return
            say(f"Redis answers again: {part.name} starts again")
        part.waiting_said = False
        part.start("started again")
        part.started_again = time.monotonic()
        say(f"{part.name} started again (pid {part.pid}): it catches up from Redis")

    def stop(self) -> None:
        """SIGTERM to every child's process group, then SIGKILL to what is left."""
        running = [part for part in self.parts
                   if part.process is not None and part.process.poll() is None]
        if running:
            say("stopping the cluster")
        for part in reversed(running):  # nginx first, redis last
            kill_group(part.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for part in running:
            assert part.process is not None
            try:
                part.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            kill_group(part.pid, signal.SIGKILL)
            part.process.wait()


def main(argv: list[str] | None = None) -> int:
    """Command line: run a cluster in the foreground; its exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--admin-token-from", choices=("file", "environment"),
                        default="environment")
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    try:
        port = int(environ.get("DASH_PORT", "5000"))
        redis_port = int(environ.get("DASH_CLUSTER_REDIS_PORT", "6390"))
    except ValueError:
        say("DASH_PORT and DASH_CLUSTER_REDIS_PORT must be port numbers")
        return 1
    cluster = Cluster(Path(environ.get("DASH_CLUSTER_DIR", ".cluster")), port, redis_port,
                      args.count)

    def stop_on(signum: int, _frame: object) -> None:
        raise Stop(128 + signum)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_on)
    try:
        cluster.take_lock()
        cluster.run(environ, args.admin_token_from)
    except Stop as stop:
        code = stop.code
    else:
        code = 0
    # A second Ctrl-C while stopping is ignored: the children are stopped all the same.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    cluster.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
