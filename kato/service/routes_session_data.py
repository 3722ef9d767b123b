"""Read routes of one session: STM, predictions, percept and cognition data (api.md §5.4–§5.6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from kato.service.context import ServiceContext, get_context
from kato.service.dependencies import get_sessions
from kato.service.json_response import KatoJSONResponse, with_repr_floats
from kato.service.models import (
    SESSION_RESPONSES,
    CognitionDataResponse,
    PerceptDataResponse,
    PredictionsResponse,
    StmResponse,
    documented,
)
from kato.service.routing import KatoRoute
from kato.service.sessions import SessionService

router = APIRouter(tags=["session data"], route_class=KatoRoute)


@router.get(
    "/sessions/{session_id}/stm",
    responses=documented(StmResponse, SESSION_RESPONSES),
    summary="Short-term memory",
)
def get_stm(session_id: str, sessions: SessionService = Depends(get_sessions)) -> Any:
    with sessions.open(session_id) as record:
        stm = record.state.stm
    return {"stm": stm, "session_id": session_id, "length": len(stm)}


@router.get(
    "/sessions/{session_id}/predictions",
    responses=documented(PredictionsResponse, SESSION_RESPONSES),
    summary="Predictions for the current STM (recomputed, not stored)",
)
def get_predictions(
    session_id: str,
    unique_id: str | None = Query(default=None, description="Accepted and ignored"),
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    return predictions_in_session(context, sessions, session_id)


def predictions_in_session(
    context: ServiceContext, sessions: SessionService, session_id: str
) -> KatoJSONResponse:
    """The predictions route's work (also served by ``direct_routes``): its response."""
    with sessions.open(session_id) as record:
        engine = context.engine(record.node_id)
        result = engine.session_predictions(record.state, context.session_config(record.config))
    context.monitoring.predicted()
    # A Response skips FastAPI's generic walk over the (large) body before encoding.
    return KatoJSONResponse(
        {
            "predictions": with_repr_floats(result.predictions),
            "future_potentials": with_repr_floats(result.future_potentials),
            "session_id": session_id,
            "processor_id": None,
            "count": len(result.predictions),
            "time": None,
            "unique_id": None,
        }
    )


@router.get(
    "/sessions/{session_id}/percept-data",
    responses=documented(PerceptDataResponse, SESSION_RESPONSES),
    summary="The last observation as processed",
)
def get_percept_data(session_id: str, sessions: SessionService = Depends(get_sessions)) -> Any:
    with sessions.open(session_id) as record:
        percept = record.state.percept_data
    return {"percept_data": percept, "session_id": session_id, "node_id": record.node_id}


@router.get(
    "/sessions/{session_id}/cognition-data",
    responses=documented(CognitionDataResponse, SESSION_RESPONSES),
    summary="The session's cognitive state",
)
def get_cognition_data(session_id: str, sessions: SessionService = Depends(get_sessions)) -> Any:
    with sessions.open(session_id) as record:
        state = record.state
    emotives = state.emotives_accumulator[-1] if state.emotives_accumulator else {}
    cognition = {
        "predictions": with_repr_floats(state.prediction_list()),
        "emotives": emotives,
        "symbols": [symbol for event in state.stm for symbol in event],
        "command": "",
        "metadata": {},
        "path": [],
        "strings": [],
        "vectors": [],
        "short_term_memory": state.stm,
        "time": state.time,
    }
    return KatoJSONResponse(
        {"cognition_data": cognition, "session_id": session_id, "node_id": record.node_id}
    )
