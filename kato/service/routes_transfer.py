"""Knowledge-base export and import over HTTP (kato-kb v1, docs/storage.md).

Additions beyond api.md (docs/COMPATIBILITY.md): ``GET /nodes/{node_id}/export`` streams
the node's file, ``POST /nodes/{node_id}/import`` loads one atomically through
``KnowledgeBase.restore``. Both work on every backend; the node key is derived from the
service's ``SERVICE_NAME`` as for every other route.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from itertools import chain
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from kato.service import auth
from kato.service.context import ServiceContext, get_context
from kato.service.errors import ApiError
from kato.service.models import ErrorDetail
from kato.service.routing import KatoRoute
from kato.storage.keys import node_key
from kato.storage.transfer import (
    NodeNotEmptyError,
    TransferError,
    export_lines,
    import_node,
)

router = APIRouter(tags=["node"], route_class=KatoRoute)

MEDIA_TYPE = "application/x-ndjson"


class ImportResponse(BaseModel):
    """What ``POST /nodes/{node_id}/import`` wrote."""

    status: str = Field(examples=["imported"])
    node_id: str = Field(examples=["my-node"], description="The node id as sent in the path.")
    replaced: bool = Field(description="Whether existing knowledge was overwritten.")
    patterns: int = Field(examples=[40], description="Patterns imported.")
    symbols: int = Field(examples=[12], description="Symbols with their frequencies.")
    affinities: int = Field(examples=[9], description="Symbols with emotive affinities.")
    vectors: int = Field(examples=[3], description="Stored vectors.")
    pending: int = Field(examples=[1], description="Pending (not yet flushed) vectors.")


@functools.lru_cache(maxsize=4)
def _keyring(env_value: str | None, file_path: str | None) -> auth.KeyRing | None:
    return auth.load_keyring(env_value, file_path)


def node_access(node_id: str, request: Request, context: ServiceContext) -> None:
    """403 when API keys are on and the presented key is limited to other nodes.

    The auth middleware checks the key itself (401); node limits of paths under
    ``/nodes/`` are checked here, where the node id is known.
    """
    settings = context.settings
    keyring = _keyring(settings.kato_api_keys, settings.kato_api_keys_file)
    if keyring is None:
        return
    presented = auth.presented_key(request.headers)
    key = keyring.match(presented) if presented is not None else None
    if key is not None and not key.allows(node_id):
        raise ApiError(403, auth.other_node(node_id).detail)


def _handle(context: ServiceContext, node_id: str) -> Any:
    return context.backend.node(node_key(context.settings.service_name, node_id))


_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorDetail, "description": "The API key is limited to other nodes"}
}


@router.get(
    "/nodes/{node_id}/export",
    summary="Export the node's knowledge base (kato-kb v1 file)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The kato-kb v1 file: ASCII JSON lines (header, patterns, symbols, "
            "affinities, vectors, pending vectors, end record); equal knowledge bases give "
            "byte-identical files. An unknown node exports as empty.",
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **_FORBIDDEN,
    },
)
def export_route(
    node_id: str, request: Request, context: ServiceContext = Depends(get_context)
) -> StreamingResponse:
    node_access(node_id, request, context)
    handle = _handle(context, node_id)
    lines = export_lines(
        handle.kb, handle.vectors, service_name=context.settings.service_name, node_id=node_id
    )
    first = next(lines)  # reads the whole node: a storage failure is a 503, not a cut stream
    body: Iterator[str] = chain([first], lines)
    filename = f"kato-kb-{node_key(context.settings.service_name, node_id)}.ndjson"
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/nodes/{node_id}/import",
    summary="Import a kato-kb file into the node (atomic)",
    response_model=ImportResponse,
    responses={
        400: {"model": ErrorDetail, "description": "Malformed, truncated or inconsistent file"},
        **_FORBIDDEN,
        409: {"model": ErrorDetail, "description": "The node is not empty and replace=false"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A kato-kb v1 file as written by the export route or `kato export`"
            " (up to KATO_MAX_BODY_BYTES).",
            # The body is read as raw text whatever its Content-Type; both are listed so that
            # generic clients (and the schema fuzzer) can send it.
            "content": {
                MEDIA_TYPE: {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_route(
    node_id: str,
    request: Request,
    replace: bool = Query(
        default=False, description="Overwrite the node's knowledge (and vectors) if it has any."
    ),
    context: ServiceContext = Depends(get_context),
) -> Any:
    node_access(node_id, request, context)
    raw = await request.body()
    try:
        lines = raw.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError as exc:
        raise ApiError(400, _invalid(f"the body is not UTF-8 text ({exc.reason})")) from None
    try:
        dump = await run_in_threadpool(
            import_node, _handle(context, node_id), lines, replace=replace
        )
    except NodeNotEmptyError as exc:
        raise ApiError(409, {"error": "NodeNotEmpty", "message": str(exc)}) from None
    except TransferError as exc:
        raise ApiError(400, _invalid(str(exc))) from None
    return {
        "status": "imported",
        "node_id": node_id,
        "replaced": replace,
        "patterns": len(dump.patterns),
        "symbols": len(dump.symbols),
        "affinities": len(dump.affinities),
        "vectors": len(dump.vectors),
        "pending": len(dump.pending),
    }


def _invalid(message: str) -> dict[str, str]:
    return {"error": "InvalidExport", "message": message}
