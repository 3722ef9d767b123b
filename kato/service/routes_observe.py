"""Observation routes (api.md §5.4)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from fastapi import APIRouter, Depends

from kato.engine.errors import VectorDimensionError
from kato.engine.types import Observation
from kato.service.context import ServiceContext, get_context, learn_request_key
from kato.service.dependencies import get_sessions
from kato.service.errors import ApiError, vector_dimension_detail
from kato.service.idempotency import (
    KEY_REUSED_RESPONSE,
    IdempotencyKeyHeader,
    Ledger,
    derived_key,
    fingerprint,
    header_key,
)
from kato.service.limits import check_observe_room, check_sequence_room
from kato.service.models import (
    SESSION_RESPONSES,
    ErrorDetail,
    ObservationInput,
    ObserveResponse,
    ObserveSequenceRequest,
    ObserveSequenceResponse,
    documented,
)
from kato.service.routing import KatoRoute
from kato.service.sessions import SessionService

router = APIRouter(tags=["observations"], route_class=KatoRoute)

_DIMENSION_ERROR: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "Vector dimension mismatch"}
}


def to_observation(item: ObservationInput) -> Observation:
    return Observation(
        strings=list(item.strings),
        vectors=[list(vector) for vector in item.vectors],
        emotives=dict(item.emotives),
        metadata=dict(item.metadata),
    )


@router.post(
    "/sessions/{session_id}/observe",
    responses=documented(
        ObserveResponse, {**SESSION_RESPONSES, **_DIMENSION_ERROR, **KEY_REUSED_RESPONSE}
    ),
    summary="Observe one event",
)
def observe(
    session_id: str,
    body: ObservationInput,
    idempotency_key: IdempotencyKeyHeader = None,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    return observe_in_session(context, sessions, session_id, body, header_key(idempotency_key))


def observe_in_session(
    context: ServiceContext,
    sessions: SessionService,
    session_id: str,
    body: ObservationInput,
    key: str | None,
) -> Any:
    """The observe route's work (also served by ``direct_routes``): the response's content."""
    request_fingerprint = fingerprint("observe", body.model_dump(mode="json")) if key else ""
    with sessions.open(session_id) as record:
        ledger = Ledger(record.state, key, request_fingerprint)
        replay = ledger.replay()
        if replay is not None:
            return replay
        check_observe_room(context.settings, len(record.state.stm), body)
        engine = context.engine(
            record.node_id, learn_request_key(session_id, key, request_fingerprint)
        )
        result = engine.observe(
            record.state, to_observation(body), context.session_config(record.config)
        )
        response = ledger.respond(
            record.state,
            {
                "status": "okay",
                "session_id": session_id,
                "processor_id": record.node_id,
                "stm_length": result.stm_length,
                "time": result.time,
                "unique_id": f"obs-{uuid.uuid4().hex}",
                "auto_learned_pattern": result.auto_learned_pattern,
            },
        )
    context.monitoring.observed()
    return response


@router.post(
    "/sessions/{session_id}/observe-sequence",
    responses=documented(
        ObserveSequenceResponse,
        {**SESSION_RESPONSES, **_DIMENSION_ERROR, **KEY_REUSED_RESPONSE},
    ),
    summary="Observe a batch of events (optionally learning)",
)
def observe_sequence(
    session_id: str,
    body: ObserveSequenceRequest,
    idempotency_key: IdempotencyKeyHeader = None,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    key = header_key(idempotency_key) or derived_key([item.unique_id for item in body.observations])
    request_fingerprint = (
        fingerprint("observe-sequence", body.model_dump(mode="json")) if key else ""
    )
    with sessions.open(session_id) as record:
        ledger = Ledger(record.state, key, request_fingerprint)
        replay = ledger.replay()
        if replay is not None:
            return replay
        config = context.session_config(record.config)
        check_sequence_room(  # before anything changes (docs/limits.md)
            context.settings,
            len(record.state.stm),
            body.observations,
            config,
            learn_after_each=body.learn_after_each,
            clear_stm_between=body.clear_stm_between,
        )
        engine = context.engine(
            record.node_id, learn_request_key(session_id, key, request_fingerprint)
        )
        state = copy.deepcopy(record.state)
        initial_length = len(state.stm)
        results: list[dict[str, Any]] = []
        learned: list[str] = []
        for index, item in enumerate(body.observations):
            if body.clear_stm_between and index > 0:
                state.stm = []
            try:
                result = engine.observe(state, to_observation(item), config)
            except VectorDimensionError as exc:
                raise ApiError(400, vector_dimension_detail(exc, index)) from None
            if body.learn_after_each and state.stm:
                learned.append(engine.learn(state, config))
            if result.auto_learned_pattern is not None:
                learned.append(result.auto_learned_pattern)
            results.append(
                {
                    "status": "okay",
                    "sequence_position": index,
                    "stm_length": len(state.stm),
                    "time": result.time,
                    "unique_id": item.unique_id or f"seq-obs-{uuid.uuid4().hex}",
                    "auto_learned_pattern": result.auto_learned_pattern,
                }
            )
        final_pattern = None
        if body.learn_at_end and state.stm:
            try:
                final_pattern = engine.learn(state, config)
                learned.append(final_pattern)
            except Exception:  # the contract swallows a failing final learn
                final_pattern = None
        response = ledger.respond(
            state,
            {
                "status": "completed",
                "processor_id": record.node_id,
                "observations_processed": len(body.observations),
                "initial_stm_length": initial_length,
                "final_stm_length": len(state.stm),
                "results": results,
                "auto_learned_patterns": learned,
                "final_learned_pattern": final_pattern,
                "isolated": body.clear_stm_between,
            },
        )
        record.state = state
    context.monitoring.observed(len(body.observations))
    return response
