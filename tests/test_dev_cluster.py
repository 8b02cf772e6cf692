"""``./dev cluster``'s supervisor (deploy/cluster.py): its decisions, locks and logs.

The processes themselves (redis-server, wsgi.py, nginx) are in e2e/test_cluster.py.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import cluster, nginx_config

REDIS_AWAY = ("realtime-dash cannot start: cluster mode cannot start: Redis at "
              "redis://127.0.0.1:6390/0 is unreachable: Timeout reading from socket. Start "
              "Redis (./dev cluster does) or fix DASH_REDIS_URL")


@pytest.mark.parametrize("since_restart, redis_away, decision", [
    (None, False, "restart"),  # killed after running a while: start it again
    (30.0, False, "restart"),  # a restart that ran 30 s is not a crash loop
    (3.0, False, "left down"),  # died again 3 s after a restart: a crash loop
    (3.0, True, "wait for redis"),  # ... unless Redis was away: not its fault
    (None, True, "wait for redis"),
])
def test_a_process_refused_while_redis_is_away_waits_for_it_not_left_down(
        since_restart: float | None, redis_away: bool, decision: str) -> None:
    assert cluster.after_exit(since_restart, redis_away) == decision


@pytest.mark.parametrize("line, away", [
    (REDIS_AWAY, True),
    ("realtime-dash cannot start: DASH_RETENTION is 'bogus' here but this cluster keeps "
     "'2000000'", False),
    ("ValueError: DASH_MAX_BODY_BYTES='abc' is not valid", False),
    ("", False),
])
def test_only_the_redis_refusal_counts_as_redis_away(line: str, away: bool) -> None:
    assert cluster.refused_for_redis(line) is away


@pytest.mark.parametrize("attempt, seconds", [(0, 1.0), (1, 2.0), (3, 8.0), (4, 16.0),
                                              (5, 16.0), (500, 16.0)])
def test_looks_for_redis_back_off_to_16_s(attempt: int, seconds: float) -> None:
    assert cluster.redis_retry_delay(attempt) == seconds


@pytest.mark.parametrize("port, count, redis_port, taken, message", [
    (5000, 3, 6390, set(), None),
    (5000, 3, 5002, set(), "DASH_CLUSTER_REDIS_PORT=5002 is inside the cluster's ports "
                           "5000-5003"),
    (5000, 3, 5003, set(), "DASH_CLUSTER_REDIS_PORT=5003 is inside"),
    (5000, 3, 5004, set(), None),
    (5000, 3, 6390, {5002}, "port 5002 is taken"),
    (5000, 3, 6390, {6390}, "port 6390 is taken (something listens there): stop that "
                            "service, or set DASH_CLUSTER_REDIS_PORT"),
    (65534, 3, 6390, set(), "DASH_PORT=65534 leaves no room for nginx and 3 processes"),
])
def test_ports_that_clash_are_refused_before_anything_starts(
        port: int, count: int, redis_port: int, taken: set[int], message: str | None) -> None:
    problem = cluster.port_problem(port, count, redis_port, lambda p: p in taken)
    if message is None:
        assert problem is None
    else:
        assert problem is not None and message in problem


@pytest.mark.parametrize("status, words", [
    (1, "exited with status 1"), (0, "exited with status 0"),
    (-9, "was killed by SIGKILL"), (-15, "was killed by SIGTERM"),
])
def test_how_a_process_ended_is_said_in_words(status: int, words: str) -> None:
    assert cluster.how_it_ended(status) == words


@pytest.mark.parametrize("count, words", [(1, "1 process"), (2, "2 processes")])
def test_one_process_is_singular(count: int, words: str) -> None:
    assert cluster.plural(count, "process") == words


@pytest.mark.parametrize("environ, words", [
    ({"DASH_INGEST_TOKEN": "t"}, "Ingest is on: POST http://127.0.0.1:5000/api/ingest/<name> "
                                 "with the token you set in DASH_INGEST_TOKEN."),
    ({}, "Ingest is off: start with DASH_INGEST_TOKEN=<a secret> ./dev cluster 3 to turn it "
         "on."),
    ({"DASH_INGEST_TOKEN": ""}, "Ingest is off"),
])
def test_the_banner_says_whether_ingest_is_on(environ: dict[str, str], words: str) -> None:
    assert cluster.ingest_note(environ, 5000, 3).startswith(words)


def test_the_last_words_of_a_log_are_its_last_non_blank_line(tmp_path: Path) -> None:
    log = tmp_path / "process-1.log"
    log.write_text("starting\n" + "x" * 100_000 + f"\n{REDIS_AWAY}\n\n  \n")
    assert cluster.last_line(log) == REDIS_AWAY
    assert cluster.last_line(tmp_path / "missing.log") == ""


def test_the_previous_runs_logs_are_kept_and_the_one_before_replaced(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "previous").mkdir(parents=True)
    (logs / "previous" / "process-9.log").write_text("two runs ago")
    (logs / "process-1.log").write_text("the crash")
    cluster.keep_previous_logs(logs)
    assert sorted(p.name for p in logs.iterdir()) == ["previous"]
    assert [p.name for p in (logs / "previous").iterdir()] == ["process-1.log"]
    assert (logs / "previous" / "process-1.log").read_text() == "the crash"


def test_a_second_supervisor_on_the_folder_is_refused_naming_the_first(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    first = cluster.Cluster(tmp_path / "c", 5000, 6390, 1)
    first.take_lock()
    second = cluster.Cluster(tmp_path / "c", 5000, 6390, 1)
    with pytest.raises(cluster.Stop) as stop:
        second.take_lock()
    assert stop.value.code == 1
    assert (f"another ./dev cluster (pid {os.getpid()}) already uses {tmp_path / 'c'}/"
            in capfd.readouterr().err)
    assert first.lock_fd is not None
    os.close(first.lock_fd)


# Part.start forks (preexec_fn sets the parent-death signal) inside pytest, where other
# tests imported eventlet, which warns on any fork; the child execs at once. The real
# supervisor never imports eventlet.
@pytest.mark.filterwarnings(r"ignore:Using fork\(\) is a bad idea:DeprecationWarning")
def test_children_do_not_hold_the_lock_and_orphans_that_do_are_named(
        tmp_path: Path) -> None:
    supervisor = cluster.Cluster(tmp_path, 5000, 6390, 1)
    supervisor.take_lock()
    child = cluster.Part("child", [sys.executable, "-c", "import time; time.sleep(60)"],
                         tmp_path / "child.log")
    child.start()
    try:
        # Only this process holds the lock: the child inherited no descriptor of it.
        assert cluster.holders(tmp_path / "lock") == [os.getpid()]
        # A holder written in the lock that is gone, and an orphan still holding it.
        refusal = cluster.lock_refusal(tmp_path, 2 ** 22 + 1, [child.pid])
        assert refusal.startswith(f"{tmp_path}/lock is still held, though the ./dev cluster "
                                  f"that took it (pid {2 ** 22 + 1}) is gone: by {child.pid} "
                                  f"({sys.executable} -c import time; time.sleep(60)). Stop "
                                  f"it with kill {child.pid}")
    finally:
        cluster.kill_group(child.pid, signal.SIGKILL)
        assert child.process is not None
        child.process.wait(10)
        assert supervisor.lock_fd is not None
        os.close(supervisor.lock_fd)


def test_children_die_with_their_supervisor_even_by_kill_9(tmp_path: Path) -> None:
    # A stand-in supervisor starts a child (its pid on stdout), then waits to be killed.
    script = ("import sys; from pathlib import Path; from deploy import cluster\n"
              f"p = cluster.Part('child', [sys.executable, '-c', 'import time; "
              f"time.sleep(60)'], Path({str(tmp_path / 'child.log')!r}))\n"
              "p.start(); print(p.pid, flush=True); sys.stdin.read()")
    supervisor = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, cwd=Path(cluster.ROOT), text=True)
    assert supervisor.stdout is not None
    child = int(supervisor.stdout.readline())
    watch = os.pidfd_open(child)  # readable once the child has ended, whoever reaps it
    try:
        supervisor.kill()
        supervisor.wait(10)
        ended, _, _ = select.select([watch], [], [], 10)
        if not ended:
            os.kill(child, signal.SIGKILL)
        assert ended, "the child outlived its supervisor's kill -9"
    finally:
        os.close(watch)


@pytest.mark.parametrize("logs, error_log, access_log", [
    (None, "prefix/error.log", "prefix/access.log"),
    ("logs", "logs/nginx.log", "logs/nginx-access.log"),
])
def test_nginx_logs_go_where_the_cluster_keeps_its_logs(
        tmp_path: Path, logs: str | None, error_log: str, access_log: str) -> None:
    prefix = tmp_path / "prefix"
    main = nginx_config.render_main(prefix, prefix / "site.conf",
                                    None if logs is None else tmp_path / logs)
    assert f"error_log {tmp_path / error_log} notice;" in main
    assert f"access_log {tmp_path / access_log};" in main
    argv = nginx_config.command(prefix, logs=None if logs is None else tmp_path / logs)
    assert argv[argv.index("-e") + 1] == str(tmp_path / error_log)
