"""realtime-dash: a live analytics dashboard server. ``create_app`` builds it."""
from __future__ import annotations

import gc
import logging
import os
import secrets
import sys
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from flask_socketio import SocketIO
from pythonjsonlogger.json import JsonFormatter

from . import cluster
from .config import Config, from_environment, parse_retention
from .data import demo
from .data.dashboards import DashboardStore, FileDashboardStore
from .data.demo import Demo
from .data.errors import Unavailable
from .data.folder import DataFolder
from .data.log import IngestLog
from .data.redislog import LogUnavailable
from .data.store import Store
from .data.streams import StreamLog
from .engine.delta import LiveCharts
from .engine.drawing import ChartLimits
from .engine.serieskeys import SeriesKeys
from .jsoncodec import SocketCodec
from .live import Live
from .live.transport import SharedFrameManager, install_websockets, require_http_protocol
from .metrics import Metrics
from .state import AppState, canonical_query, inline
from .web.admission import Admission
from .web.bodies import Request
from .web.headers import security_headers
from .web.hosts import allowed_hosts, host_checker, proxy_fixer
from .web.origins import origin_checker
from .web.sessions import SessionInterface

ROOT = Path(__file__).resolve().parent.parent
# Dashboard files edited on disk show up within two seconds (SPEC): scanned this often at
# most. A scan hashes every file: ~0.1 ms for the demo dashboard.
DASHBOARD_SCAN_EVERY = 1.0
log = logging.getLogger("dash")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test capture, redirection)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def without_websocket_compression(wsgi_app: Any) -> Any:
    """Decline WebSocket permessage-deflate (browsers ask for it by default).

    Compression runs once per client per message: a 200 KB figure costs ~4 ms of
    deflate per client (4 s for 1,000 viewers), where the uncompressed frame is
    encoded once for the whole room. Engine.IO's gzip of polling answers is per
    client too and is off with it (``DASH_COMPRESSION=1`` turns both back on).
    """
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return wsgi_app(environ, start_response)

    return app


def edge(wsgi_app: Any, settings: Mapping[str, Any], admission: Admission) -> Any:
    """The middleware every request passes, outermost first: trusted proxies' forwarded
    headers, security headers, allowed hosts, admission of waiting requests, WebSocket
    compression; then Engine.IO's middleware and Flask."""
    if settings["MAX_WAITING"] >= settings["MAX_CONNECTIONS"]:
        raise ValueError(f"DASH_MAX_WAITING ({settings['MAX_WAITING']}) must stay below "
                         f"DASH_MAX_CONNECTIONS ({settings['MAX_CONNECTIONS']}), so pages, "
                         "/healthz and ingest always find a connection")
    if not settings["COMPRESSION"]:
        wsgi_app = without_websocket_compression(wsgi_app)
    wsgi_app = admission.wrap(wsgi_app)
    wsgi_app = host_checker(wsgi_app, allowed_hosts(settings["HOST"],
                                                    settings["ALLOWED_HOSTS"]))
    wsgi_app = security_headers(wsgi_app, settings["FRAME_ANCESTORS"])
    return proxy_fixer(wsgi_app, settings["TRUSTED_PROXIES"])


def configure_logging(level: str) -> None:
    """One JSON line per log record on stderr for the ``dash`` loggers."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                       rename_fields={"levelname": "level"}))
    log.handlers = [handler]
    log.setLevel(level.upper())
    log.propagate = False


def tune_gc() -> None:
    """Keep garbage-collection pauses short in the long-running server.

    With 1,000 connections a full collection walks every object they hold and
    stalled the event loop for ~130 ms (Python's default thresholds, 700/10/10):
    in bench/fanout.py that one pause was the whole p99. Objects that live as long
    as the process are frozen out of collections, and full ones are considered
    once per 2,000 x 10 x 100 = 2M net allocations (41 ms of CPU with 1,000
    WebSockets). The young generation stays small: each connection leaves ~150
    objects of cyclic garbage (Flask-SocketIO's request context per event, its
    routing exception and traceback, the HTTP protocol object), and at 50,000 one
    young collection took 60-65 ms of CPU while 1,000 clients connected; at 2,000
    the longest pause was 4 ms and all of them took 76-84 ms instead of 218-226 ms.
    """
    gc.freeze()
    gc.set_threshold(2_000, 10, 100)


def _offloader(async_mode: str) -> Any:
    """Under eventlet, run heavy numpy/pandas work in its thread pool, off the event loop."""
    if async_mode != "eventlet":
        return None
    from eventlet import tpool  # wsgi.py imported (and patched) eventlet already

    return tpool.execute


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: class defaults, then ``DASH_*`` environment, then ``config``."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    app.request_class = Request  # chunked bodies past their limit are a 413, not cut short
    app.session_interface = SessionInterface()  # one signing serializer, not one a request
    app.config.from_object(Config)
    app.config.update(from_environment(os.environ))
    if config:
        app.config.update(config)
    settings = app.config
    if not settings["SECRET_KEY"]:
        if not (settings["DEBUG"] or settings["TESTING"]):
            raise RuntimeError("DASH_SECRET_KEY is not set: set it to a long random string "
                               "(the README's run command makes one for you)")
        settings["SECRET_KEY"] = secrets.token_hex(32)
    configure_logging(settings["LOG_LEVEL"])

    # Cluster mode: refuse to start unless Redis is there and keeps what it acknowledges.
    redis_log = cluster.open_log(settings) if settings["REDIS_URL"] else None
    manager = cluster.socket_manager(settings) if redis_log else SharedFrameManager()
    socketio = SocketIO(app, async_mode=settings["ASYNC_MODE"], json=SocketCodec,
                        client_manager=manager,
                        cors_allowed_origins=origin_checker(
                            tuple(settings["ALLOWED_ORIGINS"]),
                            trusted_scheme=bool(settings["TRUSTED_PROXIES"])),
                        http_compression=settings["COMPRESSION"],
                        ping_interval=settings["PING_INTERVAL"],
                        ping_timeout=settings["PING_TIMEOUT"])
    if settings["ASYNC_MODE"] == "eventlet":
        require_http_protocol()  # MissingInternals (a RuntimeError): wsgi.py says why, exit 1
        if settings["DIRECT_WEBSOCKETS"]:
            install_websockets(socketio)
    admission = Admission(settings["MAX_WAITING"], settings["MAX_WAITING_PER_IP"])
    app.wsgi_app = edge(app.wsgi_app, settings, admission)  # type: ignore[method-assign]
    offload = _offloader(settings["ASYNC_MODE"]) or inline
    store = Store(*parse_retention(settings["RETENTION"]),
                  max_label_values=settings["MAX_LABEL_VALUES"])
    folder = DataFolder(store, settings["DATA_DIR"], offload, settings["DATE_ORDER"])
    limits = ChartLimits(settings["AUTO_MAX_POINTS"], settings["RAW_MAX_POINTS"],
                         settings["MAX_SERIES"])
    keys = SeriesKeys()
    live = Live.build(socketio, manager, store,
                      LiveCharts(limits, keys),
                      settings["MAX_UPDATES_PER_SECOND"], offload=offload,
                      max_views=settings["MAX_VIEWS"],
                      max_views_per_address=settings["MAX_VIEWS_PER_IP"])
    admission.arrivals = live.rooms.arrival_refusal
    dashboard_store: DashboardStore
    ingest_log: IngestLog
    streams = None
    if redis_log is not None:
        streams = StreamLog(redis_log, store, offload, is_file=folder.files.__contains__,
                            strict=settings["REDIS_DURABILITY"] != "relaxed")
        ingest_log = streams
        link = streams.link
        dashboard_store = cluster.dashboards(settings, partial(canonical_query, store),
                                             reachable=lambda: link.up)
    else:
        ingest_log = folder
        dashboard_store = FileDashboardStore(Path(settings["DATA_DIR"]) / "dashboards",
                                             partial(canonical_query, store))
    metrics = Metrics()
    state = AppState(store=store, folder=folder, live=live, demo=None, limits=limits, keys=keys,
                     dashboards=dashboard_store, log=ingest_log, metrics=metrics,
                     streams=streams, offload=offload)
    app.extensions["dash"] = state
    live.figures.on_build = metrics.figure_seconds.observe
    live.fanout.on_flush = metrics.fanout_seconds.observe
    folder.on_error = metrics.loaded_error
    if streams is not None:
        streams.on_applied = metrics.redis_lag.observe
        streams.on_error = metrics.loaded_error
        streams.on_link = partial(link_changed, live)
    metrics.watch(live, store, streams)

    from .web import (
        api,
        assets,
        auth,
        dashapi,
        dashboards,
        dashedit,
        dashsockets,
        errors,
        helpers,
        pages,
        sockets,
    )
    app.register_blueprint(pages.bp)  # view pages and their fragments
    app.register_blueprint(api.bp)  # the JSON API of datasets
    auth.register(app)  # CSRF (checked where require_admin asks), sign-ins, admin()
    app.register_blueprint(auth.bp)  # /login, /logout
    app.register_blueprint(dashboards.bp)  # dashboard pages and panel fragments
    app.register_blueprint(dashedit.bp)  # editing dashboards with forms
    app.register_blueprint(dashapi.bp)  # dashboards' JSON API and long-poll
    app.add_template_global(dashboards.dashboard_entries)
    errors.register(app)
    helpers.register(app)
    assets.register(app)
    sockets.register(socketio)
    dashsockets.register(socketio)

    # One process appends to the folder's files; cluster processes only read them.
    folder.claim(exclusive=redis_log is None)
    folder.scan()  # files first: a name that is a file here stays the file's
    if streams is not None:
        try:
            streams.start()  # every dataset in the shared log, read into memory
        except LogUnavailable as exc:
            raise cluster.ClusterRefused(f"cluster mode cannot start: {exc}") from None
    if settings["DEMO"]:
        if demo.NAME in folder.files:
            log.warning("demo stream off: a data file is called demo",
                        extra={"event": "demo_skipped"})
        elif streams is not None and redis_log is not None:
            start_shared_demo(state, streams, cluster.shared_demo(settings, store, redis_log))
        else:
            state.demo = Demo(store, settings["DEMO_INTERVAL"])
            state.demo.install()
    if isinstance(dashboard_store, cluster.RedisDashboardStore):  # a fresh cluster's examples
        dashboard_store.seed(Path(settings["DATA_DIR"]) / "dashboards")
    state.dashboards.scan()  # what is there at start is no change to announce
    if settings["BACKGROUND"]:
        start_background(socketio, state, settings["SCAN_INTERVAL"])
    log.info("app ready", extra={"event": "start", "data_dir": settings["DATA_DIR"],
                                 "datasets": store.names(), "demo": state.demo is not None})
    return app


def link_changed(live: Live, up: bool) -> None:
    """Tell this process's pages whether it follows the shared log (``link`` ``{"up"}``):
    without it they show old data, and say "reconnecting" until it is back."""
    live.transport.broadcast("link", {"up": up})


def start_shared_demo(state: AppState, streams: StreamLog, shared: cluster.SharedDemo) -> None:
    """Cluster mode's demo: ingest may not write it; its first tick (the whole history in
    a fresh cluster) is written and read now if this process holds the lease."""
    state.demo = shared
    streams.reserved[demo.NAME] = (f"dataset {demo.NAME!r} is the demo stream; send points "
                                   "to another name")
    try:
        if shared.step():
            while streams.poll(0):  # what it wrote, shown before the first page asks
                pass
    except LogUnavailable as exc:
        log.warning("demo not started yet: redis unreachable",
                    extra={"event": "demo", "error": str(exc)})


def start_background(socketio: SocketIO, state: AppState, scan_interval: float) -> None:
    """Start the fan-out loop, the data folder and dashboards scanner, the demo stream and,
    in cluster mode, the reader of the shared log."""
    state.live.fanout.start()
    if state.streams is not None:
        state.streams.following = True
        socketio.start_background_task(state.streams.run, socketio.sleep)

    # Dashboards in Redis are one cheap read of their changes stream: every pass.
    boards_every = 0.0 if state.streams is not None else DASHBOARD_SCAN_EVERY

    def scan_forever() -> None:
        boards_due = 0.0
        while True:
            socketio.sleep(min(scan_interval, DASHBOARD_SCAN_EVERY))
            try:
                state.folder.scan()
            except Exception:  # a bad file must never stop the scanner
                log.exception("scan failed", extra={"event": "error"})
            if time.monotonic() >= boards_due:
                boards_due = time.monotonic() + boards_every
                try:
                    state.scan_dashboards()
                except Unavailable:
                    pass  # Redis is away (the reader says so): the next pass catches up
                except Exception:  # nor a bad dashboard file
                    log.exception("dashboard scan failed", extra={"event": "error"})

    socketio.start_background_task(scan_forever)
    if state.demo is not None:
        socketio.start_background_task(state.demo.run, socketio.sleep)
