"""Session configuration routes (api.md §5.3, §7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from fastapi.openapi.models import Example

from kato.engine.config import validate_config_update
from kato.engine.errors import InvalidConfigError
from kato.service.context import ServiceContext, get_context
from kato.service.dependencies import get_sessions
from kato.service.models import (
    SESSION_RESPONSES,
    ConfigResponse,
    ErrorDetail,
    StatusMessageResponse,
    documented,
)
from kato.service.routing import KatoRoute
from kato.service.sessions import SessionService

router = APIRouter(tags=["configuration"], route_class=KatoRoute)

_CONFIG_EXAMPLES: dict[str, Example] = {
    "wrapped": {"value": {"config": {"recall_threshold": 0.2, "max_predictions": 10}}},
    "flat": {"value": {"use_token_matching": False}},
}


def apply_update(overrides: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The session's new overrides after a validated update (api.md §7.3).

    The use_token_matching → sort_symbols auto-toggle runs here (updates only).
    """
    if "use_token_matching" in update and "sort_symbols" not in update:
        update = {**update, "sort_symbols": update["use_token_matching"]}
    merged = dict(overrides)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@router.get(
    "/sessions/{session_id}/config",
    responses=documented(ConfigResponse, SESSION_RESPONSES),
    summary="The session's effective configuration",
)
def get_config(
    session_id: str,
    context: ServiceContext = Depends(get_context),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    with sessions.open(session_id) as record:
        config = context.session_config(record.config).to_effective_dict()
    return {"session_id": session_id, "config": config}


@router.post(
    "/sessions/{session_id}/config",
    responses=documented(
        StatusMessageResponse,
        {**SESSION_RESPONSES, 400: {"model": ErrorDetail, "description": "Invalid values"}},
    ),
    summary="Update the session configuration (wrapped or flat body)",
)
def update_config(
    session_id: str,
    body: dict[str, Any] = Body(..., openapi_examples=_CONFIG_EXAMPLES),
    sessions: SessionService = Depends(get_sessions),
) -> Any:
    update = body.get("config", body)
    if not isinstance(update, dict):
        raise InvalidConfigError({"config": "Must be an object"})
    validated = validate_config_update(update)
    with sessions.open(session_id) as record:
        record.config = apply_update(record.config, validated)
    return {"status": "okay", "message": "Configuration updated", "session_id": session_id}
