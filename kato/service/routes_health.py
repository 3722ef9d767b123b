"""Banner, health and status routes (api.md §5.1, §5.8)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends

from kato.service.context import ServiceContext, get_context
from kato.service.models import HealthResponse, documented, example
from kato.service.monitoring import METRIC_NAMES
from kato.service.timefmt import offset_timestamp

router = APIRouter(tags=["health"])

API_VERSION = "3.10.1"
_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^@/]*@")


def mask_url_credentials(url: str) -> str:
    """Replace any user-info of a URL by ``***`` (api.md §5.8)."""
    return _USERINFO.sub(r"\g<scheme>***@", url)


@router.get(
    "/",
    summary="Service banner",
    responses=example(
        {
            "service": "KATO API",
            "version": "3.10.1",
            "description": "Knowledge Abstraction for Traceable Outcomes with Multi-User Support",
            "docs": "/docs",
            "health": "/health",
            "status": "running",
            "uptime_seconds": 12.3,
            "architecture": "modular",
            "session_support": True,
        }
    ),
)
def banner(context: ServiceContext = Depends(get_context)) -> Any:
    return {
        "service": "KATO API",
        "version": API_VERSION,
        "description": "Knowledge Abstraction for Traceable Outcomes with Multi-User Support",
        "docs": "/docs",
        "health": "/health",
        "status": "running",
        "uptime_seconds": context.uptime_seconds(),
        "architecture": "modular",
        "session_support": True,
    }


def health_verdict(context: ServiceContext) -> dict[str, Any]:
    """Status, issues and session count; never raises (api.md §5.8)."""
    try:
        active = context.session_count()
        reading = context.monitoring.collect(active)
        errors_per_minute = context.monitoring.rates()["errors_per_minute"]
        issues: list[str] = []
        status = "healthy"
        for dependency, state in context.backend.health().items():
            if state != "ok":
                issues.append(f"{dependency}: {state}")
                status = "unhealthy"
        if reading.memory_percent > 90:
            issues.append(f"High memory usage: {reading.memory_percent}%")
            status = "unhealthy"
        if reading.cpu_percent > 80:
            issues.append(f"High CPU usage: {reading.cpu_percent}%")
            status = "degraded" if status == "healthy" else status
        if errors_per_minute > 10:
            issues.append(f"High error rate: {errors_per_minute} errors per minute")
            status = "degraded" if status == "healthy" else status
        return {
            "status": status,
            "processor_status": "healthy" if status != "unhealthy" else "unhealthy",
            "issues": issues,
            "active_sessions": active,
        }
    except Exception as exc:
        return {
            "status": "unhealthy",
            "processor_status": "unknown",
            "issues": [f"Health check error: {exc}"],
            "active_sessions": 0,
        }


@router.get("/health", responses=documented(HealthResponse), summary="Health (always HTTP 200)")
def health(context: ServiceContext = Depends(get_context)) -> Any:
    verdict = health_verdict(context)
    return {
        "status": verdict["status"],
        "processor_status": verdict["processor_status"],
        "service_name": context.settings.service_name,
        "uptime_seconds": context.uptime_seconds(),
        "issues": verdict["issues"],
        "metrics_collected": len(METRIC_NAMES),
        "last_collection": context.started_epoch,
        "active_sessions": verdict["active_sessions"],
        "timestamp": offset_timestamp(),
    }


def session_statistics(context: ServiceContext) -> dict[str, Any]:
    active = context.session_count()
    sessions: dict[str, Any] = {
        "total_sessions": active,
        "active_sessions": active,
        "expired_sessions": 0,
    }
    redis_url = context.settings.storage.effective_redis_url()
    if context.backend.name == "distributed" and redis_url:
        sessions["backend"] = "redis"
        sessions["redis_url"] = mask_url_credentials(redis_url)
    else:
        sessions["backend"] = "memory"
        sessions.update(context.monitoring.stm_summary())
    return sessions


@router.get(
    "/status",
    summary="Status, session and engine statistics",
    responses=example(
        {
            "status": "healthy",
            "base_processor_id": "kato",
            "uptime_seconds": 0.15,
            "sessions": {
                "total_sessions": 1,
                "active_sessions": 1,
                "expired_sessions": 0,
                "backend": "redis",
                "redis_url": "redis://***@redis:6379/0",
            },
            "processors": {
                "total_processors": 1,
                "max_processors": 100,
                "eviction_ttl_seconds": 3600,
                "processors": [],
            },
            "version": "3.10.1",
        }
    ),
)
def status(context: ServiceContext = Depends(get_context)) -> Any:
    return {
        "status": "healthy",
        "base_processor_id": context.settings.service_name,
        "uptime_seconds": context.uptime_seconds(),
        "sessions": session_statistics(context),
        "processors": context.nodes.describe(),
        "version": API_VERSION,
    }
