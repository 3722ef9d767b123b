"""What ``GET /metrics/prometheus`` serves (api.md §5.9, route 35).

Three parts, collected at scrape time by the worker that serves the scrape:

1. the service metrics of :mod:`kato.service.metrics`: every worker's values in multiprocess
   mode (plus the gunicorn master's ``kato_worker_*_total``), this process's otherwise;
2. values that are the same whichever worker reads them, read from the shared storage now:
   ``kato_sessions_active``, ``kato_dependency_up``, the knowledge-base sizes;
3. the metric names registered by api.md §5.9 (``kato_requests_total``, ``kato_errors_total``,
   ``kato_cpu_usage_percent``...), derived from part 1 for existing consumers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from kato.service.metrics import Totals, process_metrics, sample_sum, source_families
from kato.service.monitoring import read_resources
from kato.service.storage_metrics import TimedBackend
from kato.storage.ports import Backend, StorageUnavailableError

if TYPE_CHECKING:
    from kato.service.context import ServiceContext

KB_TOP_NODES = 10  # knowledge bases labelled individually; the rest are summed as OTHER_NODES
OTHER_NODES = "_other"
NODE_LABEL_LENGTH = 16  # hex characters of the node key used as the ``node`` label
KB_SIZES_TTL_SECONDS = 30.0


def knowledge_base_sizes(backend: Backend) -> list[tuple[str, int]]:
    """``(node label, patterns)`` of every node holding knowledge, largest first."""
    sizes = [
        (key[:NODE_LABEL_LENGTH], backend.node(key).kb.global_stats().total_unique_patterns)
        for key in backend.nodes()
    ]
    return sorted(sizes, key=lambda item: (-item[1], item[0]))


def bounded(sizes: list[tuple[str, int]], top: int = KB_TOP_NODES) -> list[tuple[str, int]]:
    """At most ``top + 1`` series: the ``top`` largest nodes, then the sum of the others."""
    head = sizes[:top]
    rest = sizes[top:]
    return head + ([(OTHER_NODES, sum(patterns for _, patterns in rest))] if rest else [])


def _worker_exits_placeholder(families: list[Metric]) -> Iterator[Metric]:
    """``kato_worker_exits_total 0`` under gunicorn until the master wrote the first exit.

    The master creates the counter at the first exit; a series that appears at 1 hides that
    exit from ``increase()``. Serving 0 before is a reading, not an increment.
    """
    if process_metrics().registry is not None:  # not under gunicorn: no worker counters
        return
    if any(sample.name == "kato_worker_exits_total" for f in families for sample in f.samples):
        return
    yield CounterMetricFamily(
        "kato_worker_exits", "Worker processes that exited (any cause)", value=0
    )


class KatoCollector(Collector):
    """The scrape of one service context; one registry per context."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self._kb_cache: tuple[float, int, list[tuple[str, int]]] | None = None
        self._kb_lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        families = source_families()
        totals = Totals.read(families)
        yield from families
        yield from _worker_exits_placeholder(families)
        yield from self._shared_state(totals.learns)
        yield from self._compatibility(families, totals)

    # -- part 2 ----------------------------------------------------------------
    def _raw_backend(self) -> Backend:
        backend = self.context.backend
        return backend.target if isinstance(backend, TimedBackend) else backend

    def _shared_state(self, learns: int) -> Iterator[Metric]:
        try:
            active = self.context.session_count()
        except Exception:  # storage down: the dependency gauge says so
            active = None
        if active is not None:
            yield GaugeMetricFamily("kato_sessions_active", "Live sessions", value=active)
        up = GaugeMetricFamily(
            "kato_dependency_up", "1 when the storage dependency answers", labels=["dependency"]
        )
        for dependency, healthy in self._dependencies().items():
            up.add_metric([dependency], 1.0 if healthy else 0.0)
        yield up
        sizes = self._kb_sizes(learns)
        if sizes is not None:
            yield GaugeMetricFamily(
                "kato_knowledge_bases", "Nodes holding knowledge", value=len(sizes)
            )
            patterns = GaugeMetricFamily(
                "kato_knowledge_base_patterns",
                f"Patterns of the {KB_TOP_NODES} largest knowledge bases "
                f"(node = first {NODE_LABEL_LENGTH} hex of the node key), the rest as "
                f"node={OTHER_NODES}",
                labels=["node"],
            )
            for node, count in bounded(sizes):
                patterns.add_metric([node], float(count))
            yield patterns

    def _dependencies(self) -> dict[str, bool]:
        try:
            health = self._raw_backend().health()
        except StorageUnavailableError as exc:
            return {exc.dependency: False}
        except Exception:
            return {"storage": False}
        return {name: state == "ok" for name, state in health.items()}

    def _kb_sizes(self, learns: int) -> list[tuple[str, int]] | None:
        """Sizes read at most every KB_SIZES_TTL_SECONDS, or sooner when a worker learned."""
        now = time.monotonic()
        with self._kb_lock:
            cached = self._kb_cache
            if (
                cached is not None
                and cached[1] == learns
                and now - cached[0] < KB_SIZES_TTL_SECONDS
            ):
                return cached[2]
            try:
                sizes = knowledge_base_sizes(self._raw_backend())
            except Exception:
                return cached[2] if cached is not None else None
            self._kb_cache = (now, learns, sizes)
            return sizes

    # -- part 3 ----------------------------------------------------------------
    def _compatibility(self, families: list[Metric], totals: Totals) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "kato_requests", "HTTP requests served (all routes)", value=totals.requests
        )
        yield CounterMetricFamily(
            "kato_errors", "HTTP requests answered with 5xx", value=totals.errors
        )
        yield CounterMetricFamily(
            "kato_sessions", "Sessions created", value=totals.sessions_created
        )
        yield SummaryMetricFamily(
            "kato_request_duration_seconds",
            "HTTP request duration (all routes)",
            count_value=totals.requests,
            sum_value=totals.duration_seconds,
        )

        def pool_total(pool: str) -> float:
            return sample_sum(
                families, "kato_connection_pool_connections", lambda labels: labels["pool"] == pool
            )

        rates = self.context.monitoring.rates()
        resources = read_resources()
        gauges = {
            "kato_sessions_expired": ("Sessions found expired (not tracked)", 0.0),
            "kato_requests_failed": ("HTTP requests answered with 4xx or 5xx", totals.failed),
            "kato_observations_per_second": (
                "Observations per second (1 min, serving worker)",
                rates["observations_per_second"],
            ),
            "kato_predictions_per_second": (
                "Predictions per second (1 min, serving worker)",
                rates["predictions_per_second"],
            ),
            "kato_cpu_usage_percent": ("Host CPU usage", resources.cpu_percent),
            "kato_memory_usage_bytes": (
                "Resident memory of the serving worker",
                float(resources.memory_bytes),
            ),
            "kato_memory_usage_percent": ("Host memory usage", resources.memory_percent),
            "kato_clickhouse_connections": (
                "Pooled ClickHouse connections",
                pool_total("clickhouse"),
            ),
            "kato_qdrant_connections": ("Qdrant connections (not pooled)", 0.0),
            "kato_redis_connections": ("Pooled Redis connections", pool_total("redis")),
            "kato_circuit_breaker_opens": ("Circuit breaker openings (no breaker)", 0.0),
            "kato_requests_in_flight": (
                "Requests being processed",
                sample_sum(families, "kato_http_requests_in_flight"),
            ),
        }
        for name, (documentation, value) in gauges.items():
            yield GaugeMetricFamily(name, documentation, value=float(value))


def registry_for(context: ServiceContext) -> CollectorRegistry:
    if context.prometheus_registry is None:
        fresh = CollectorRegistry(auto_describe=False)
        fresh.register(KatoCollector(context))
        context.prometheus_registry = fresh
    registry: CollectorRegistry = context.prometheus_registry
    return registry
