"""The edge every request passes: allowed Host names (DNS rebinding), forwarded headers
believed only from trusted proxies, security headers on every response."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.web.admission import Admission, waits
from tests.samples import WIDE_CSV

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"
PATHS = ["/", "/d/hosts", "/healthz", "/api/datasets", "/api/d/hosts/figure",
         "/static/dash.css", HANDSHAKE, "/nowhere"]


@pytest.fixture
def make_client(app_config: dict[str, Any], write_csv: Any) -> Callable[..., FlaskClient]:
    write_csv("hosts", WIDE_CSV)

    def make(**config: Any) -> FlaskClient:
        app: Flask = create_app({**app_config, "INGEST_TOKEN": "t", **config})
        return app.test_client()
    return make


@pytest.mark.parametrize("path", [*PATHS, "POST /api/d/hosts/points"])
def test_a_host_name_nobody_allowed_is_a_400_on_every_path(
        make_client: Callable[..., FlaskClient], path: str) -> None:
    client = make_client()
    method, _, url = path.rpartition(" ")
    response = client.open(url, method=method or "GET",
                           headers={"Host": "evil.example:5000",
                                    "Origin": "http://evil.example:5000",
                                    "Authorization": "Bearer t",
                                    "Content-Type": "application/json"}, data=b"[]")
    assert response.status_code == 400
    assert response.json["error"] == ("this server does not answer to the host name "
                                      "'evil.example:5000'; its operator can add it to "
                                      "DASH_ALLOWED_HOSTS")


@pytest.mark.parametrize("host, config, allowed", [
    ("localhost:5000", {}, True),
    ("LOCALHOST:5000", {}, True),  # without case
    ("127.0.0.1", {}, True),
    ("[::1]:8080", {}, True),
    ("10.1.2.3:5000", {"HOST": "10.1.2.3"}, True),  # the address it listens on
    ("dash.example.com", {"ALLOWED_HOSTS": ("dash.example.com",)}, True),
    ("Dash.Example.com:443", {"ALLOWED_HOSTS": ("dash.example.com",)}, True),
    ("eu.example.org", {"ALLOWED_HOSTS": (".example.org",)}, True),  # subdomains
    ("example.org", {"ALLOWED_HOSTS": (".example.org",)}, True),  # and the name itself
    ("xn--bcher-kva.example", {"ALLOWED_HOSTS": ("bücher.example",)}, True),
    ("example.org.evil.example", {"ALLOWED_HOSTS": (".example.org",)}, False),
    ("dash.example.com.evil.example", {"ALLOWED_HOSTS": ("dash.example.com",)}, False),
    ("127.0.0.2", {}, False),
    ("", {}, False),
    ("localhost:99999", {}, False),
])
def test_allowed_host_names(make_client: Callable[..., FlaskClient], host: str,
                            config: dict[str, Any], allowed: bool) -> None:
    response = make_client(**config).get("/healthz", headers={"Host": host})
    assert (response.status_code == 200) is allowed


@pytest.mark.parametrize("remote, proxies, allowed", [
    ("10.0.0.5", ("10.0.0.0/8",), True),  # the proxy's word about host and scheme counts
    ("10.0.0.5", ("10.0.0.5",), True),
    ("192.0.2.1", ("10.0.0.0/8",), False),  # anyone else's does not
    ("10.0.0.5", (), False),  # nobody is trusted by default
])
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
        make_client: Callable[..., FlaskClient], remote: str, proxies: tuple[str, ...],
        allowed: bool) -> None:
    client = make_client(TRUSTED_PROXIES=proxies, ALLOWED_HOSTS=("dash.example.com",))
    headers = {"Host": "127.0.0.1:5000", "X-Forwarded-Host": "dash.example.com",
               "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9",
               "Origin": "https://dash.example.com"}
    response = client.get(HANDSHAKE, headers=headers, environ_base={"REMOTE_ADDR": remote})
    assert (response.status_code == 200) is allowed  # the page's origin is the public one


def test_a_trusted_proxy_saying_http_makes_an_https_page_another_origin(
        make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(TRUSTED_PROXIES=("10.0.0.5",), ALLOWED_HOSTS=("dash.example.com",))
    response = client.get(HANDSHAKE, headers={
        "Host": "127.0.0.1:5000", "X-Forwarded-Host": "dash.example.com",
        "X-Forwarded-Proto": "http", "Origin": "https://dash.example.com"},
        environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == 400


@pytest.mark.parametrize("path", PATHS)
def test_every_response_carries_the_security_headers(make_client: Callable[..., FlaskClient],
                                                     path: str) -> None:
    for host in ("localhost", "evil.example"):
        headers = make_client().get(path, headers={"Host": host}).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "connect-src 'self';" in csp and "img-src 'self' data: blob:;" in csp
        assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_frame_ancestors_names_the_embedders(make_client: Callable[..., FlaskClient]) -> None:
    client = make_client(FRAME_ANCESTORS=("https://intranet.example", "https://wiki.example"))
    csp = client.get("/").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors https://intranet.example https://wiki.example")


def test_waiting_may_not_take_the_whole_pool(app_config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"DASH_MAX_WAITING \(600\) must stay below "
                                         r"DASH_MAX_CONNECTIONS \(600\)"):
        create_app({**app_config, "MAX_WAITING": 600, "MAX_CONNECTIONS": 600})


@pytest.mark.parametrize("method, path, query, waiting", [
    ("GET", "/api/d/hosts/poll", "since=3&timeout=25", True),
    ("GET", "/api/dashboards/ops/poll", "cursor=x", True),
    ("GET", "/socket.io/", "EIO=4&transport=polling&sid=abc", True),
    ("GET", "/socket.io/", "EIO=4&transport=polling", False),  # the handshake answers at once
    ("POST", "/socket.io/", "EIO=4&transport=polling&sid=abc", False),  # sends, never waits
    ("GET", "/socket.io/", "EIO=4&transport=websocket&sid=abc", False),
    # Read as Engine.IO reads the query: an encoded name, and no transport, are polling.
    ("GET", "/socket.io/", "EIO=4&%73id=abc", True),
    ("GET", "/socket.io/", "EIO=4&sid=abc", True),
    ("GET", "/socket.io/", "EIO=4&%74ransport=polling&s%69d=abc", True),
    ("GET", "/socket.io/", "EIO=4&transport=%70olling&sid=abc", True),
    ("GET", "/socket.io/", "EIO=4&transport=websocket&transport=polling&sid=abc", False),
    ("GET", "/socket.io/", "EIO=4&xsid=abc&transport=polling", False),
    ("GET", "/api/d/hosts/figure", "", False),
    ("GET", "/healthz", "", False),
])
def test_which_requests_wait(method: str, path: str, query: str, waiting: bool) -> None:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
    assert waits(environ) is waiting


def test_waiting_requests_are_admitted_up_to_the_limits_in_all_and_per_address() -> None:
    admission = Admission(max_waiting=5, max_per_client=2)
    assert [admission.enter("a") for _ in range(3)][:2] == [None, None]
    assert admission.enter("a") == ("2 requests from your address are waiting for updates "
                                    "already (DASH_MAX_WAITING_PER_IP)")
    assert [admission.enter(c) for c in ("b", "c", "c")] == [None, None, None]
    assert admission.enter("d") == ("5 requests are waiting for updates already "
                                    "(DASH_MAX_WAITING)")
    admission.leave("c")
    assert admission.enter("d") is None
    for client in ("a", "a", "b", "c", "d"):
        admission.leave(client)
    assert (admission.waiting, admission.by_client) == (0, {})


def test_a_refused_waiting_request_is_a_503_with_retry_after() -> None:
    gate, entered = threading.Event(), threading.Event()
    inner_calls: list[str] = []

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        inner_calls.append(environ["REMOTE_ADDR"])
        entered.set()
        gate.wait(5)
        start_response("204 No Content", [])
        return []

    app = Admission(max_waiting=1, max_per_client=1).wrap(slow_app)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/d/x/poll", "REMOTE_ADDR": "a"}
    first = threading.Thread(target=lambda: app(dict(environ), lambda *a: None))
    first.start()
    assert entered.wait(5)  # the first request waits inside the app
    seen: list[Any] = []
    body = app({**environ, "REMOTE_ADDR": "b"}, lambda status, headers: seen.extend(
        [status, dict(headers)]))
    gate.set()
    first.join(5)
    assert seen[0] == "503 Service Unavailable" and seen[1]["Retry-After"] == "5"
    assert b"try again in 5 s" in b"".join(body)
    assert inner_calls == ["a"]
    app({**environ, "REMOTE_ADDR": "b"}, lambda *a: None)  # the place was given back
    assert inner_calls == ["a", "b"]
