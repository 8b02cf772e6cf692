"""Prometheus metrics of one process (``GET /metrics``), with prometheus-client.

Each app has its own ``CollectorRegistry`` (no module-level registry: tests build many
apps in one process). Counts that the app keeps anyway (clients, views, waiting requests,
datasets, the Redis link) are read when Prometheus scrapes; durations are observed as
they happen, through the hooks of ``Figures``, ``Fanout``, ``DataFolder`` and ``StreamLog``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .data.store import Store
    from .data.streams import StreamLog
    from .live import Live

# Figure builds take ~0.3 ms for 10k points and up to ~100 ms for millions (BENCHMARKS.md);
# a fan-out is one build per view plus a write per client.
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Redis lag: from Redis storing an entry to this process applying it.
LAG_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Now(Collector):
    """The gauges read at scrape time from the live objects."""

    def __init__(self, live: Live, store: Store, streams: StreamLog | None) -> None:
        self.live = live
        self.store = store
        self.streams = streams

    def collect(self) -> Iterator[Metric]:
        """One sample per gauge (and per transport for clients)."""
        clients = GaugeMetricFamily("dash_clients", "Socket.IO connections of this process "
                                    "by transport", labels=["transport"])
        for transport, count in self.live.transport.connections().items():
            clients.add_metric([transport], count)
        yield clients
        yield GaugeMetricFamily("dash_views", "Live views (Socket.IO rooms) watched here",
                                value=len(self.live.rooms.watched))
        yield GaugeMetricFamily("dash_longpolls_waiting", "Long-poll requests (/poll, "
                                "dashboard polls) waiting for a change",
                                value=self.live.waiters.count)
        names = self.store.names()
        yield GaugeMetricFamily("dash_datasets", "Datasets in memory", value=len(self.store))
        yield GaugeMetricFamily("dash_datasets_failed", "Datasets whose file (or stream) "
                                "cannot be read now", value=sum(
                                    1 for n in names if self.store.error(n) is not None))
        if self.streams is not None:
            link = self.streams.link
            yield GaugeMetricFamily("dash_redis_up", "1 while this process's reader reaches "
                                    "Redis", value=1.0 if link.up else 0.0)
            yield GaugeMetricFamily("dash_redis_durable", "1 while Redis's settings keep "
                                    "every acknowledged point (read every few seconds), 0 "
                                    "while they could lose some", value=0.0
                                    if self.streams.log.problems else 1.0)
            yield GaugeMetricFamily("dash_redis_last_lag_seconds", "Seconds from Redis "
                                    "storing the newest entry applied here to applying it",
                                    value=link.lag)


class Metrics:
    """This process's metrics, registered in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.figure_seconds = Histogram(
            "dash_figure_build_seconds", "Figure builds (one per view and dataset version) "
            "and how long each took", buckets=SECONDS, registry=self.registry)
        self.fanout_seconds = Histogram(
            "dash_fanout_seconds", "Fan-outs of changed datasets to their views' rooms, "
            "from taking the change to the last write", buckets=SECONDS, registry=self.registry)
        self.ingest_points = Counter("dash_ingest_points", "Points acknowledged by ingest",
                                     registry=self.registry)
        self.ingest_batches = Counter("dash_ingest_batches", "Batches acknowledged by ingest",
                                      registry=self.registry)
        self.load_errors = Counter("dash_load_errors", "Times a data file (or stream) "
                                   "could not be read", registry=self.registry)
        self.redis_lag = Histogram(
            "dash_redis_lag_seconds", "Entries applied from Redis: seconds from Redis "
            "storing each to this process applying it", buckets=LAG_SECONDS,
            registry=self.registry)

    def watch(self, live: Live, store: Store, streams: StreamLog | None) -> None:
        """Read the gauges from these objects at every scrape."""
        self.registry.register(Now(live, store, streams))

    def loaded_error(self, _name: str) -> None:
        """A file or stream newly failed to load."""
        self.load_errors.inc()

    def text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
