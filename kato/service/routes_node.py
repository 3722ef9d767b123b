"""Node-scoped utility routes without a session (api.md §5.7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from kato.service.context import ServiceContext, get_context
from kato.service.dependencies import resolve_node_id
from kato.service.errors import ServerFailureError
from kato.service.models import (
    AffinitiesResponse,
    PatternResponse,
    ServerError,
    SymbolAffinityResponse,
    SymbolStatsResponse,
    documented,
    example,
)
from kato.service.routing import KatoRoute
from kato.storage.ports import StorageUnavailableError

router = APIRouter(tags=["node"], route_class=KatoRoute)

_FAILURE: dict[int | str, dict[str, Any]] = {
    500: {"model": ServerError, "description": "Retrieval failed"}
}
_DEPRECATION_WARNING = (
    "This endpoint is deprecated. Use /sessions/{{session_id}}/{route} for session-aware data."
)


def pattern_body(record: Any) -> dict[str, Any]:
    """The pattern object of api.md §6.5."""
    return {
        "name": f"PTRN|{record.name}",
        "pattern_data": record.pattern_data,
        "length": record.length,
        "frequency": record.frequency,
        "emotives": record.emotives,
        "metadata": record.metadata,
    }


@router.get(
    "/pattern/{pattern_id}",
    responses=documented(PatternResponse, _FAILURE),
    summary="A pattern by name (with or without the PTRN| prefix)",
)
def get_pattern(
    pattern_id: str,
    node_id: str = Depends(resolve_node_id),
    context: ServiceContext = Depends(get_context),
) -> Any:
    name = pattern_id.removeprefix("PTRN|")
    try:
        found = context.knowledge_base(node_id).get_patterns([name]).get(name)
    except StorageUnavailableError:
        raise
    except Exception as exc:
        raise ServerFailureError(f"Pattern retrieval failed: {exc}") from exc
    if found is None:
        pattern: dict[str, Any] = {"status": "error", "message": f"Pattern {pattern_id} not found"}
    else:
        pattern = {"status": "okay", "pattern": pattern_body(found)}
    return {"pattern": pattern, "node_id": context.display_id(node_id)}


@router.get(
    "/percept-data",
    deprecated=True,
    responses=example({"percept_data": {}, "node_id": "default_node_kato", "warning": "…"}),
    summary="Deprecated: static payload; use the session route",
)
def deprecated_percept_data(
    node_id: str = Depends(resolve_node_id), context: ServiceContext = Depends(get_context)
) -> Any:
    return {
        "percept_data": {},
        "node_id": context.display_id(node_id),
        "warning": _DEPRECATION_WARNING.format(route="percept-data"),
    }


@router.get(
    "/cognition-data",
    deprecated=True,
    responses=example({"cognition_data": {}, "node_id": "default_node_kato", "warning": "…"}),
    summary="Deprecated: static payload; use the session route",
)
def deprecated_cognition_data(
    node_id: str = Depends(resolve_node_id), context: ServiceContext = Depends(get_context)
) -> Any:
    return {
        "cognition_data": {
            "predictions": [],
            "emotives": {},
            "symbols": [],
            "command": "",
            "metadata": {},
            "path": [],
            "strings": [],
            "vectors": [],
            "short_term_memory": [],
        },
        "node_id": context.display_id(node_id),
        "warning": _DEPRECATION_WARNING.format(route="cognition-data"),
    }


@router.get(
    "/symbols/affinity",
    responses=documented(AffinitiesResponse, _FAILURE),
    summary="Every symbol's emotive affinity",
)
def all_affinities(
    node_id: str = Depends(resolve_node_id), context: ServiceContext = Depends(get_context)
) -> Any:
    try:
        affinities = context.knowledge_base(node_id).all_affinities()
    except StorageUnavailableError:
        raise
    except Exception as exc:
        raise ServerFailureError(f"Symbol affinity retrieval failed: {exc}") from exc
    return {"affinities": affinities, "node_id": context.display_id(node_id)}


@router.get(
    "/symbols/stats",
    responses=documented(SymbolStatsResponse, _FAILURE),
    summary="Every symbol's frequencies",
)
def symbol_stats(
    node_id: str = Depends(resolve_node_id), context: ServiceContext = Depends(get_context)
) -> Any:
    try:
        stats = context.knowledge_base(node_id).all_symbol_stats()
    except StorageUnavailableError:
        raise
    except Exception as exc:
        raise ServerFailureError(f"Symbol stats retrieval failed: {exc}") from exc
    symbols = {
        stat.name: {
            "name": stat.name,
            "frequency": stat.frequency,
            "pattern_member_frequency": stat.pattern_member_frequency,
        }
        for stat in stats
    }
    return {"symbols": symbols, "node_id": context.display_id(node_id)}


@router.get(
    "/symbols/{symbol}/affinity",
    responses=documented(SymbolAffinityResponse, _FAILURE),
    summary="One symbol's emotive affinity",
)
def symbol_affinity(
    symbol: str,
    node_id: str = Depends(resolve_node_id),
    context: ServiceContext = Depends(get_context),
) -> Any:
    try:
        affinity = context.knowledge_base(node_id).affinities([symbol]).get(symbol, {})
    except StorageUnavailableError:
        raise
    except Exception as exc:
        raise ServerFailureError(f"Symbol affinity retrieval failed: {exc}") from exc
    return {"symbol": symbol, "affinity": affinity, "node_id": context.display_id(node_id)}
