"""Banner, health and status routes (api.md §5.1, §5.8)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from kato.service.context import ServiceContext, get_context
from kato.service.health import evaluate
from kato.service.models import HealthResponse, documented, example
from kato.service.monitoring import METRIC_NAMES
from kato.service.routing import KatoRoute
from kato.service.timefmt import offset_timestamp

router = APIRouter(tags=["health"], route_class=KatoRoute)

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


class HealthBody(HealthResponse):
    """api.md §5.8's body plus ``dependencies`` (docs/COMPATIBILITY.md)."""

    dependencies: dict[str, str] = Field(
        description='Dependency name -> "ok" or "down: <reason>"',
        examples=[{"redis": "ok", "clickhouse": "down: ConnectionRefusedError", "qdrant": "ok"}],
    )


def health_verdict(context: ServiceContext) -> dict[str, Any]:
    """Status, issues, session count and dependency states; never raises (api.md §5.8)."""
    report = evaluate(context)
    return {
        "status": report.status,
        "processor_status": report.processor_status,
        "issues": report.issues,
        "active_sessions": report.active_sessions,
        "dependencies": report.dependencies,
    }


@router.get("/health", responses=documented(HealthBody), summary="Health (always HTTP 200)")
def health(context: ServiceContext = Depends(get_context)) -> Any:
    report = evaluate(context)
    return {
        "status": report.status,
        "processor_status": report.processor_status,
        "service_name": context.settings.service_name,
        "uptime_seconds": context.uptime_seconds(),
        "issues": report.issues,
        "metrics_collected": len(METRIC_NAMES),
        "last_collection": context.started_epoch,
        "active_sessions": report.active_sessions,
        "timestamp": offset_timestamp(),
        "dependencies": report.dependencies,
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
