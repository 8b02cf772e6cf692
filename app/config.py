"""Configuration: class defaults, then ``DASH_*`` environment, then a test mapping."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Config:
    """Defaults for every setting; each is documented in the README."""

    HOST = "127.0.0.1"
    PORT = 5000
    DATA_DIR = "data"
    INGEST_TOKEN: str | None = None
    # Bearer token for dashboard writes, and what /login takes; writes are refused while unset.
    ADMIN_TOKEN: str | None = None
    SECRET_KEY: str | None = None
    DEMO = False
    DEMO_INTERVAL = 1.0
    ALLOWED_ORIGINS: tuple[str, ...] = ()
    DEBUG = False
    TESTING = False
    LOG_LEVEL = "INFO"
    # How often the data folder is scanned for new, grown or rewritten files.
    SCAN_INTERVAL = 0.5
    # Upper bound on chart updates a second per dataset (bursts are coalesced).
    MAX_UPDATES_PER_SECOND = 10.0
    # "auto" draws raw points up to this many per trace, then aggregates: about one point
    # per pixel column of a wide chart. Longer traces are thinned to it for the screen.
    AUTO_MAX_POINTS = 2000
    # by=series draws at most this many series one by one, else one trace per metric.
    MAX_SERIES = 20
    # Hard cap on points per trace for agg=raw, newest kept.
    RAW_MAX_POINTS = 50000
    # What each dataset keeps in memory: a number of points ("2000000") or an age
    # back from its newest point ("7d", "24h", "90m"); the oldest go first. Files keep all.
    RETENTION = "2000000"
    TABLE_PAGE_SIZE = 50
    # Dates that fit day/month and month/day throughout a column (03/04/2024) are read
    # this way ("MDY" or "DMY"); the dataset's warnings say so.
    DATE_ORDER = "MDY"
    # Flask's limit on every other request body (forms, dashboard documents): chunked
    # bodies are read now, and without it one would be read however long it grew.
    MAX_CONTENT_LENGTH = 1024 * 1024
    # Ingest limits: request body size, and points in one batch.
    MAX_BODY_BYTES = 16 * 1024 * 1024
    MAX_BATCH_POINTS = 100_000
    # Distinct values one label (or a long dataset's metric names) may hold; a batch or
    # file that would pass it is refused naming the label. Six batches of 100k distinct
    # values took memory from 213 to 682 MiB and /api/datasets to 22.5 MB.
    MAX_LABEL_VALUES = 10_000
    # Per-client compression of Socket.IO traffic (WebSocket deflate, polling gzip):
    # less bandwidth, but CPU for every client on every update. Off by default.
    COMPRESSION = False
    # Socket.IO heartbeat: the server pings every PING_INTERVAL seconds and drops a
    # client that has not answered PING_TIMEOUT seconds later. Lower the interval
    # below an idle timeout of a proxy in front.
    PING_INTERVAL = 25.0
    PING_TIMEOUT = 20.0
    # Under eventlet, serve WebSockets with app.websocket (no writer or ping green
    # thread per connection, one frame per room message, detached from HTTP). Off:
    # python-engineio's own handling, e.g. to compare, or if a library upgrade breaks it.
    DIRECT_WEBSOCKETS = True
    # Connections served at once (eventlet's pool; detached WebSockets leave it): half-open
    # requests, keep-alive connections and waiting requests all hold a place until done.
    MAX_CONNECTIONS = 4096
    # Of those, held at once by one client address (DASH_TRUSTED_PROXIES have no cap: every
    # client behind a proxy shares its address); past it, 503 at once. One address held
    # all 1,024 of eventlet's slots with requests that never finished, and every other
    # client waited for minutes.
    MAX_CONNECTIONS_PER_IP = 256
    # Open WebSockets, in all and from one client address (DASH_TRUSTED_PROXIES have no
    # cap of their own). Upgraded, they leave the pool above and keep a file open each:
    # unbounded, 1,300 idle ones from one address used up a server's 1,200 open files and
    # it exited. Past either, a handshake gets 503 (all) or 429 (the address) with
    # Retry-After, and the page's Socket.IO stays on long-polling. The open-files limit is
    # raised to hold MAX_CONNECTIONS + MAX_WEBSOCKETS + 1,024; where it cannot be, fewer
    # WebSockets are let in (logged at start).
    MAX_WEBSOCKETS = 4096
    MAX_WEBSOCKETS_PER_IP = 256
    # Seconds for a request's line and headers to arrive (and for a keep-alive connection
    # to send its next request, a body to make progress); then the connection is closed.
    HEADER_TIMEOUT = 10.0
    # Past HEADER_TIMEOUT, a request body must keep arriving, and an answer keep being read,
    # at this many bytes a second on average (Apache's MinRate), else the connection is
    # closed: a body sent a byte every 4 s held a connection for as long as it liked.
    MIN_TRANSFER_RATE = 500.0
    # Requests that wait for news (long-polls, Socket.IO polling GETs) held at once, in
    # all and per client address; past either, 503 with Retry-After. MAX_WAITING must stay
    # below MAX_CONNECTIONS, so pages, /healthz and ingest always find a place.
    MAX_WAITING = 512
    MAX_WAITING_PER_IP = 64
    # Distinct live views (Socket.IO rooms) watched at once, over all connections.
    MAX_VIEWS = 2000
    # Of those, watched by the connections of one client address (a connection watching
    # none counts as one); past it subscribe and join_dashboard are refused in their ack,
    # and a new Socket.IO connection gets 429 with Retry-After (app.live.rooms).
    MAX_VIEWS_PER_IP = 128
    # Host names this server answers to (compared without case or port); localhost,
    # 127.0.0.1, ::1 and HOST are always in. Other Host headers get a 400 (DNS rebinding).
    ALLOWED_HOSTS: tuple[str, ...] = ()
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto/-Host are believed.
    TRUSTED_PROXIES: tuple[str, ...] = ()
    # Origins that may show pages in a frame (CSP frame-ancestors); none by default.
    FRAME_ANCESTORS: tuple[str, ...] = ()
    # "threading" for tests and tools; wsgi.py runs the server with "eventlet".
    ASYNC_MODE = "threading"
    # Flask-WTF's CSRFProtect checks only the writes that app.web.auth asks it to (browser
    # sessions), not bearer-token API calls or ingest; a token lasts as long as the session,
    # so a dashboard left open on a wall screen for a day can still be edited.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT: int | None = None
    # Cluster mode: every process pointed at one Redis (redis://host:port/db) shares the
    # ingested datasets (one stream each), the dashboards and Socket.IO's message queue.
    REDIS_URL: str | None = None
    # "strict" refuses to start unless Redis fsyncs every write before answering
    # (appendonly yes, appendfsync always); "relaxed" starts anyway (README: what it risks).
    REDIS_DURABILITY = "strict"
    # Prefix of every Redis key of this product: several products can share one Redis.
    REDIS_PREFIX = "dash:"
    # Run the background loops (file scanner, fan-out, demo). Tests switch
    # them off and drive the same code synchronously.
    BACKGROUND = True


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _origins(value: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in value.split(",") if n.strip())


def _positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def check(value: str) -> Any:
        number = parse(value)
        if number <= 0:
            raise ValueError("must be above 0")
        return number
    return check


def _durability(value: str) -> str:
    mode = value.strip().lower()
    if mode not in ("strict", "relaxed"):
        raise ValueError("use strict (Redis must fsync every write) or relaxed")
    return mode


def _redis_url(value: str) -> str:
    url = value.strip()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("use redis://host:port/db (rediss:// for TLS, unix:// for a socket)")
    return url


def _date_order(value: str) -> str:
    order = value.strip().upper()
    if order not in ("MDY", "DMY"):
        raise ValueError("use MDY (03/04/2024 is March 4) or DMY (it is 3 April)")
    return order


# DASH_<NAME> -> (config key, parser)
_ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "DASH_HOST": ("HOST", str),
    "DASH_PORT": ("PORT", int),
    "DASH_DATA_DIR": ("DATA_DIR", str),
    "DASH_INGEST_TOKEN": ("INGEST_TOKEN", str),
    "DASH_ADMIN_TOKEN": ("ADMIN_TOKEN", str),
    "DASH_SECRET_KEY": ("SECRET_KEY", str),
    "DASH_DEMO": ("DEMO", _flag),
    "DASH_DEMO_INTERVAL": ("DEMO_INTERVAL", float),
    "DASH_ALLOWED_ORIGINS": ("ALLOWED_ORIGINS", _origins),
    "DASH_DEBUG": ("DEBUG", _flag),
    "DASH_LOG_LEVEL": ("LOG_LEVEL", str),
    "DASH_SCAN_INTERVAL": ("SCAN_INTERVAL", float),
    "DASH_MAX_UPDATES_PER_SECOND": ("MAX_UPDATES_PER_SECOND", float),
    "DASH_AUTO_MAX_POINTS": ("AUTO_MAX_POINTS", int),
    "DASH_RAW_MAX_POINTS": ("RAW_MAX_POINTS", int),
    "DASH_MAX_SERIES": ("MAX_SERIES", int),
    "DASH_RETENTION": ("RETENTION", str),
    "DASH_TABLE_PAGE_SIZE": ("TABLE_PAGE_SIZE", int),
    "DASH_DATE_ORDER": ("DATE_ORDER", _date_order),
    "DASH_MAX_BODY_BYTES": ("MAX_BODY_BYTES", int),
    "DASH_MAX_BATCH_POINTS": ("MAX_BATCH_POINTS", int),
    "DASH_MAX_LABEL_VALUES": ("MAX_LABEL_VALUES", int),
    "DASH_COMPRESSION": ("COMPRESSION", _flag),
    "DASH_DIRECT_WEBSOCKETS": ("DIRECT_WEBSOCKETS", _flag),
    "DASH_PING_INTERVAL": ("PING_INTERVAL", float),
    "DASH_PING_TIMEOUT": ("PING_TIMEOUT", float),
    "DASH_MAX_CONNECTIONS": ("MAX_CONNECTIONS", _positive(int)),
    "DASH_HEADER_TIMEOUT": ("HEADER_TIMEOUT", _positive(float)),
    "DASH_MIN_TRANSFER_RATE": ("MIN_TRANSFER_RATE", _positive(float)),
    "DASH_MAX_CONNECTIONS_PER_IP": ("MAX_CONNECTIONS_PER_IP", _positive(int)),
    "DASH_MAX_WEBSOCKETS": ("MAX_WEBSOCKETS", _positive(int)),
    "DASH_MAX_WEBSOCKETS_PER_IP": ("MAX_WEBSOCKETS_PER_IP", _positive(int)),
    "DASH_MAX_WAITING": ("MAX_WAITING", _positive(int)),
    "DASH_MAX_WAITING_PER_IP": ("MAX_WAITING_PER_IP", _positive(int)),
    "DASH_MAX_VIEWS": ("MAX_VIEWS", _positive(int)),
    "DASH_MAX_VIEWS_PER_IP": ("MAX_VIEWS_PER_IP", _positive(int)),
    "DASH_ALLOWED_HOSTS": ("ALLOWED_HOSTS", _names),
    "DASH_TRUSTED_PROXIES": ("TRUSTED_PROXIES", _names),
    "DASH_FRAME_ANCESTORS": ("FRAME_ANCESTORS", _origins),
    "DASH_REDIS_URL": ("REDIS_URL", _redis_url),
    "DASH_REDIS_DURABILITY": ("REDIS_DURABILITY", _durability),
    "DASH_REDIS_PREFIX": ("REDIS_PREFIX", str),
}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read every ``DASH_*`` setting present in ``environ``; a bad value names its variable."""
    settings: dict[str, Any] = {}
    for variable, (key, parse) in _ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            settings[key] = parse(raw)
        except ValueError as exc:
            raise ValueError(f"{variable}={raw!r} is not valid: {exc}") from None
    return settings


AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_retention(value: str) -> tuple[int, int]:
    """``"2000000"`` -> (points, 0); ``"7d"`` -> (0, age in ns); ``"0"`` keeps everything."""
    text = str(value).strip().lower()
    if text.isdigit():
        return int(text), 0
    number, unit = text[:-1], text[-1:]
    if unit in AGE_UNITS and number.isdigit() and int(number) > 0:
        return 0, int(number) * AGE_UNITS[unit] * 1_000_000_000
    raise ValueError(f"retention {value!r} is neither a number of points nor an age "
                     "like 90m, 24h or 7d")
