"""Cluster mode for real: a redis-server, three product processes (``python wsgi.py`` with
``DASH_REDIS_URL``) and nginx in front, all as subprocesses on loopback, started once for
the module from the configurations the project ships (``e2e/services.py``).

Each test uses datasets of its own, so the order of the tests does not matter; a test
that kills a process or Redis starts it again before it ends.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio
from playwright.sync_api import Page, expect

from e2e.conftest import INGEST_TOKEN, START_TIMEOUT, Server, _healthy, _server_environment
from e2e.services import NginxProxy, RedisServer, free_port, nginx_proxy, redis_server
from e2e.test_websockets import RawSocketIO

# Every test runs under pytest-playwright's browser parameter, so that pytest keeps this
# module's tests together and starts the cluster once (it regroups tests by parameter).
pytestmark = pytest.mark.usefixtures("browser_name")
ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 3
PREFIX = "dash:"  # DASH_REDIS_PREFIX's default
LIVE_BUDGET = 2.0  # seconds from an ingest's 200 to the point at a viewer of another process


@dataclass
class Node:
    """One product process of the cluster: always on the same port and data folder."""

    index: int
    port: int
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def server(self) -> Server:
        """The conftest ``Server`` view of this process (post_points, get_json...)."""
        assert self.process is not None
        return Server(self.url, self.workdir / "data", self.logs[-1], self.process)

    def spawn(self) -> None:
        """Start ``wsgi.py``; ``wait`` for it to answer."""
        log_path = self.workdir / f"server-{len(self.logs)}.log"
        self.logs.append(log_path)
        with log_path.open("wb") as log_file:
            self.process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log_file,
                                            stderr=subprocess.STDOUT)

    def wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process is not None
        while not _healthy(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"process {self.index} did not start; its log:\n{self.log()}",
                            pytrace=False)
            time.sleep(0.1)  # start-up polling only

    def kill(self) -> None:
        """kill -9: no goodbye, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs)

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@dataclass
class Cluster:
    redis: RedisServer
    nodes: list[Node]
    proxy: NginxProxy

    def node_of_pid(self, pid: int) -> Node:
        return next(node for node in self.nodes if node.pid() == pid)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis, three processes with the demo stream, nginx in front of them."""
    work = tmp_path_factory.mktemp("cluster")
    with redis_server(work) as redis:
        nodes = []
        for index in range(PROCESSES):
            workdir = work / f"process-{index}"
            (workdir / "data").mkdir(parents=True)
            port = free_port()
            env = _server_environment(port, workdir / "data", demo=True, extra={
                "DASH_REDIS_URL": redis.url, "DASH_TRUSTED_PROXIES": "127.0.0.1"})
            nodes.append(Node(index, port, workdir, env))
        try:
            for node in nodes:
                node.spawn()  # all at once: they start in parallel
            for node in nodes:
                node.wait()
            with nginx_proxy(work, [f"127.0.0.1:{node.port}" for node in nodes]) as proxy:
                yield Cluster(redis, nodes, proxy)
        finally:
            for node in nodes:
                node.stop()


def post(url: str, name: str, points: list[dict[str, Any]]) -> tuple[int, dict[str, Any],
                                                                      str | None]:
    """POST ``points``: (status, JSON body, Retry-After)."""
    request = urllib.request.Request(
        f"{url}/api/d/{name}/points", data=json.dumps(points).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {INGEST_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers.get("Retry-After")


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read()) if answer.status == 200 else None


def point(second: int, value: float) -> dict[str, Any]:
    return {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_714_521_600 + second)),
            "v": value}


def reaches(node: Node, name: str, version: int, epoch: str, timeout: float = 10) -> int:
    """Wait (a long-poll) until ``node`` shows ``name`` at ``version`` or later; that version."""
    since = version - 1
    while True:
        answer = get(f"{node.url}/api/d/{name}/poll?metric=v&agg=raw&since={since}"
                     f"&epoch={epoch}&timeout={timeout}")
        assert answer is not None, f"process {node.index} never reached v{version} of {name}"
        if answer["version"] >= version and answer["epoch"] == epoch:
            return int(answer["version"])
        since = answer["version"]


def summary(node: Node, name: str) -> tuple[Any, ...]:
    found = next(d for d in get(f"{node.url}/api/datasets") if d["name"] == name)
    return found["rows"], found["version"], found["epoch"], found["start"], found["end"]


def values(node: Node, name: str) -> list[float]:
    """Every point of ``name`` at ``node`` (raw, in time order)."""
    rows = get(f"{node.url}/api/d/{name}/rows?metric=v&agg=raw&format=json")["rows"]
    return sorted(row["value"] for row in rows)


# -- the same data everywhere -------------------------------------------------------

def test_every_process_shows_the_same_rows_versions_and_epoch(cluster: Cluster) -> None:
    answers = [post(node.url, "same", [point(i, float(i))])[1]
               for i, node in enumerate(cluster.nodes * 3)]
    assert [a["version"] for a in answers] == list(range(1, 10))  # one numbering, from Redis
    epoch = answers[0]["epoch"]
    for node in cluster.nodes:
        reaches(node, "same", 9, epoch)
    assert len({summary(node, "same") for node in cluster.nodes}) == 1
    assert summary(cluster.nodes[0], "same")[:3] == (9, 9, epoch)


def test_the_demo_is_one_stream_for_the_whole_cluster(cluster: Cluster) -> None:
    first = summary(cluster.nodes[0], "demo")
    for node in cluster.nodes:
        assert reaches_demo(node, first[1], first[2]) >= first[1]
        assert summary(node, "demo")[2] == first[2]  # one epoch
    page = urllib.request.urlopen(f"{cluster.proxy.url}/d/demo", timeout=10)
    assert page.status == 200


def reaches_demo(node: Node, version: int, epoch: str) -> int:
    answer = get(f"{node.url}/api/d/demo/poll?metric=cpu&since={version - 1}&epoch={epoch}"
                 "&timeout=10")
    return int(answer["version"])


# -- live across processes ---------------------------------------------------------

def test_a_point_ingested_at_one_process_reaches_viewers_of_the_others(
        cluster: Cluster) -> None:
    first, second, third = cluster.nodes
    status, answer, _ = post(first.url, "across", [point(0, 1.0)])
    assert status == 200
    epoch = answer["epoch"]
    for node in cluster.nodes:
        reaches(node, "across", 1, epoch)
    websocket = RawSocketIO(second.server)  # WebSocket at the second process
    websocket.subscribe("across", "metric=v&agg=raw")
    assert websocket.version_arrives(1)["version"] == 1
    polling = socketio.Client(reconnection=False)  # Socket.IO's HTTP long-polling at the third
    arrived: dict[int, float] = {}
    got = threading.Event()

    def record(data: dict[str, Any]) -> None:
        arrived.setdefault(data["version"], time.monotonic())
        if data["version"] >= 2:
            got.set()

    polling.on("update_chart", record)
    polling.on("extend_chart", record)
    polling.connect(third.url, transports=["polling"], wait_timeout=10)
    ack = polling.call("subscribe", {"dataset": "across", "query": "metric=v&agg=raw"},
                       timeout=10)
    assert ack["ok"] and ack["version"] == 1
    with ThreadPoolExecutor(1) as pool:  # /api/d/.../poll at the first one itself
        long_poll = pool.submit(get, f"{first.url}/api/d/across/poll?metric=v&agg=raw"
                                     f"&since=1&epoch={epoch}&timeout=20")
        sent = time.monotonic()
        status, answer, _ = post(first.url, "across", [point(1, 2.0)])
        assert (status, answer["version"]) == (200, 2)
        update = websocket.version_arrives(2)
        at_websocket = time.monotonic() - sent
        assert got.wait(LIVE_BUDGET * 5)
        polled = long_poll.result(20)
    assert update["epoch"] == epoch and update["version"] == 2
    assert update.get("y") == [[2.0]] or update["figure"]["data"][0]["y"] == [1.0, 2.0]
    assert polled["version"] == 2 and polled["figure"]["data"][0]["y"] == [1.0, 2.0]
    assert at_websocket < LIVE_BUDGET and arrived[2] - sent < LIVE_BUDGET, (at_websocket,
                                                                          arrived[2] - sent)
    polling.disconnect()
    websocket.close()


def test_the_message_queue_reaches_clients_of_every_process(cluster: Cluster) -> None:
    status, _, _ = post(cluster.nodes[0].url, "queued", [point(0, 1.0)])
    assert status == 200
    clients = [RawSocketIO(node.server) for node in cluster.nodes]
    for client in clients:
        client.subscribe("queued", "metric=v")
        client.version_arrives(1)
    admin = redis_client(cluster)
    deadline = time.monotonic() + 10  # each process subscribes once its first client came
    while admin.pubsub_numsub(f"{PREFIX}socketio")[0][1] < PROCESSES:
        assert time.monotonic() < deadline, "not every process listens on the queue"
        time.sleep(0.05)  # waiting for the subscriptions, as for a server's start-up
    # What a script does with Flask-SocketIO's documented external emitter:
    # SocketIO(message_queue=DASH_REDIS_URL, channel="dash:socketio").emit(...)
    emitter = socketio.RedisManager(cluster.redis.url, channel=f"{PREFIX}socketio",
                                    write_only=True)
    emitter.emit("notice", {"text": "maintenance at noon"}, room="queued?metric=v",
                 namespace="/")
    for client in clients:
        assert client.event() == ("notice", {"text": "maintenance at noon"})
        client.close()


def redis_client(cluster: Cluster) -> Any:
    import redis

    return redis.Redis.from_url(cluster.redis.url)


# -- faults --------------------------------------------------------------------

def test_kill_9_mid_stream_loses_nothing_acknowledged_and_the_process_catches_up(
        cluster: Cluster) -> None:
    writers = cluster.nodes[1:]
    victim = cluster.nodes[2]
    acknowledged: list[float] = []
    stop = threading.Event()
    killed = threading.Event()

    def write() -> None:
        for n in range(400):  # bounded: ~4 s of batches at most
            if stop.is_set():
                return
            node = writers[n % 2]
            try:
                status, _, _ = post(node.url, "killed", [point(n, float(n))])
            except OSError:
                continue  # the victim is gone: nothing acknowledged
            if status == 200:
                acknowledged.append(float(n))
            if n == 60:
                killed.set()

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(write)
        assert killed.wait(30)
        victim.kill()  # mid-stream: batches to it are in flight
        victim.spawn()  # same port, same (empty of streams) data folder
        victim.wait()
        stop.set()
        done.result(30)
    assert len(acknowledged) > 60
    last = summary(cluster.nodes[0], "killed")
    for node in cluster.nodes:
        reaches(node, "killed", last[1], last[2])
    seen = [values(node, "killed") for node in cluster.nodes]
    assert seen[0] == seen[1] == seen[2]
    assert set(acknowledged) <= set(seen[2])  # every acknowledged point, at the restarted one
    assert len(seen[2]) == len(set(seen[2]))  # none twice
    assert len({summary(node, "killed") for node in cluster.nodes}) == 1


def test_redis_away_is_503_then_everything_resumes_by_itself(cluster: Cluster,
                                                              page: Page) -> None:
    first, second, _ = cluster.nodes
    status, answer, _ = post(first.url, "outage", [point(0, 1.0)])
    assert status == 200
    reaches(second, "outage", 1, answer["epoch"])
    viewer = RawSocketIO(second.server)
    viewer.subscribe("outage", "metric=v&agg=raw")
    viewer.version_arrives(1)
    page.goto(f"{second.url}/d/outage?metric=v&agg=raw")
    status_line = page.locator("#live-status")
    expect(status_line).to_have_attribute("data-state", "live", timeout=15_000)
    cluster.redis.stop()
    try:
        status, body, retry_after = post(first.url, "outage", [point(1, 2.0)])
        assert (status, retry_after) == (503, "1")
        assert "not stored" in body["error"]
        figure = get(f"{second.url}/api/d/outage/figure?metric=v&agg=raw")
        assert figure["version"] == 1  # viewers keep the last data
        # The process tells its pages once its reader lost Redis; /healthz says so too.
        expect(status_line).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#chart")).to_have_attribute("data-points", "1")
        link = get(f"{second.url}/healthz")["redis"]
        assert link["connected"] is False and link["error"]
    finally:
        cluster.redis.start()
    expect(status_line).to_have_attribute("data-state", "live", timeout=15_000)
    acknowledged = [1.0]
    deadline = time.monotonic() + 20
    while True:  # what a client does with 503 and Retry-After
        status, answer, retry_after = post(first.url, "outage", [point(2, 3.0)])
        if status == 200:
            acknowledged.append(3.0)
            break
        assert status == 503 and time.monotonic() < deadline
        time.sleep(float(retry_after or 1))
    update = chart_arrives(viewer, answer["version"])  # the viewer resumed by itself
    assert update["epoch"] == answer["epoch"]
    for node in cluster.nodes:
        reaches(node, "outage", answer["version"], answer["epoch"])
        assert values(node, "outage") == acknowledged
    expect(page.locator("#chart")).to_have_attribute("data-points", "2")
    viewer.close()


def chart_arrives(client: RawSocketIO, version: int) -> dict[str, Any]:
    """Read events until a chart update carries ``version``; ``link`` events say whether
    the process follows Redis, and must say it lost it and got it back, in that order."""
    links = []
    while True:
        name, data = client.event()
        if name == "link":
            links.append(data["up"])
        elif data["version"] >= version:
            assert links == [False, True], links
            return data


# -- dashboards ------------------------------------------------------------------

BOARD = {"title": "Shared", "panels": [{"id": "v", "type": "timeseries", "dataset": "boards",
                                        "query": "metric=v"}]}


def test_a_dashboard_saved_at_one_process_is_everywhere_at_once(cluster: Cluster) -> None:
    first, second, third = cluster.nodes
    _, answer, _ = post(first.url, "boards", [point(0, 1.0)])
    for node in cluster.nodes:
        reaches(node, "boards", 1, answer["epoch"])
    assert first.server.put_dashboard("shared", BOARD) == {"name": "shared", "version": 1}
    assert get(f"{second.url}/api/dashboards/shared")["version"] == 1  # no wait at all
    page = RawSocketIO(third.server)
    page.send('421' + json.dumps(["join_dashboard", {"name": "shared", "query": ""}]))
    page.event()  # the panel's update_chart
    saved = second.server.put_dashboard("shared", {**BOARD, "title": "Shared 2", "version": 1})
    assert saved == {"name": "shared", "version": 2}
    started = time.monotonic()
    name, data = page.event()
    # The third process may hear of version 1 after the page joined at it: that notice
    # names the version the page shows, which the page ignores (dashboard.js), so only
    # the next one counts.
    while name != "dashboard_changed" or data == {"name": "shared", "version": 1}:
        name, data = page.event()
    assert data == {"name": "shared", "version": 2}
    assert time.monotonic() - started < LIVE_BUDGET
    assert get(f"{third.url}/api/dashboards/shared")["title"] == "Shared 2"
    page.close()


# -- a browser through nginx ------------------------------------------------------

def test_a_browser_through_nginx_survives_the_death_of_its_process(
        cluster: Cluster, page: Page) -> None:
    status, answer, _ = post(cluster.nodes[0].url, "moving", [point(0, 1.0)])
    assert status == 200
    for node in cluster.nodes:
        reaches(node, "moving", 1, answer["epoch"])
    page.goto(f"{cluster.proxy.url}/d/moving?metric=v&agg=raw")
    chart = page.locator("#chart")
    status_line = page.locator("#live-status")
    expect(status_line).to_have_attribute("data-state", "live", timeout=15_000)
    expect(chart).to_have_attribute("data-points", "1")
    # The proxy routes by the page's cookie: /healthz with it names the page's process.
    mine = cluster.node_of_pid(page.request.get(f"{cluster.proxy.url}/healthz").json()["pid"])
    others = [node for node in cluster.nodes if node is not mine]
    mine.kill()
    expect(status_line).to_have_attribute("data-state", "reconnecting")
    # Points arrive while the page has no process: it must get them once it has one.
    for second in (1, 2):
        status, answer, _ = post(others[second % 2].url, "moving", [point(second, 1.0 + second)])
        assert status == 200
    expect(status_line).to_have_attribute("data-state", "live", timeout=20_000)
    status, answer, _ = post(others[0].url, "moving", [point(3, 4.0)])
    expect(chart).to_have_attribute("data-version", str(answer["version"]))
    expect(chart).to_have_attribute("data-epoch", answer["epoch"])
    expect(chart).to_have_attribute("data-points", "4")  # no gap, no duplicate
    assert page.evaluate("document.getElementById('chart').data[0].y") == [1.0, 2.0, 3.0, 4.0]
    mine.spawn()  # back, it catches up from Redis
    mine.wait()
    assert reaches(mine, "moving", answer["version"], answer["epoch"]) == answer["version"]
    assert values(mine, "moving") == [1.0, 2.0, 3.0, 4.0]


# -- the dashboard page while its socket cannot connect -------------------------------

def test_a_dashboard_on_long_poll_stays_live_while_its_socket_keeps_failing(
        cluster: Cluster, page: Page) -> None:
    node = cluster.nodes[0]
    _, answer, _ = post(node.url, "pollboard", [point(0, 1.0)])
    reaches(node, "pollboard", 1, answer["epoch"])
    node.server.put_dashboard("pollboard", {"title": "Polled", "panels": [
        {"id": "v", "type": "timeseries", "dataset": "pollboard", "query": "metric=v"}]})
    page.route("**/socket.io/**", lambda route: route.abort())  # every attempt fails
    page.goto(f"{node.url}/dashboards/pollboard")
    status_line = page.locator("#live-status")
    expect(status_line).to_have_attribute("data-transport", "long-poll", timeout=15_000)
    expect(status_line).to_have_attribute("data-state", "live")
    page.evaluate("""() => { window.__states = [];
        new MutationObserver(() => window.__states.push(
            document.getElementById('live-status').dataset.state))
          .observe(document.getElementById('live-status'), {attributes: true}); }""")
    # The socket tries again (after 1-5 s): its failure, then its next attempt, which
    # Socket.IO makes only once the failure's handlers ran.
    with page.expect_event("requestfailed", lambda r: "/socket.io/" in r.url, timeout=15_000):
        pass
    with page.expect_event("request", lambda r: "/socket.io/" in r.url, timeout=15_000):
        pass
    assert "reconnecting" not in page.evaluate("window.__states")  # before: live→reconnecting
    expect(status_line).to_have_attribute("data-state", "live")


# -- ./dev cluster ------------------------------------------------------------------

def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports on 127.0.0.1."""
    for _ in range(50):
        base = free_port()
        if base + count < 65536 and all(port_is_free(base + i) for i in range(1, count)):
            return base
    raise AssertionError(f"no {count} consecutive free ports")


def port_is_free(port: int) -> bool:
    import socket as sockets

    with sockets.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class DevCluster:
    """``./dev cluster N`` run as a user runs it, with its ports and folder moved."""

    port: int
    redis_port: int
    folder: Path
    env: dict[str, str]
    err: Path
    process: subprocess.Popen[bytes] | None = None

    def run(self, count: int, **changes: str) -> subprocess.Popen[bytes]:
        env = {**self.env, **changes}
        with self.err.open("ab") as err:
            return subprocess.Popen([str(ROOT / "dev"), "cluster", str(count)], cwd=ROOT,
                                    env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)

    def start(self, count: int) -> None:
        self.process = self.run(count)
        self.said("realtime-dash cluster: ", self.process)

    def said(self, text: str, process: subprocess.Popen[bytes] | None = None,
             timeout: float = 60) -> str:
        """Wait until ./dev's stderr has ``text``; all of it."""
        deadline = time.monotonic() + timeout
        while text not in (out := self.err.read_text(errors="replace")):
            if process is not None and process.poll() is not None:
                pytest.fail(f"./dev cluster exited ({process.returncode}):\n{out}",
                            pytrace=False)
            assert time.monotonic() < deadline, f"./dev cluster never said {text!r}:\n{out}"
            time.sleep(0.1)  # start-up polling only
        return out

    def pid_at(self, port: int) -> int | None:
        try:
            return int(get(f"http://127.0.0.1:{port}/healthz")["pid"])
        except OSError:
            return None

    def stop(self) -> None:
        """Ctrl-C's work if it still runs; then whatever of its group is left, killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def dev_cluster(tmp_path: Path) -> Iterator[DevCluster]:
    port = free_ports(3)
    env = _server_environment(port, tmp_path / "data", demo=False, extra={
        "DASH_CLUSTER_REDIS_PORT": str(free_port()), "DASH_CLUSTER_DIR": str(tmp_path / "c")})
    (tmp_path / "data").mkdir()
    running = DevCluster(port, int(env["DASH_CLUSTER_REDIS_PORT"]), tmp_path / "c", env,
                         tmp_path / "dev.err")
    try:
        yield running
    finally:
        running.stop()


def test_dev_cluster_refuses_a_second_cluster_restarts_a_dead_process_and_stops_with_redis(
        dev_cluster: DevCluster) -> None:
    dev_cluster.start(2)
    port = dev_cluster.port
    said = dev_cluster.said("Ctrl-C stops all")
    # The token came from the environment (before: "the admin token in .dash-admin-token").
    assert (f"To edit dashboards, sign in at http://127.0.0.1:{port}/login with the admin "
            "token you set in DASH_ADMIN_TOKEN.") in said
    assert ".dash-admin-token" not in said
    assert "in front of 2 processes" in said
    assert ("Ingest is on: POST http://127.0.0.1:" in said and
            "with the token you set in DASH_INGEST_TOKEN." in said)
    # The same folder (another Redis port): refused at once, the first one's logs intact.
    logs = (dev_cluster.folder / "logs" / "process-1.log").read_bytes()
    second = dev_cluster.run(2, DASH_PORT=str(free_ports(3)),
                             DASH_CLUSTER_REDIS_PORT=str(free_port()))
    assert second.wait(30) == 1
    assert f"already uses {dev_cluster.folder}/" in dev_cluster.err.read_text()
    assert (dev_cluster.folder / "logs" / "process-1.log").read_bytes().startswith(logs)
    # Another folder, the same ports: refused, naming the port.
    third = dev_cluster.run(1, DASH_CLUSTER_DIR=str(dev_cluster.folder.parent / "other"),
                            DASH_CLUSTER_REDIS_PORT=str(free_port()))
    assert third.wait(30) == 1
    assert f"port {port} is taken" in dev_cluster.err.read_text()
    # kill -9 of a product process: the cluster carries on and starts it again.
    victim = dev_cluster.pid_at(port + 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    assert get(f"http://127.0.0.1:{port}/healthz")["pid"] != victim  # nginx: the other one
    dev_cluster.said(f"process 1 (pid {victim}, port {port + 1}) was killed by SIGKILL")
    out = dev_cluster.said("process 1 started again")
    deadline = time.monotonic() + 60
    while dev_cluster.pid_at(port + 1) in (None, victim):
        assert time.monotonic() < deadline, out
        time.sleep(0.1)  # start-up polling only
    assert dev_cluster.process is not None and dev_cluster.process.poll() is None
    # Redis dying stops everything, naming it, with a failure status.
    redis_pid = redis_info_pid(dev_cluster.redis_port)
    os.kill(redis_pid, signal.SIGKILL)
    assert dev_cluster.process.wait(30) == 1
    assert f"redis-server (pid {redis_pid}) was killed by SIGKILL: stopping the cluster" in \
        dev_cluster.err.read_text()
    assert not any(answers(port + i) for i in range(3))


def answers(port: int) -> bool:
    """True if something accepts connections on 127.0.0.1:``port``."""
    import socket as sockets

    try:
        sockets.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def redis_info_pid(port: int) -> int:
    import redis

    return int(redis.Redis(port=port).info("server")["process_id"])


def test_dev_cluster_stops_everything_when_its_terminal_closes(
        dev_cluster: DevCluster) -> None:
    # Its stderr is a pipe that goes away, as a closed terminal's does, then the hang-up.
    process = subprocess.Popen([str(ROOT / "dev"), "cluster", "1"], cwd=ROOT,
                               env=dev_cluster.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    dev_cluster.process = process
    assert process.stderr is not None
    said = b""
    while b"Ctrl-C stops all" not in said:
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, f"./dev cluster exited ({process.wait(10)}): {said.decode()}"
        said += chunk
    redis_pid = redis_info_pid(dev_cluster.redis_port)
    nginx_pid = int((dev_cluster.folder / "nginx" / "nginx.pid").read_text())
    process.stderr.close()
    os.killpg(process.pid, signal.SIGHUP)  # the terminal's hang-up reaches the whole group
    assert process.wait(30) == 129  # before: killed by SIGPIPE writing to the terminal
    for pid in (redis_pid, nginx_pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not any(answers(dev_cluster.port + i) for i in range(2))


def test_dev_cluster_waits_for_a_hung_redis_instead_of_leaving_a_process_down(
        dev_cluster: DevCluster) -> None:
    # Before: the restart 2 s later met the hung Redis, exited 1, and the crash-loop rule
    # left it down for good.
    dev_cluster.start(1)
    port = dev_cluster.port
    redis_pid = redis_info_pid(dev_cluster.redis_port)
    victim = dev_cluster.pid_at(port + 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    os.kill(redis_pid, signal.SIGSTOP)
    try:
        dev_cluster.said("while Redis does not answer: it starts again once Redis answers",
                         dev_cluster.process)
    finally:
        os.kill(redis_pid, signal.SIGCONT)
    dev_cluster.said("Redis answers again: process 1 starts again", dev_cluster.process)
    deadline = time.monotonic() + 60
    while dev_cluster.pid_at(port + 1) in (None, victim):
        assert time.monotonic() < deadline, dev_cluster.err.read_text()
        time.sleep(0.1)  # start-up polling only
    assert "left down" not in dev_cluster.err.read_text()


def test_dev_cluster_leaves_nothing_behind_when_nginx_or_itself_is_killed(
        dev_cluster: DevCluster) -> None:
    dev_cluster.start(1)
    assert dev_cluster.process is not None
    nginx_pid = int((dev_cluster.folder / "nginx" / "nginx.pid").read_text())
    os.kill(nginx_pid, signal.SIGKILL)  # its worker used to serve 502s on, orphaned
    assert dev_cluster.process.wait(30) == 1
    assert f"nginx (pid {nginx_pid}) was killed by SIGKILL" in dev_cluster.err.read_text()
    assert not any(answers(dev_cluster.port + i) for i in range(2))
    # Nothing it started holds the folder's lock: it starts again at once, and when the
    # supervisor itself is killed -9, its children die with it.
    dev_cluster.err.write_text("")  # the first one's words, gone with it
    dev_cluster.start(1)
    children = [redis_info_pid(dev_cluster.redis_port), dev_cluster.pid_at(dev_cluster.port + 1),
                int((dev_cluster.folder / "nginx" / "nginx.pid").read_text())]
    watches = [os.pidfd_open(pid) for pid in children if pid is not None]
    try:
        os.kill(dev_cluster.process.pid, signal.SIGKILL)
        for watch in watches:
            assert select.select([watch], [], [], 15)[0], "a child outlived ./dev cluster"
    finally:
        for watch in watches:
            os.close(watch)
    deadline = time.monotonic() + 15
    while any(answers(dev_cluster.port + i) for i in range(2)):  # nginx's worker too
        assert time.monotonic() < deadline
        time.sleep(0.1)  # shutdown polling only
    # The previous run's logs are kept.
    assert (dev_cluster.folder / "logs" / "previous" / "process-1.log").exists()


@pytest.mark.parametrize("changes, words", [
    ({"DASH_MAX_BODY_BYTES": "abc"},
     "process 1 did not start: it exited with status 1, saying: "),
    ({"DASH_CLUSTER_REDIS_PORT": "PORT+1"}, "is inside the cluster's ports"),
])
def test_dev_cluster_says_at_once_why_it_cannot_start(
        dev_cluster: DevCluster, changes: dict[str, str], words: str) -> None:
    changes = {k: v.replace("PORT+1", str(dev_cluster.port + 1)) for k, v in changes.items()}
    started = time.monotonic()
    assert dev_cluster.run(1, **changes).wait(45) == 1  # before: 90-105 s
    assert time.monotonic() - started < 30
    assert words in dev_cluster.err.read_text()
