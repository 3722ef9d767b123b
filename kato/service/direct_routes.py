"""A direct path for the training and prediction loop: observe, learn, clear-stm, predictions.

FastAPI's routing, its dependency solving and the session guard's own thread hop cost more CPU
than an observe's engine work on a small node (docs/performance.md, serving overhead). This
layer, between the limits layer and the session guard, serves ``POST /sessions/{id}/observe``,
``/learn``, ``/clear-stm`` and ``GET /sessions/{id}/predictions`` itself, in one hop to the
session-action threads (``ServiceContext.session_action_pool``; on the event loop when
``KATO_SESSION_ACTION_THREADS=0``), with the routes' own functions (``observe_in_session``,
...), so both paths compute the same response.

It only serves what it can answer exactly as the routes would. A request with an
``Idempotency-Key`` header, a body that is not JSON or does not validate, a content type
FastAPI would not parse as JSON, or a session that is missing or expired goes on untouched
(its body replayed) to the guard and the routes, which give the canonical answer: 422 bodies,
MW404. Those requests change nothing before they go on: the body is validated before the
session is opened, and ``SessionService.open`` raises before it yields for a missing session.
Errors raised by the work itself are answered by the application's exception handlers, as
routing would.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kato.service import routes_learning, routes_observe, routes_session_data
from kato.service.auth import buffer_body
from kato.service.context import ServiceContext
from kato.service.errors import SessionNotFoundError
from kato.service.idempotency import HEADER
from kato.service.json_response import KatoJSONResponse
from kato.service.middleware import GUARDED_SESSION_SCOPE_KEY, with_cors
from kato.service.models import ObservationInput
from kato.service.sessions import SessionService


def _observe(context: ServiceContext, sessions: SessionService, session_id: str, body: Any) -> Any:
    return routes_observe.observe_in_session(context, sessions, session_id, body, None)


def _learn(context: ServiceContext, sessions: SessionService, session_id: str, body: Any) -> Any:
    return routes_learning.learn_in_session(context, sessions, session_id, None)


def _clear_stm(
    context: ServiceContext, sessions: SessionService, session_id: str, body: Any
) -> Any:
    return routes_learning.clear_stm_in_session(sessions, session_id)


def _predictions(
    context: ServiceContext, sessions: SessionService, session_id: str, body: Any
) -> Any:
    return routes_session_data.predictions_in_session(context, sessions, session_id)


@dataclass(frozen=True, slots=True)
class _Action:
    body: type[ObservationInput] | None  # the body's model; None: the route reads no body
    work: Callable[[ServiceContext, SessionService, str, Any], Any]  # the route's, keyless


# (method, last path segment) -> action. The predictions route's one query parameter
# (unique_id, any string, ignored) cannot fail validation, so queries need no check.
_ACTIONS: dict[tuple[str, str], _Action] = {
    ("POST", "observe"): _Action(ObservationInput, _observe),
    ("POST", "learn"): _Action(None, _learn),
    ("POST", "clear-stm"): _Action(None, _clear_stm),
    ("GET", "predictions"): _Action(None, _predictions),
}
_ROUTERS = (routes_observe.router, routes_learning.router, routes_session_data.router)


def direct_action(method: str, path: str) -> tuple[str, str] | None:
    """``(session_id, action)`` of a request this layer may serve, else None."""
    if not path.startswith("/sessions/"):
        return None
    parts = path.split("/")
    if len(parts) != 4 or not parts[2] or (method, parts[3]) not in _ACTIONS:
        return None
    return parts[2], parts[3]


def _parses_as_json(headers: Headers) -> bool:
    """FastAPI parses a body as JSON without a content type, or with application/json."""
    content_type = headers.get("content-type")
    if content_type is None:
        return True
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class DirectSessionActions:
    """Serve the session actions of ``_ACTIONS`` without routing; pass everything else on."""

    def __init__(self, app: ASGIApp, context: ServiceContext, handlers_of: FastAPI) -> None:
        self.app = app
        self.context = context
        self.handlers_of = handlers_of
        self._route_of: dict[tuple[str, str], APIRoute] | None = None

    def _route(self, method: str, action: str) -> APIRoute:
        """The route that serves the action elsewhere: its template labels metrics and logs."""
        if self._route_of is None:
            self._route_of = {
                (verb, route.path.rsplit("/", 1)[1]): route
                for router in _ROUTERS
                for route in router.routes
                if isinstance(route, APIRoute) and route.path.startswith("/sessions/{session_id}/")
                for verb in route.methods or ()
            }
        return self._route_of[(method, action)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        target = direct_action(method, scope["path"])
        headers = Headers(scope=scope)
        if target is None or HEADER in headers:
            await self.app(scope, receive, send)
            return
        session_id, name = target
        action = _ACTIONS[(method, name)]
        body: Any = None
        if action.body is not None:
            if not _parses_as_json(headers):
                await self.app(scope, receive, send)
                return
            raw, receive = await buffer_body(receive)
            try:
                body = action.body.model_validate(orjson.loads(raw))
            except (orjson.JSONDecodeError, ValidationError):
                await self.app(scope, receive, send)
                return
        try:
            content = await self._run(action.work, session_id, body)
        except SessionNotFoundError:
            await self.app(scope, receive, send)  # the guard answers MW404
            return
        except Exception as exc:
            response = await self._handled(exc, scope, receive)
        else:
            response = content if isinstance(content, Response) else KatoJSONResponse(content)
        route = self._route(method, name)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {"session_id": session_id}
        scope[GUARDED_SESSION_SCOPE_KEY] = session_id
        if "origin" in headers:
            send = with_cors(send, headers)
        await response(scope, receive, send)

    async def _run(self, work: Callable[..., Any], session_id: str, body: Any) -> Any:
        """``work`` on the event loop, or on a session-action thread (seeing this request's
        context variables) when the pool has threads."""
        sessions = SessionService(self.context)
        pool = self.context.session_action_pool()
        if pool is None:
            return work(self.context, sessions, session_id, body)
        call = functools.partial(
            contextvars.copy_context().run, work, self.context, sessions, session_id, body
        )
        return await pool.run(call)

    async def _handled(self, exc: Exception, scope: Scope, receive: Receive) -> Response:
        """The application's answer to ``exc``, as routing gives it; re-raised when it has none."""
        handlers = self.handlers_of.exception_handlers
        for kind in type(exc).__mro__:
            handler = handlers.get(kind)
            if handler is not None:
                request = Request(scope, receive)
                if is_async_callable(handler):
                    answer = await handler(request, exc)
                else:
                    answer = await run_in_threadpool(handler, request, exc)
                assert isinstance(answer, Response)
                return answer
        raise exc
