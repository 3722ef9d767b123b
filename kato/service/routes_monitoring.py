"""Monitoring routes (api.md §5.9): paths and shapes fixed, numbers best-effort per worker."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from prometheus_client import generate_latest

from kato.service.context import ServiceContext, get_context
from kato.service.errors import ApiError
from kato.service.models import ErrorDetail, example
from kato.service.monitoring import METRIC_NAMES
from kato.service.prometheus import registry_for
from kato.service.routes_health import health_verdict
from kato.service.routing import KatoRoute
from kato.service.timefmt import offset_timestamp

router = APIRouter(tags=["monitoring"], route_class=KatoRoute)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _concurrency_status(utilization: float) -> str:
    if utilization >= 95:
        return "critical"
    if utilization >= 80:
        return "warning"
    return "healthy"


@router.get(
    "/concurrency",
    summary="In-flight request statistics",
    responses=example(
        {
            "status": "healthy",
            "current": {"concurrent_requests": 1, "utilization_percent": 1.0},
            "peak": {"concurrent_requests": 4, "utilization_percent": 4.0},
            "limits": {
                "per_worker": 100,
                "warning_threshold": 80,
                "critical_threshold": 95,
                "total_capacity": 100,
            },
            "configuration": {"workers": 1, "backlog": 2048, "max_requests": "unlimited"},
            "recommendations": [],
            "timestamp": "2026-11-26T10:32:01.266251+00:00",
        }
    ),
)
def concurrency(context: ServiceContext = Depends(get_context)) -> Any:
    settings = context.settings
    monitoring = context.monitoring
    per_worker = settings.uvicorn_limit_concurrency
    current = monitoring.in_flight
    peak = monitoring.peak_in_flight
    utilization = round(current / per_worker * 100, 2)
    peak_utilization = round(peak / per_worker * 100, 2)
    status = _concurrency_status(utilization)
    recommendations = []
    if status == "critical":
        recommendations.append(
            {"level": "urgent", "message": "Concurrency near the limit: add workers now"}
        )
    elif status == "warning":
        recommendations.append(
            {"level": "warning", "message": "Concurrency above 80%: consider more workers"}
        )
    elif peak_utilization >= 80:
        recommendations.append(
            {"level": "info", "message": "Peak concurrency reached 80% of the limit"}
        )
    return {
        "status": status,
        "current": {"concurrent_requests": current, "utilization_percent": utilization},
        "peak": {"concurrent_requests": peak, "utilization_percent": peak_utilization},
        "limits": {
            "per_worker": per_worker,
            "warning_threshold": int(per_worker * 0.8),
            "critical_threshold": int(per_worker * 0.95),
            "total_capacity": per_worker * settings.uvicorn_workers,
        },
        "configuration": {
            "workers": settings.uvicorn_workers,
            "backlog": settings.uvicorn_backlog,
            "max_requests": settings.uvicorn_limit_max_requests,
        },
        "recommendations": recommendations,
        "timestamp": offset_timestamp(),
    }


@router.get(
    "/cache/stats",
    summary="Cache statistics",
    responses=example(
        {
            "cache_performance": {"status": "disabled", "reason": "Cache manager not available"},
            "cache_health": {"status": "disabled"},
            "timestamp": "2026-11-26T10:32:01.266251+00:00",
        }
    ),
)
def cache_stats() -> Any:
    return {
        "cache_performance": {"status": "disabled", "reason": "Cache manager not available"},
        "cache_health": {"status": "disabled"},
        "timestamp": offset_timestamp(),
    }


@router.post(
    "/cache/invalidate",
    summary="Invalidate caches (results never change)",
    responses=example(
        {
            "status": "disabled",
            "patterns_invalidated": None,
            "symbols_invalidated": None,
            "session_id": None,
            "reason": "Cache manager not available",
            "timestamp": "2026-11-26T10:32:01.266251+00:00",
        }
    ),
)
def cache_invalidate(session_id: str | None = Query(default=None)) -> Any:
    return {
        "status": "disabled",
        "patterns_invalidated": None,
        "symbols_invalidated": None,
        "session_id": None,
        "reason": "Cache manager not available",
        "timestamp": offset_timestamp(),
    }


@router.get(
    "/distributed-stm/stats",
    summary="Distributed-STM statistics",
    responses=example({"status": "disabled", "timestamp": "2026-11-26T10:32:01.266251+00:00"}),
)
def distributed_stm_stats(context: ServiceContext = Depends(get_context)) -> Any:
    return {
        "status": "disabled",
        "distributed_stm_enabled": False,
        "performance_stats": None,
        "processor_info": None,
        "expected_improvements": None,
        "reason": "Session STM is kept in the shared session store; no separate distributed STM",
        "error": None,
        "timestamp": offset_timestamp(),
    }


def _database_block(context: ServiceContext) -> dict[str, Any]:
    """One entry per storage dependency (redis, clickhouse, qdrant, or sqlite when embedded)."""
    monitoring = context.monitoring
    return {
        dependency: {
            "operations": monitoring.total_requests,
            "errors": 0 if state == "ok" else 1,
            "avg_response_time": monitoring.average_response_time(),
        }
        for dependency, state in context.backend.health().items()
    }


def _summary(context: ServiceContext, active: int, reading: Any) -> dict[str, Any]:
    monitoring = context.monitoring
    return {
        "sessions": {
            "total_created": monitoring.sessions_created,
            "total_deleted": monitoring.sessions_deleted,
            "active": active,
            "operations_total": monitoring.observations + monitoring.predictions,
        },
        "performance": {
            "total_requests": monitoring.total_requests,
            "total_errors": monitoring.total_errors,
            "error_rate": monitoring.error_rate(),
            "average_response_time": monitoring.average_response_time(),
        },
        "resources": {
            "cpu_percent": reading.cpu_percent,
            "memory_percent": reading.memory_percent,
            "disk_percent": reading.disk_percent,
        },
        "databases": _database_block(context),
    }


@router.get(
    "/metrics",
    summary="JSON metrics summary (cached per process)",
    responses=example(
        {
            "timestamp": 1795689121.06,
            "sessions": {
                "total_created": 3,
                "total_deleted": 1,
                "active": 2,
                "operations_total": 9,
            },
            "performance": {
                "total_requests": 40,
                "total_errors": 0,
                "error_rate": 0.0,
                "average_response_time": 0.004,
            },
            "resources": {"cpu_percent": 3.5, "memory_percent": 41.2, "disk_percent": 60.1},
            "databases": {"redis": {"operations": 40, "errors": 0, "avg_response_time": 0.0}},
            "rates": {
                "requests_per_second": 0.6,
                "requests_per_minute": 40.0,
                "errors_per_minute": 0.0,
            },
            "processor_manager": {"total_processors": 1, "max_processors": 100},
            "uptime_seconds": 60.2,
            "active_sessions": 2,
            "error": None,
        }
    ),
)
def metrics(context: ServiceContext = Depends(get_context)) -> Any:
    cached = context.metrics_cache
    ttl = context.settings.metrics_cache_ttl_seconds
    if cached is not None and time.monotonic() - cached[0] < ttl:
        return cached[1]
    try:
        active = context.session_count()
        reading = context.monitoring.collect(active)
        summary = _summary(context, active, reading)
        body: dict[str, Any] = {
            "timestamp": time.time(),
            **summary,
            "rates": context.monitoring.rates(),
            "processor_manager": context.nodes.describe(),
            "uptime_seconds": context.uptime_seconds(),
            "active_sessions": active,
            "error": None,
        }
    except Exception as exc:
        body = {
            "error": f"Metrics collection failed: {exc}",
            "timestamp": time.time(),
            "processor_manager": context.nodes.describe(),
            "uptime_seconds": context.uptime_seconds(),
            "active_sessions": 0,
        }
    context.metrics_cache = (time.monotonic(), body)
    return body


@router.get(
    "/stats",
    summary="Time-series bundle",
    responses=example(
        {
            "time_range_minutes": 10,
            "timestamp": 1795689121.06,
            "processor_manager": {"total_processors": 1},
            "current_status": {"status": "healthy", "issues": [], "metrics": {}, "timestamp": 1.0},
            "time_series": {
                "kato_requests_total": [{"timestamp": 1.0, "value": 3.0, "labels": {}}]
            },
            "summary": {"sessions": {}, "performance": {}, "resources": {}, "databases": {}},
            "error": None,
        }
    ),
)
def stats(
    minutes: int = Query(default=10, ge=1), context: ServiceContext = Depends(get_context)
) -> Any:
    try:
        active = context.session_count()
        reading = context.monitoring.collect(active)
        verdict = health_verdict(context)
        body: dict[str, Any] = {
            "time_range_minutes": minutes,
            "timestamp": time.time(),
            "processor_manager": context.nodes.describe(),
            "current_status": {
                "status": verdict["status"],
                "issues": verdict["issues"],
                "metrics": {
                    "cpu_percent": reading.cpu_percent,
                    "memory_percent": reading.memory_percent,
                    "error_rate_per_min": context.monitoring.rates()["errors_per_minute"],
                },
                "timestamp": time.time(),
            },
            "time_series": {
                name: [point.to_json() for point in context.monitoring.points(name, minutes)]
                for name in METRIC_NAMES
            },
            "summary": _summary(context, active, reading),
            "error": None,
        }
    except Exception as exc:
        body = {
            "time_range_minutes": minutes,
            "timestamp": time.time(),
            "processor_manager": context.nodes.describe(),
            "error": f"Stats collection failed: {exc}",
        }
    return body


@router.get(
    "/metrics/prometheus",
    summary="Prometheus text exposition",
    response_class=Response,
    responses={
        200: {
            "content": {
                PROMETHEUS_CONTENT_TYPE: {
                    "example": "# TYPE kato_requests_total counter\nkato_requests_total 42.0\n"
                }
            }
        }
    },
)
def prometheus_metrics(context: ServiceContext = Depends(get_context)) -> Response:
    return Response(generate_latest(registry_for(context)), media_type=PROMETHEUS_CONTENT_TYPE)


@router.get(
    "/metrics/{metric_name}",
    summary="One metric's time series",
    responses={
        **example(
            {
                "metric_name": "kato_requests_total",
                "time_range_minutes": 10,
                "timestamp": 1795689121.06,
                "statistics": {"count": 2, "min": 1.0, "max": 2.0, "avg": 1.5},
                "data_points": [{"timestamp": 1795689120.0, "value": 1.0, "labels": {}}],
            }
        ),
        404: {"model": ErrorDetail, "description": "No data in the window"},
    },
)
def metric_series(
    metric_name: str,
    minutes: int = Query(default=10, ge=1),
    context: ServiceContext = Depends(get_context),
) -> Any:
    context.monitoring.collect(None)
    points = context.monitoring.points(metric_name, minutes)
    if not points:
        raise ApiError(
            404, f"No data available for metric '{metric_name}' in the last {minutes} minutes"
        )
    values = [point.value for point in points]
    return {
        "metric_name": metric_name,
        "time_range_minutes": minutes,
        "timestamp": time.time(),
        "statistics": {
            "count": len(values),
            "min": min(values),
            "max": max(values),
            "avg": sum(values) / len(values),
        },
        "data_points": [point.to_json() for point in points],
    }


@router.get(
    "/connection-pools",
    summary="Backend connection health",
    responses=example(
        {
            "status": "healthy",
            "health": {"sqlite": "ok"},
            "pool_statistics": {"backend": "embedded"},
            "connection_optimization": {},
            "performance_improvements": {},
            "error": None,
            "timestamp": "2026-11-26T10:32:01.266251+00:00",
        }
    ),
)
def connection_pools(context: ServiceContext = Depends(get_context)) -> Any:
    try:
        health = context.backend.health()
        healthy = all(state == "ok" for state in health.values())
        return {
            "status": "healthy" if healthy else "degraded",
            "health": health,
            "pool_statistics": {"backend": context.backend.name},
            "connection_optimization": {},
            "performance_improvements": {},
            "error": None,
            "timestamp": offset_timestamp(),
        }
    except Exception as exc:
        return {
            "status": "error",
            "health": {},
            "pool_statistics": {},
            "connection_optimization": {},
            "performance_improvements": {},
            "error": str(exc),
            "timestamp": offset_timestamp(),
        }
