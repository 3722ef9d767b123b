"""Session management routes (api.md §5.2, §5.10)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Query

from kato.engine.config import validate_config_update
from kato.service.context import ServiceContext, get_context
from kato.service.dependencies import get_sessions
from kato.service.errors import ApiError, ServerFailureError, SessionNotFoundError
from kato.service.models import (
    SESSION_RESPONSES,
    ErrorDetail,
    SessionCountResponse,
    SessionCreateRequest,
    SessionDeletedResponse,
    SessionExistsResponse,
    SessionExtendedResponse,
    SessionResponse,
    documented,
)
from kato.service.routing import KatoRoute
from kato.service.sessions import SessionService, session_info
from kato.service.timefmt import utc_now
from kato.storage.ports import StorageUnavailableError

router = APIRouter(tags=["sessions"], route_class=KatoRoute)


@router.post(
    "/sessions",
    responses=documented(
        SessionResponse, {400: {"model": ErrorDetail, "description": "Invalid configuration"}}
    ),
    summary="Create a session",
)
def create_session(
    body: SessionCreateRequest,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    config = validate_config_update(body.config or {})
    record = sessions.create(body.node_id, body.metadata or {}, body.ttl_seconds, config)
    return session_info(context, record, record.ttl_seconds)


@router.get(
    "/sessions/count", responses=documented(SessionCountResponse), summary="Live session count"
)
def count_sessions(context: ServiceContext = Depends(get_context)) -> Any:
    try:
        count = context.session_count()
    except (StorageUnavailableError, ServerFailureError):
        raise
    except Exception as exc:
        raise ServerFailureError("Failed to get session count") from exc
    return {"active_session_count": count}


@router.get(
    "/sessions/test/{test_id}",
    summary="Routing self-test (unreachable: the session guard answers first)",
    responses=SESSION_RESPONSES,
)
def routing_self_test(test_id: str) -> Any:
    return {"test_id": test_id, "message": "endpoint works"}


@router.get(
    "/sessions/{session_id}",
    responses=documented(
        SessionResponse, {404: {"model": ErrorDetail, "description": "Unknown or expired session"}}
    ),
    summary="Session info (slides the TTL)",
)
def get_session(
    session_id: str,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    try:
        with sessions.open(session_id) as record:
            pass
    except SessionNotFoundError:
        raise ApiError(404, f"Session {session_id} not found or expired") from None
    remaining = math.floor((record.expires_at - utc_now()).total_seconds())
    return session_info(context, record, remaining)


@router.delete(
    "/sessions/{session_id}",
    responses=documented(SessionDeletedResponse, SESSION_RESPONSES),
    summary="Delete a session (its node's knowledge is kept)",
)
def delete_session(session_id: str, sessions: SessionService = Depends(get_sessions)) -> Any:
    if not sessions.delete(session_id):
        raise SessionNotFoundError(session_id)
    return {"status": "deleted", "session_id": session_id}


@router.get(
    "/sessions/{session_id}/exists",
    responses=documented(SessionExistsResponse),
    summary="Existence check (does not slide the TTL)",
)
def session_exists(session_id: str, sessions: SessionService = Depends(get_sessions)) -> Any:
    status = sessions.status(session_id)
    return {"exists": status == "live", "expired": status == "expired", "session_id": session_id}


@router.post(
    "/sessions/{session_id}/extend",
    responses=documented(SessionExtendedResponse, SESSION_RESPONSES),
    summary="Set the session TTL for all following accesses",
)
def extend_session(
    session_id: str,
    ttl_seconds: int = Query(default=3600),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    applied = sessions.extend(session_id, ttl_seconds)
    return {"status": "extended", "session_id": session_id, "ttl_seconds": applied}
