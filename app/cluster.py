"""Cluster mode (``DASH_REDIS_URL``): the pieces that every process builds over one Redis.

- the durable log: ``RedisLog`` (checked for durability at start) read and written by
  ``StreamLog``;
- Socket.IO's message queue: ``SharedFrameRedisManager`` (Flask-SocketIO's
  ``message_queue`` on the same Redis, delivering through the shared-frame fan-out);
- dashboards: ``RedisDashboardStore``;
- the demo: ``SharedDemo``, written by whichever process holds a lease.

``create_app`` calls these only when ``REDIS_URL`` is set; one process needs no Redis.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from .config import parse_retention
from .data import demo
from .data.dashboards import CheckQuery
from .data.dashboards.redisstore import RedisDashboardStore
from .data.demo import Demo, SharedDemo
from .data.lease import Lease
from .data.redisdashboards import RedisDashboards
from .data.redislog import LogUnavailable, RedisLog, RetentionMismatch, UnsafeDurability
from .data.store import Store
from .data.streams import schema_json
from .live.transport import SharedFrameRedisManager

__all__ = ["ClusterRefused", "RedisDashboardStore", "SharedDemo", "dashboards", "open_log",
           "shared_demo", "socket_manager"]
log = logging.getLogger("dash")
# The demo's writer keeps its lease this long after each tick: another process takes the
# demo over within this time when the writer dies.
DEMO_LEASE_TICKS = 3
DEMO_LEASE_MIN = 2.0  # seconds


class ClusterRefused(RuntimeError):
    """Cluster mode cannot start; the message is one line saying what to change."""


def same_retention(stored: str, mine: str) -> bool:
    """True if ``stored`` and ``mine`` are one retention (``4m`` and ``240s`` are)."""
    try:
        return parse_retention(stored) == parse_retention(mine)
    except ValueError:  # set by hand to something that is no retention
        return False


def open_log(settings: Mapping[str, Any]) -> RedisLog:
    """The shared log at ``REDIS_URL``, its durability checked and its retention the
    cluster's; ``ClusterRefused`` saying what to change when Redis is unreachable, could
    lose acknowledged points, or keeps another retention."""
    redis_log = RedisLog(settings["REDIS_URL"], prefix=settings["REDIS_PREFIX"])
    relaxed = settings["REDIS_DURABILITY"] == "relaxed"
    try:
        problems = redis_log.check_durability(relaxed)
        redis_log.claim_retention(str(settings["RETENTION"]).strip().lower(), same_retention)
    except (UnsafeDurability, RetentionMismatch) as exc:
        redis_log.close()
        raise ClusterRefused(str(exc)) from None
    except LogUnavailable as exc:
        redis_log.close()
        reason = str(exc).rstrip(".")  # redis-py's "Connection refused." would end in ".."
        raise ClusterRefused(f"cluster mode cannot start: {reason}. Start Redis (./dev "
                             "cluster does) or fix DASH_REDIS_URL") from None
    if problems:
        log.warning("redis may lose acknowledged points (DASH_REDIS_DURABILITY=relaxed)",
                    extra={"event": "redis", "problems": problems})
    return redis_log


def socket_manager(settings: Mapping[str, Any]) -> SharedFrameRedisManager:
    """Socket.IO's client manager over Redis pub/sub, on this product's channel."""
    return SharedFrameRedisManager(settings["REDIS_URL"],
                                   channel=f"{settings['REDIS_PREFIX']}socketio")


def dashboards(settings: Mapping[str, Any], check_query: CheckQuery,
               reachable: Callable[[], bool] = lambda: True) -> RedisDashboardStore:
    """The dashboards in Redis; while ``reachable()`` is False (the reader lost Redis)
    they answer ``Unavailable`` at once instead of waiting for a timeout."""
    # redisdashboards.TIMEOUT (1 s) bounds what a hung Redis costs a page
    documents = RedisDashboards(settings["REDIS_URL"], prefix=settings["REDIS_PREFIX"])
    return RedisDashboardStore(documents, check_query, reachable)


def shared_demo(settings: Mapping[str, Any], store: Store, redis_log: RedisLog) -> SharedDemo:
    """The cluster's demo stream, written by the holder of the demo lease."""
    interval = float(settings["DEMO_INTERVAL"])
    lease = Lease(settings["REDIS_URL"], f"{settings['REDIS_PREFIX']}lease:demo",
                  max(DEMO_LEASE_TICKS * interval, DEMO_LEASE_MIN))
    return SharedDemo(Demo(store, interval), redis_log, lease, schema_json(demo.SCHEMA))
