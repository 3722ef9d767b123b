"""Prometheus exposition of the in-process monitoring numbers (api.md §5.9, route 35)."""

from __future__ import annotations

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

from kato.service.monitoring import read_resources

if TYPE_CHECKING:
    from kato.service.context import ServiceContext


class KatoCollector(Collector):
    """Reads the worker's counters at scrape time; one registry per service context."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        monitoring = self.context.monitoring
        yield CounterMetricFamily(
            "kato_sessions", "Sessions created by this worker", value=monitoring.sessions_created
        )
        yield CounterMetricFamily(
            "kato_requests", "HTTP requests served", value=monitoring.total_requests
        )
        yield CounterMetricFamily(
            "kato_errors", "HTTP requests answered with 5xx", value=monitoring.total_errors
        )
        yield SummaryMetricFamily(
            "kato_request_duration_seconds",
            "HTTP request duration",
            count_value=monitoring.total_requests,
            sum_value=monitoring.total_duration,
        )
        rates = monitoring.rates()
        resources = read_resources()
        try:
            active = float(self.context.session_count())
        except Exception:
            active = 0.0
        gauges = {
            "kato_sessions_active": ("Live sessions", active),
            "kato_sessions_expired": ("Sessions found expired by this worker", 0.0),
            "kato_requests_failed": (
                "HTTP requests answered with 4xx or 5xx",
                monitoring.total_failed,
            ),
            "kato_observations_per_second": (
                "Observations per second (1 min)",
                rates["observations_per_second"],
            ),
            "kato_predictions_per_second": (
                "Predictions per second (1 min)",
                rates["predictions_per_second"],
            ),
            "kato_cpu_usage_percent": ("Host CPU usage", resources.cpu_percent),
            "kato_memory_usage_bytes": ("Worker resident memory", float(resources.memory_bytes)),
            "kato_memory_usage_percent": ("Host memory usage", resources.memory_percent),
            "kato_clickhouse_connections": ("Open ClickHouse connections", 0.0),
            "kato_qdrant_connections": ("Open Qdrant connections", 0.0),
            "kato_redis_connections": ("Open Redis connections", 0.0),
            "kato_circuit_breaker_opens": ("Circuit breaker openings", 0.0),
            "kato_requests_in_flight": ("Requests being processed", float(monitoring.in_flight)),
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
