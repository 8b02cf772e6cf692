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

from .config import Config, from_environment, parse_retention
from .data.dashboards import FileDashboardStore
from .data.demo import Demo
from .data.folder import DataFolder
from .data.store import Store
from .engine import charts
from .engine.compute import Limits
from .jsoncodec import SocketCodec
from .live import Live
from .live.transport import SharedFrameManager, install_websockets
from .state import AppState, canonical_query, inline
from .web.origins import origin_checker

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


def configure_logging(level: str) -> None:
    """One JSON line per log record on stderr for the ``dash`` loggers."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                       rename_fields={"levelname": "level"}))
    log.handlers = [handler]
    log.setLevel(level.upper())
    log.propagate = False


def tune_gc() -> None:
    """Make full garbage collections rare in the long-running server.

    With 1,000 connections a full collection walks ~10^6 objects and stalls the
    event loop for ~130 ms: in bench/fanout.py that one pause was the whole p99
    (184 ms, against 58 ms after this). Objects that live as long as the process
    are frozen out of collections, and the young generation is collected less often.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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

    manager = SharedFrameManager()
    socketio = SocketIO(app, async_mode=settings["ASYNC_MODE"], json=SocketCodec,
                        client_manager=manager,
                        cors_allowed_origins=origin_checker(tuple(settings["ALLOWED_ORIGINS"])),
                        http_compression=settings["COMPRESSION"],
                        ping_interval=settings["PING_INTERVAL"],
                        ping_timeout=settings["PING_TIMEOUT"])
    if settings["ASYNC_MODE"] == "eventlet" and settings["DIRECT_WEBSOCKETS"]:
        install_websockets(socketio)
    if not settings["COMPRESSION"]:
        app.wsgi_app = without_websocket_compression(app.wsgi_app)  # type: ignore[method-assign]
    offload = _offloader(settings["ASYNC_MODE"]) or inline
    store = Store(*parse_retention(settings["RETENTION"]))
    folder = DataFolder(store, settings["DATA_DIR"], offload, settings["DATE_ORDER"])
    limits = Limits(settings["AUTO_MAX_POINTS"], settings["RAW_MAX_POINTS"])
    live = Live.build(socketio, manager, store,
                      partial(charts.build, auto_max_points=limits.auto_max_points,
                              raw_max_points=limits.raw_max_points),
                      settings["MAX_UPDATES_PER_SECOND"], offload=offload)
    boards = FileDashboardStore(Path(settings["DATA_DIR"]) / "dashboards",
                                partial(canonical_query, store))
    state = AppState(store=store, folder=folder, live=live, demo=None, limits=limits,
                     dashboards=boards, offload=offload)
    app.extensions["dash"] = state

    from .web import api, dashboards, dashsockets, errors, helpers, pages, sockets
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    dashboards.register(app)
    errors.register(app)
    helpers.register(app)
    sockets.register(socketio)
    dashsockets.register(socketio)

    folder.scan()
    if settings["DEMO"]:
        if store.find("demo") is not None or store.error("demo") is not None:
            log.warning("demo stream off: a data file is called demo",
                        extra={"event": "demo_skipped"})
        else:
            state.demo = Demo(store, settings["DEMO_INTERVAL"])
            state.demo.install()
    state.dashboards.scan()  # what is there at start is no change to announce
    if settings["BACKGROUND"]:
        start_background(socketio, state, settings["SCAN_INTERVAL"])
    log.info("app ready", extra={"event": "start", "data_dir": settings["DATA_DIR"],
                                 "datasets": store.names(), "demo": state.demo is not None})
    return app


def start_background(socketio: SocketIO, state: AppState, scan_interval: float) -> None:
    """Start the fan-out loop, the data folder and dashboards scanner and the demo stream."""
    state.live.fanout.start()

    def scan_forever() -> None:
        boards_due = 0.0
        while True:
            socketio.sleep(min(scan_interval, DASHBOARD_SCAN_EVERY))
            try:
                state.folder.scan()
            except Exception:  # a bad file must never stop the scanner
                log.exception("scan failed", extra={"event": "error"})
            if time.monotonic() >= boards_due:
                boards_due = time.monotonic() + DASHBOARD_SCAN_EVERY
                try:
                    state.scan_dashboards()
                except Exception:  # nor a bad dashboard file
                    log.exception("dashboard scan failed", extra={"event": "error"})

    socketio.start_background_task(scan_forever)
    if state.demo is not None:
        socketio.start_background_task(state.demo.run, socketio.sleep)
