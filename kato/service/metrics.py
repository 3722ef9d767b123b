"""Prometheus instrumentation of the service: every metric object, created once per process.

Names, types and labels are the contract of docs/deployment.md ("Metric names the service must
export"); the Grafana dashboard and the alert rules use exactly those names.

Two modes, chosen from the environment when the metrics are first created:

* ``PROMETHEUS_MULTIPROC_DIR`` set (always under gunicorn: the master sets it): prometheus_client
  multiprocess mode. Each worker writes its values to files in that directory; a scrape served by
  any worker reads every worker's files (:func:`kato.service.prometheus.registry_for`). The master
  removes a dead worker's live gauges (``mark_process_dead`` in ``child_exit``).
* unset (one process per pod, ``kato serve`` with one worker, tests): a plain registry of this
  process.

The gunicorn master writes ``kato_worker_starts_total`` and ``kato_worker_exits_total`` itself;
nothing here touches them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Metric

POOL_REFRESH_SECONDS = 1.0
UNMATCHED_ROUTE = "unmatched"  # the route label of a request no route template matches

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PREDICTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CANDIDATE_BUCKETS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
STORAGE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
SESSION_BUCKETS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


def multiprocess_dir() -> str | None:
    """The shared metrics directory, or None for a single-process registry."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _ensure_value_class(multiprocess: bool) -> None:
    """prometheus_client picks its value storage when first imported; the directory may have
    been set later (gunicorn's master sets it in ``on_starting``). Follow the environment."""
    if multiprocess and values.ValueClass.__name__ == "MutexValue":
        values.ValueClass = values.get_value_class()


@dataclass
class KatoMetrics:
    """The service's metric objects; ``registry`` is None in multiprocess mode."""

    registry: CollectorRegistry | None
    http_requests: Counter = field(init=False)
    http_duration: Histogram = field(init=False)
    in_flight: Gauge = field(init=False)
    observations: Counter = field(init=False)
    learns: Counter = field(init=False)
    predictions: Counter = field(init=False)
    predictions_reused: Counter = field(init=False)
    prediction_duration: Histogram = field(init=False)
    prediction_candidates: Histogram = field(init=False)
    sessions_created: Counter = field(init=False)
    sessions_deleted: Counter = field(init=False)
    session_duration: Histogram = field(init=False)
    storage_duration: Histogram = field(init=False)
    storage_errors: Counter = field(init=False)
    pool_connections: Gauge = field(init=False)
    pool_max: Gauge = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.http_requests = Counter(
            "kato_http_requests",
            "Finished HTTP requests by route template, method and status",
            ("route", "method", "status"),
            registry=r,
        )
        self.http_duration = Histogram(
            "kato_http_request_duration_seconds",
            "HTTP request duration by route template and method",
            ("route", "method"),
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "kato_http_requests_in_flight",
            "HTTP requests being served",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.observations = Counter("kato_observations", "Accepted observations", registry=r)
        self.learns = Counter(
            "kato_learns", "Learn calls that stored or reinforced a pattern", registry=r
        )
        self.predictions = Counter(
            "kato_predictions", "Predictions answered for sessions (computed or reused)", registry=r
        )
        self.predictions_reused = Counter(
            "kato_predictions_reused",
            "Predictions answered from the session's observe-time predictions",
            registry=r,
        )
        self.prediction_duration = Histogram(
            "kato_prediction_duration_seconds",
            "Time to answer the predictions of a session",
            buckets=PREDICTION_BUCKETS,
            registry=r,
        )
        self.prediction_candidates = Histogram(
            "kato_prediction_candidates",
            "Candidate patterns returned per answer",
            buckets=CANDIDATE_BUCKETS,
            registry=r,
        )
        self.sessions_created = Counter("kato_sessions_created", "Sessions created", registry=r)
        self.sessions_deleted = Counter(
            "kato_sessions_deleted", "Sessions deleted explicitly", registry=r
        )
        self.session_duration = Histogram(
            "kato_session_duration_seconds",
            "Lifetime of explicitly deleted sessions (creation to DELETE)",
            buckets=SESSION_BUCKETS,
            registry=r,
        )
        self.storage_duration = Histogram(
            "kato_storage_operation_duration_seconds",
            "Duration of storage calls made by the service",
            ("backend", "operation"),
            buckets=STORAGE_BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "kato_storage_errors",
            "Storage calls that raised",
            ("backend", "operation"),
            registry=r,
        )
        self.pool_connections = Gauge(
            "kato_connection_pool_connections",
            "Pooled storage connections by state (in_use, idle), summed over live workers",
            ("pool", "state"),
            multiprocess_mode="livesum",
            registry=r,
        )
        self.pool_max = Gauge(
            "kato_connection_pool_max_connections",
            "Configured pool capacity, summed over live workers",
            ("pool",),
            multiprocess_mode="livesum",
            registry=r,
        )
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def request_finished(self, route: str, method: str, status: int, duration: float) -> None:
        """Count a finished request and time it. The labelled children are kept: looking
        them up through ``labels()`` on every request cost more than using them."""
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = (
                self.http_requests.labels(route=route, method=method, status=str(status)),
                self.http_duration.labels(route=route, method=method),
            )
            self._request_series[key] = series  # bounded: route templates x methods x statuses
        series[0].inc()
        series[1].observe(duration)


_metrics: KatoMetrics | None = None
_metrics_lock = threading.Lock()


def process_metrics() -> KatoMetrics:
    """This process's metrics (one set per process: multiprocess files are keyed by pid)."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                multiprocess = multiprocess_dir() is not None
                _ensure_value_class(multiprocess)
                # ``*_created`` series double the series count and no dashboard uses them.
                disable_created_metrics()
                registry = None if multiprocess else CollectorRegistry(auto_describe=True)
                _metrics = KatoMetrics(registry)
    return _metrics


def source_families() -> list[Metric]:
    """Current values of every service metric: all workers' files, or this process's registry.

    In multiprocess mode this includes the master's ``kato_worker_*_total`` counters.
    """
    metrics = process_metrics()
    if metrics.registry is not None:
        return list(metrics.registry.collect())
    directory = multiprocess_dir()
    if directory is None:  # the variable was removed after the metrics were created
        return []
    return list(MultiProcessCollector(None, path=directory).collect())  # type: ignore[arg-type]


def sample_sum(
    families: list[Metric], name: str, where: Callable[[dict[str, str]], bool] | None = None
) -> float:
    """Sum of the samples called ``name`` (over workers and labels), optionally filtered."""
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == name and (where is None or where(sample.labels))
    )


@dataclass(frozen=True, slots=True)
class Totals:
    """Service-wide totals (every worker in multiprocess mode) for the JSON monitoring routes."""

    requests: int = 0
    errors: int = 0  # 5xx
    failed: int = 0  # 4xx and 5xx
    duration_seconds: float = 0.0
    sessions_created: int = 0
    sessions_deleted: int = 0
    observations: int = 0
    predictions: int = 0
    learns: int = 0

    @classmethod
    def read(cls, families: list[Metric] | None = None) -> Totals:
        families = source_families() if families is None else families

        def status_at_least(floor: int) -> Callable[[dict[str, str]], bool]:
            return lambda labels: (
                labels.get("status", "0").isdigit() and int(labels["status"]) >= floor
            )

        def total(name: str) -> int:
            return int(sample_sum(families, name))

        return cls(
            requests=total("kato_http_requests_total"),
            errors=int(sample_sum(families, "kato_http_requests_total", status_at_least(500))),
            failed=int(sample_sum(families, "kato_http_requests_total", status_at_least(400))),
            duration_seconds=sample_sum(families, "kato_http_request_duration_seconds_sum"),
            sessions_created=total("kato_sessions_created_total"),
            sessions_deleted=total("kato_sessions_deleted_total"),
            observations=total("kato_observations_total"),
            predictions=total("kato_predictions_total"),
            learns=total("kato_learns_total"),
        )


class StorageRecorder:
    """Times storage calls of one backend; label children are cached per operation."""

    def __init__(self, backend: str, metrics: KatoMetrics | None = None) -> None:
        self.backend = backend
        self.metrics = metrics or process_metrics()
        self._children: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        # Connection-pool gauges are refreshed after storage calls, at most once a second.
        self.pool_source: Callable[[], dict[str, tuple[int, int, int]]] | None = None
        self._pool_due = throttled(POOL_REFRESH_SECONDS, time.monotonic)

    def _child(self, operation: str) -> tuple[Any, Any]:
        children = self._children.get(operation)
        if children is None:
            with self._lock:
                labels = {"backend": self.backend, "operation": operation}
                errors = self.metrics.storage_errors.labels(**labels)
                errors.inc(0)  # the series exists (at 0) from the first call on
                children = (self.metrics.storage_duration.labels(**labels), errors)
                self._children[operation] = children
        return children

    def observe(self, operation: str, seconds: float, failed: bool) -> None:
        duration, errors = self._child(operation)
        duration.observe(seconds)
        if failed:
            errors.inc()
        if self.pool_source is not None and self._pool_due():
            with contextlib.suppress(Exception):  # best-effort: never fails a request
                update_pool_gauges(self.pool_source())


def update_pool_gauges(readings: dict[str, tuple[int, int, int]]) -> None:
    """``pool -> (in_use, idle, max)`` for this worker's connection pools."""
    metrics = process_metrics()
    for pool, (in_use, idle, capacity) in readings.items():
        metrics.pool_connections.labels(pool=pool, state="in_use").set(in_use)
        metrics.pool_connections.labels(pool=pool, state="idle").set(idle)
        metrics.pool_max.labels(pool=pool).set(capacity)


def throttled(interval: float, clock: Callable[[], float]) -> Callable[[], bool]:
    """A predicate that is true at most once per ``interval`` seconds (thread-safe)."""
    last = [float("-inf")]
    lock = threading.Lock()

    def due() -> bool:
        now = clock()
        with lock:
            if now - last[0] < interval:
                return False
            last[0] = now
            return True

    return due
