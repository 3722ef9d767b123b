"""Error types of the service and the handlers that turn them into the bodies of api.md §2.5."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.types import Scope

from kato.engine.errors import EmptySTMError, InvalidConfigError, VectorDimensionError
from kato.service.json_response import KatoJSONResponse, json_safe
from kato.storage.ports import StorageUnavailableError

TRACE_ID_SCOPE_KEY = "kato.trace_id"


class ApiError(Exception):
    """A handled client error answered as ``{"detail": detail}``."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status_code = status_code
        self.detail = detail


class SessionNotFoundError(Exception):
    """The session vanished (expired or deleted) after the guard let the request in."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


class ServerFailureError(Exception):
    """A server-side failure with a route-specific message (500 ``detail`` + ``trace_id``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def session_not_found_body(session_id: str) -> dict[str, Any]:
    """MW404: the session guard's body (api.md §2.5)."""
    return {
        "error": {
            "code": "SESSION_NOT_FOUND",
            "message": f"Session {session_id} not found or expired",
            "session_id": session_id,
        }
    }


def config_error_detail(errors: dict[str, str]) -> dict[str, Any]:
    return {"error": "Configuration validation failed", "validation_errors": errors}


def vector_dimension_detail(exc: VectorDimensionError, index: int | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"error": "VectorDimensionError", "message": str(exc)}
    if index is not None:
        detail["observation_index"] = index
    detail["expected_dimension"] = exc.expected_dimension
    detail["actual_dimension"] = exc.actual_dimension
    detail["vector_name"] = exc.vector_name
    return detail


def trace_id_of(scope: Scope) -> str:
    return str(scope.get(TRACE_ID_SCOPE_KEY, ""))


def server_error_body(message: str, scope: Scope) -> dict[str, Any]:
    return {"detail": message, "trace_id": trace_id_of(scope)}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers for every error a route can raise."""

    async def on_validation(request: Request, exc: RequestValidationError) -> KatoJSONResponse:
        items = []
        for error in exc.errors():
            item = {key: value for key, value in error.items() if key != "url"}
            items.append(json_safe(item))
        return KatoJSONResponse({"detail": items}, status_code=422)

    async def on_api_error(request: Request, exc: ApiError) -> KatoJSONResponse:
        return KatoJSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def on_missing_session(request: Request, exc: SessionNotFoundError) -> KatoJSONResponse:
        return KatoJSONResponse(session_not_found_body(exc.session_id), status_code=404)

    async def on_empty_stm(request: Request, exc: EmptySTMError) -> KatoJSONResponse:
        return KatoJSONResponse({"detail": str(exc)}, status_code=400)

    async def on_invalid_config(request: Request, exc: InvalidConfigError) -> KatoJSONResponse:
        return KatoJSONResponse({"detail": config_error_detail(exc.errors)}, status_code=400)

    async def on_vector_dimension(request: Request, exc: VectorDimensionError) -> KatoJSONResponse:
        return KatoJSONResponse({"detail": vector_dimension_detail(exc)}, status_code=400)

    async def on_storage_down(request: Request, exc: StorageUnavailableError) -> KatoJSONResponse:
        body = server_error_body(f"Storage unavailable: {exc.dependency}", request.scope)
        return KatoJSONResponse(body, status_code=503)

    async def on_server_failure(request: Request, exc: ServerFailureError) -> KatoJSONResponse:
        return KatoJSONResponse(server_error_body(exc.message, request.scope), status_code=500)

    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(SessionNotFoundError, on_missing_session)  # type: ignore[arg-type]
    app.add_exception_handler(EmptySTMError, on_empty_stm)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidConfigError, on_invalid_config)  # type: ignore[arg-type]
    app.add_exception_handler(VectorDimensionError, on_vector_dimension)  # type: ignore[arg-type]
    app.add_exception_handler(StorageUnavailableError, on_storage_down)  # type: ignore[arg-type]
    app.add_exception_handler(ServerFailureError, on_server_failure)  # type: ignore[arg-type]
