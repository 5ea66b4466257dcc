"""Prometheus metrics of the gateway, served at ``GET /metrics`` (``prometheus_client``).

With several worker processes, ``prometheus_client``'s multiprocess mode counts them all: every
process writes its values to files under ``PROMETHEUS_MULTIPROC_DIR`` (set up and emptied by
:func:`gateway.process.run` before any worker starts) and a scrape, answered by whichever worker
takes it, reads them all. Without that variable the values are this process's own.

``prometheus_client`` decides between the two modes when it is first imported, so it is imported
here lazily (inside functions), after :func:`gateway.process.run` has set the variable.

Metrics (all prefixed ``epd_``):

* ``requests_total{endpoint, action, outcome}`` -- SOAP requests by wsa:Action (``other`` for an
  action the endpoint does not serve) and IHE outcome (Success, PartialSuccess, Failure, AA, AE,
  AR, or ``fault:<SOAP code>``);
* ``request_duration_seconds{endpoint, action}`` -- latency histogram;
* ``request_size_bytes{endpoint}``, ``response_size_bytes{endpoint}`` -- size histograms;
* ``open_connections`` -- HTTP connections held open, all workers;
* ``db_pool_checked_out``, ``db_pool_size`` -- database connections in use / pooled, all workers;
* ``documents_stored``, ``documents_stored_bytes`` -- documents in the registry and their size,
  read from the database at scrape time.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.web import resource, server

log = Logger(namespace="gateway.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = (1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20,
                256 << 20, 1 << 30)


def prepare_multiprocess_dir(path: str | os.PathLike) -> Path:
    """Create ``path``, remove the value files of an earlier run (they must not be counted) and point
    the library at it. Only ``prometheus_client``'s own ``*.db`` files are removed: a directory
    configured by mistake (``metrics_dir = "/var/lib"``) loses nothing else."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        if old.is_file():
            old.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    import sys
    values = sys.modules.get("prometheus_client.values")
    if values is not None:          # imported before: metrics built from now on write to the files
        values.ValueClass = values.get_value_class()
    return path


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def mark_process_dead(pid: int) -> None:
    """Drop a finished worker's live gauges (its counters stay counted)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp
        mp.mark_process_dead(pid)


class Metrics:
    """This process's metrics. One per worker process, built where the site is (``gateway.process``)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("epd_requests", "SOAP requests by action and IHE outcome",
                                ("endpoint", "action", "outcome"), registry=r)
        self.latency = Histogram("epd_request_duration_seconds", "SOAP request latency, body received to reply written",
                                 ("endpoint", "action"), buckets=LATENCY_BUCKETS, registry=r)
        self.request_size = Histogram("epd_request_size_bytes", "SOAP request body size", ("endpoint",),
                                      buckets=SIZE_BUCKETS, registry=r)
        self.response_size = Histogram("epd_response_size_bytes", "SOAP reply size", ("endpoint",),
                                       buckets=SIZE_BUCKETS, registry=r)
        self.connections = Gauge("epd_open_connections", "HTTP connections held open",
                                 multiprocess_mode="livesum", registry=r)
        self.pool_checked_out = Gauge("epd_db_pool_checked_out", "database connections in use",
                                      multiprocess_mode="livesum", registry=r)
        self.pool_size = Gauge("epd_db_pool_size", "database connections pooled",
                               multiprocess_mode="livesum", registry=r)
        self._children: dict[tuple, tuple] = {}
        self._pools: list[Any] = []
        self._pool_sampled = float("-inf")
        self._lock = threading.Lock()

    def track_pool(self, pool: Any) -> None:
        """Report a SQLAlchemy pool's use (``checkedout()``, ``size()``) after each request."""
        self._pools.append(pool)

    def set_connections(self, count: int) -> None:
        self.connections.set(count)

    def observe_request(self, rec: Any) -> None:
        action = rec.action if rec.known_action else "other"
        key = (rec.endpoint, action, rec.outcome)
        children = self._children.get(key)
        if children is None:
            with self._lock:
                children = (self.requests.labels(rec.endpoint, action, rec.outcome),
                            self.latency.labels(rec.endpoint, action),
                            self.request_size.labels(rec.endpoint), self.response_size.labels(rec.endpoint))
                self._children[key] = children
        count, latency, size_in, size_out = children
        count.inc()
        latency.observe(rec.duration)
        size_in.observe(rec.bytes_in)
        size_out.observe(rec.bytes_out)
        if self._pools:
            now = time.monotonic()
            if now - self._pool_sampled >= 1.0:     # at most once a second: two file writes each
                self._pool_sampled = now
                for pool in self._pools:
                    self._sample_pool(pool)

    def _sample_pool(self, pool: Any) -> None:
        try:
            self.pool_checked_out.set(pool.checkedout())
            self.pool_size.set(pool.size())
        except Exception:   # a pool without these (NullPool, StaticPool)
            pass


class _ScrapeCollector:
    """A collector computed at scrape time by the worker answering the scrape."""

    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self._collect = collect

    def collect(self):
        try:
            yield from self._collect()
        except Exception:
            log.failure("metrics collector failed")


def stored_documents_collector(engine: Any) -> _ScrapeCollector:
    """``epd_documents_stored`` and ``epd_documents_stored_bytes`` from the registry's tables."""
    def collect():
        import sqlalchemy as sa
        from prometheus_client.core import GaugeMetricFamily
        from gateway.store.registry_tables import documents
        with engine.connect() as conn:
            count, total = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(documents.c.size), 0))
                                        .select_from(documents)).one()
        yield GaugeMetricFamily("epd_documents_stored", "documents in the registry", value=count)
        yield GaugeMetricFamily("epd_documents_stored_bytes", "size of the documents in the registry", value=total)
    return _ScrapeCollector(collect)


class MetricsResource(resource.Resource):
    """``GET /metrics``: the Prometheus text format, every worker counted in multiprocess mode."""

    isLeaf = True

    def __init__(self, metrics: Metrics | None, collectors: Iterable[Any] = ()) -> None:
        super().__init__()
        self.metrics = metrics
        self.collectors = tuple(collectors)

    def _render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        registry = CollectorRegistry(auto_describe=False)
        if multiprocess():
            from prometheus_client import multiprocess as mp
            mp.MultiProcessCollector(registry)
            own: Iterable[Any] = ()
        else:
            own = [self.metrics.registry] if self.metrics is not None else []
        for c in self.collectors:
            registry.register(c)
        data = generate_latest(registry) + b"".join(generate_latest(r) for r in own)
        return data, CONTENT_TYPE_LATEST

    def render_GET(self, request: server.Request) -> int:  # noqa: N802
        def write(result: tuple[bytes, str]) -> None:
            data, ctype = result
            if request._disconnected:  # type: ignore[attr-defined]
                return
            request.setHeader(b"content-type", ctype.encode())
            request.write(data)
            request.finish()

        def failed(failure) -> None:
            log.failure("metrics scrape failed", failure)
            if not request._disconnected:  # type: ignore[attr-defined]
                request.setResponseCode(500)
                request.finish()

        deferToThread(self._render).addCallbacks(write, failed)
        return server.NOT_DONE_YET


_PROCESS: Metrics | None = None


def install(metrics: Metrics) -> Metrics:
    """Make ``metrics`` this process's (``gateway.process`` does, before it builds the application)."""
    global _PROCESS
    _PROCESS = metrics
    return metrics


def process_metrics() -> Metrics | None:
    """This process's :class:`Metrics`, for the application to report to (``None`` outside a server)."""
    return _PROCESS
