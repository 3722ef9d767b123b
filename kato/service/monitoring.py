"""Request and resource statistics behind the monitoring routes (api.md §5.9).

Counters live in Prometheus metrics (:mod:`kato.service.metrics`); rates, time series and
concurrency are per worker and best-effort, as the contract allows. Nothing here influences a
result.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psutil

from kato.service.metrics import UNMATCHED_ROUTE, KatoMetrics, Totals, process_metrics

METRIC_NAMES: tuple[str, ...] = (
    "kato_sessions_total",
    "kato_sessions_active",
    "kato_sessions_expired",
    "kato_requests_total",
    "kato_request_duration_seconds",
    "kato_requests_failed",
    "kato_observations_per_second",
    "kato_predictions_per_second",
    "kato_cpu_usage_percent",
    "kato_memory_usage_bytes",
    "kato_memory_usage_percent",
    "kato_clickhouse_connections",
    "kato_qdrant_connections",
    "kato_redis_connections",
    "kato_errors_total",
    "kato_circuit_breaker_opens",
)
_SERIES_LENGTH = 2000
_RATE_WINDOW_SECONDS = 60.0
# session_saved looks for expired sessions once the map has doubled since the last look.
_STM_SIZES_PRUNE_FLOOR = 1024
_TOTALS_TTL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class DataPoint:
    timestamp: float
    value: float
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "value": self.value, "labels": self.labels}


@dataclass(frozen=True, slots=True)
class ResourceReading:
    cpu_percent: float
    memory_percent: float
    memory_bytes: int
    disk_percent: float


def read_resources() -> ResourceReading:
    memory = psutil.virtual_memory()
    try:
        disk = psutil.disk_usage("/").percent
    except OSError:
        disk = 0.0
    return ResourceReading(
        cpu_percent=float(psutil.cpu_percent(interval=None)),
        memory_percent=float(memory.percent),
        memory_bytes=int(psutil.Process().memory_info().rss),
        disk_percent=float(disk),
    )


class Monitoring:
    """Recording facade of the service: Prometheus metrics plus the JSON routes' series.

    Service-wide totals (``total_requests``, ``sessions_created``...) are read back from the
    Prometheus counters (every worker's, in multiprocess mode), so the JSON ``/metrics`` summary
    and ``/metrics/prometheus`` agree. In-flight and peak concurrency stay per worker: the
    concurrency limit they are compared with is per worker (``/concurrency``).
    """

    def __init__(self, metrics: KatoMetrics | None = None) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._served = 0  # this worker's running counts, the values of its time series
        self._failed = 0
        self._errors = 0
        self._created = 0
        self._recent_requests: deque[float] = deque()
        self._recent_errors: deque[float] = deque()
        self._recent_observations: deque[float] = deque()
        self._recent_predictions: deque[float] = deque()
        self.series: dict[str, deque[DataPoint]] = {
            name: deque(maxlen=_SERIES_LENGTH) for name in METRIC_NAMES
        }
        self.last_collection = time.time()
        self._stm_sizes: dict[str, tuple[str, int, float]] = {}
        self._stm_sizes_pruned_at = _STM_SIZES_PRUNE_FLOOR
        self._totals: tuple[float, Totals] | None = None
        psutil.cpu_percent(interval=None)  # prime the CPU reading

    @property
    def metrics(self) -> KatoMetrics:
        if self._metrics is None:
            self._metrics = process_metrics()
        return self._metrics

    # -- service-wide totals ---------------------------------------------------
    def totals(self) -> Totals:
        """Totals from the Prometheus counters, re-read at most every 0.2 s."""
        now = time.monotonic()
        cached = self._totals
        if cached is not None and now - cached[0] < _TOTALS_TTL_SECONDS:
            return cached[1]
        totals = Totals.read()
        self._totals = (now, totals)
        return totals

    @property
    def total_requests(self) -> int:
        return self.totals().requests

    @property
    def total_errors(self) -> int:
        return self.totals().errors

    @property
    def total_failed(self) -> int:
        return self.totals().failed

    @property
    def total_duration(self) -> float:
        return self.totals().duration_seconds

    @property
    def sessions_created(self) -> int:
        return self.totals().sessions_created

    @property
    def sessions_deleted(self) -> int:
        return self.totals().sessions_deleted

    @property
    def observations(self) -> int:
        return self.totals().observations

    @property
    def predictions(self) -> int:
        return self.totals().predictions

    # -- recording -------------------------------------------------------------
    def request_started(self) -> None:
        self.metrics.in_flight.inc()
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def request_finished(
        self, method: str, status: int, duration: float, route: str = UNMATCHED_ROUTE
    ) -> None:
        metrics = self.metrics
        metrics.in_flight.dec()
        metrics.request_finished(route, method, status, duration)
        now = time.time()
        labels = {"method": method, "status": str(status)}
        with self._lock:
            self.in_flight -= 1
            self._served += 1
            _stamp(self._recent_requests, now)
            self._add("kato_requests_total", now, float(self._served), labels)
            self._add("kato_request_duration_seconds", now, duration, labels)
            if status >= 400:
                self._failed += 1
                self._add("kato_requests_failed", now, float(self._failed), labels)
            if status >= 500:
                self._errors += 1
                _stamp(self._recent_errors, now)
                self._add("kato_errors_total", now, float(self._errors), labels)

    def session_created(self) -> None:
        self.metrics.sessions_created.inc()
        with self._lock:
            self._created += 1
            self._add("kato_sessions_total", time.time(), float(self._created), {})

    def session_deleted(self) -> None:
        self.metrics.sessions_deleted.inc()

    def session_saved(
        self, session_id: str, node_id: str, stm_length: int, expires_at: float
    ) -> None:
        """Remember a saved session's STM length until it expires (``expires_at``: epoch s)."""
        with self._lock:
            self._stm_sizes[session_id] = (node_id, stm_length, expires_at)
            if len(self._stm_sizes) >= self._stm_sizes_pruned_at:
                self._forget_expired(time.time())
                self._stm_sizes_pruned_at = max(_STM_SIZES_PRUNE_FLOOR, 2 * len(self._stm_sizes))

    def _forget_expired(self, now: float) -> None:
        expired = [key for key, (_, _, expires) in self._stm_sizes.items() if expires <= now]
        for key in expired:
            del self._stm_sizes[key]

    def session_forgotten(self, session_id: str) -> None:
        with self._lock:
            self._stm_sizes.pop(session_id, None)

    def stm_summary(self) -> dict[str, float | int]:
        """Live sessions this worker saved: distinct nodes, mean and total STM length."""
        with self._lock:
            self._forget_expired(time.time())
            sizes = list(self._stm_sizes.values())
        total = sum(length for _, length, _ in sizes)
        return {
            "nodes_with_sessions": len({node for node, _, _ in sizes}),
            "average_stm_size": total / len(sizes) if sizes else 0.0,
            "total_stm_events": total,
        }

    def observed(self, count: int = 1) -> None:
        """``count`` observations were accepted (the request succeeded)."""
        self.metrics.observations.inc(count)
        now = time.time()
        with self._lock:
            _stamp(self._recent_observations, now, count)

    def predicted(self) -> None:
        """A predictions request succeeded (counted in Prometheus by the measured engine)."""
        with self._lock:
            _stamp(self._recent_predictions, time.time())

    def collect(self, active_sessions: int | None) -> ResourceReading:
        """Sample resources (and the session gauge) into the time series."""
        reading = read_resources()
        now = time.time()
        with self._lock:
            self.last_collection = now
            self._add("kato_cpu_usage_percent", now, reading.cpu_percent, {})
            self._add("kato_memory_usage_percent", now, reading.memory_percent, {})
            self._add("kato_memory_usage_bytes", now, float(reading.memory_bytes), {})
            self._add(
                "kato_observations_per_second", now, self._per_second(self._recent_observations), {}
            )
            self._add(
                "kato_predictions_per_second", now, self._per_second(self._recent_predictions), {}
            )
            if active_sessions is not None:
                self._add("kato_sessions_active", now, float(active_sessions), {})
        return reading

    def _add(self, name: str, now: float, value: float, labels: dict[str, str]) -> None:
        self.series[name].append(DataPoint(now, value, labels))

    # -- reading ---------------------------------------------------------------
    def _trim(self, times: deque[float]) -> int:
        _drop_before(times, time.time() - _RATE_WINDOW_SECONDS)
        return len(times)

    def _per_second(self, times: deque[float]) -> float:
        return self._trim(times) / _RATE_WINDOW_SECONDS

    def rates(self) -> dict[str, float]:
        with self._lock:
            per_minute = float(self._trim(self._recent_requests))
            return {
                "requests_per_second": per_minute / _RATE_WINDOW_SECONDS,
                "requests_per_minute": per_minute,
                "errors_per_minute": float(self._trim(self._recent_errors)),
                "observations_per_second": self._per_second(self._recent_observations),
                "predictions_per_second": self._per_second(self._recent_predictions),
            }

    def average_response_time(self) -> float:
        totals = self.totals()
        return totals.duration_seconds / totals.requests if totals.requests else 0.0

    def error_rate(self) -> float:
        totals = self.totals()
        return totals.errors / totals.requests if totals.requests else 0.0

    def points(self, name: str, minutes: float) -> list[DataPoint]:
        cutoff = time.time() - minutes * 60.0
        with self._lock:
            return [point for point in self.series.get(name, ()) if point.timestamp >= cutoff]


def _stamp(times: deque[float], now: float, count: int = 1) -> None:
    """Record ``count`` events at ``now``, dropping those older than the rate window.

    Dropping here, not only when a route reads the rates, keeps the deques bounded by the
    window's traffic in a worker whose rates nobody reads.
    """
    times.extend(itertools.repeat(now, count))
    _drop_before(times, now - _RATE_WINDOW_SECONDS)


def _drop_before(times: deque[float], cutoff: float) -> None:
    while times and times[0] < cutoff:
        times.popleft()
