"""Learning and memory routes (api.md §5.5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from kato.service.context import ServiceContext, get_context, learn_request_key
from kato.service.dependencies import get_sessions
from kato.service.idempotency import (
    KEY_REUSED_RESPONSE,
    IdempotencyKeyHeader,
    Ledger,
    fingerprint,
    header_key,
)
from kato.service.models import (
    SESSION_RESPONSES,
    ClearedAllResponse,
    ClearedResponse,
    ErrorDetail,
    FinalizeResponse,
    LearnResponse,
    documented,
)
from kato.service.routing import KatoRoute
from kato.service.sessions import SessionService

router = APIRouter(tags=["learning"], route_class=KatoRoute)


@router.post(
    "/sessions/{session_id}/learn",
    responses=documented(
        LearnResponse,
        {
            **SESSION_RESPONSES,
            400: {"model": ErrorDetail, "description": "Empty STM"},
            **KEY_REUSED_RESPONSE,
        },
    ),
    summary="Learn a pattern from the STM",
)
def learn(
    session_id: str,
    idempotency_key: IdempotencyKeyHeader = None,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    return learn_in_session(context, sessions, session_id, header_key(idempotency_key))


def learn_in_session(
    context: ServiceContext, sessions: SessionService, session_id: str, key: str | None
) -> Any:
    """The learn route's work (also served by ``direct_routes``): the response's content."""
    with sessions.open(session_id) as record:
        request_fingerprint = fingerprint("learn", None)
        ledger = Ledger(record.state, key, request_fingerprint)
        replay = ledger.replay()
        if replay is not None:
            return replay
        engine = context.engine(
            record.node_id, learn_request_key(session_id, key, request_fingerprint)
        )
        name = engine.learn(record.state, context.session_config(record.config))
        remaining = len(record.state.stm)
        return ledger.respond(
            record.state,
            {
                "status": "learned",
                "pattern_name": name,
                "session_id": session_id,
                "processor_id": None,
                "message": f"Learned pattern {name} from {remaining} events",
            },
        )


@router.post(
    "/sessions/{session_id}/finalize-training",
    responses=documented(FinalizeResponse, SESSION_RESPONSES),
    summary="Precompute per-pattern metrics for the session's node",
)
def finalize_training(
    session_id: str,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    with sessions.open(session_id) as record:
        result = context.engine(record.node_id).finalize_training()
    count, time_ms = result.patterns_processed, result.time_ms
    return {
        "status": "completed",
        "patterns_processed": count,
        "time_ms": time_ms,
        "session_id": session_id,
        "node_id": record.node_id,
        "message": f"Computed Shannon entropy and TF vectors for {count} patterns in {time_ms}ms",
    }


@router.post(
    "/sessions/{session_id}/clear-stm",
    responses=documented(ClearedResponse, SESSION_RESPONSES),
    summary="Clear the session's STM, accumulators and time",
)
def clear_stm(session_id: str, sessions: SessionService = Depends(get_sessions)) -> Any:
    return clear_stm_in_session(sessions, session_id)


def clear_stm_in_session(sessions: SessionService, session_id: str) -> Any:
    """The clear-stm route's work (also served by ``direct_routes``): the response's content."""
    with sessions.open(session_id) as record:
        record.state.clear()
    return {"status": "cleared", "session_id": session_id}


@router.post(
    "/sessions/{session_id}/clear-all",
    responses=documented(ClearedAllResponse, SESSION_RESPONSES),
    summary="Delete the node's long-term memory and clear this session",
)
def clear_all(
    session_id: str,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    with sessions.open(session_id) as record:
        context.engine(record.node_id).clear_all(record.state)
    return {"status": "cleared", "session_id": session_id, "scope": "all"}
