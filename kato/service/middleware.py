"""ASGI middleware: trace ids and error safety net, the session path guard, body limits.

Order, outermost first: :class:`TraceMiddleware` → :class:`SessionGuardMiddleware`
→ Starlette's ``CORSMiddleware`` → routing. The guard runs before routing (api.md
§2.6) and adds the CORS headers to its own 404s itself, so preflights on unknown
sessions get MW404 with CORS headers too.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from http.cookies import SimpleCookie

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kato.service import request_context
from kato.service.access_log import log_access, route_template
from kato.service.errors import TRACE_ID_SCOPE_KEY, server_error_body, session_not_found_body
from kato.service.json_response import encode
from kato.service.monitoring import Monitoring
from kato.service.sessions import SessionService, expect_route_slide, guarded_session_id
from kato.storage.ports import StorageUnavailableError

logger = logging.getLogger("kato.service")

GUARDED_SESSION_SCOPE_KEY = "kato.session_id"


class BodyTooLargeError(HTTPException):
    """The request body exceeded the configured limit (413, also when raised while streaming)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body too large")


CORS_OPTIONS: dict[str, object] = {
    "allow_origins": ["*"],
    "allow_credentials": True,
    "allow_methods": ["*"],
    "allow_headers": ["*"],
}


# Used only for its header logic, so that responses made outside the CORS layer (guard 404s,
# 5xx from the safety net) carry exactly the headers Starlette's CORSMiddleware would add.
async def _unused_app(scope: Scope, receive: Receive, send: Send) -> None:
    return None


_CORS = CORSMiddleware(app=_unused_app, **CORS_OPTIONS)  # type: ignore[arg-type]


def with_cors(send: Send, request_headers: Headers) -> Send:
    async def send_with_cors(message: Message) -> None:
        await _CORS.send(message, send=send, request_headers=request_headers)

    return send_with_cors


async def send_json(send: Send, status: int, body: object) -> None:
    payload = encode(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _request_session_id(headers: Headers) -> str | None:
    """``X-Session-ID`` header, else the ``session_id`` cookie (echoed on non-session paths)."""
    value = headers.get("x-session-id")
    if value is not None:
        return value
    cookie_header = headers.get("cookie")
    if not cookie_header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # a malformed cookie is simply not a session id
        return None
    morsel = cookies.get("session_id")
    return morsel.value if morsel is not None else None


def _is_session_path(path: str) -> bool:
    return path == "/sessions" or path.startswith("/sessions/")


class TraceMiddleware:
    """Trace id on every response, X-Session-ID rules, metrics, and JSON 5xx for any failure."""

    def __init__(self, app: ASGIApp, monitoring: Callable[[], Monitoring], max_body: int) -> None:
        self.app = app
        self.monitoring = monitoring
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        trace_id = headers.get("x-trace-id") or f"kato-{uuid.uuid4().hex}"
        scope[TRACE_ID_SCOPE_KEY] = trace_id
        echoed_session = None if _is_session_path(scope["path"]) else _request_session_id(headers)
        started = False
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Trace-ID"] = trace_id
                session_id = scope.get(GUARDED_SESSION_SCOPE_KEY) or echoed_session
                if session_id is not None:
                    response_headers["X-Session-ID"] = session_id
            await send(message)

        monitoring = self.monitoring()
        monitoring.request_started()
        info, token = request_context.begin(trace_id)
        begin = time.perf_counter()
        try:
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                raise BodyTooLargeError()
            await self.app(scope, self._limited(receive), send_with_headers)
        except Exception as exc:
            if started:
                raise
            status, body = self._failure(exc, scope)
            await send_json(with_cors(send_with_headers, headers), status, body)
        finally:
            duration = time.perf_counter() - begin
            route = route_template(scope)
            request_context.end(token)
            monitoring.request_finished(scope["method"], status, duration, route)
            log_access(scope, route, status, duration, info)

    def _limited(self, receive: Receive) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLargeError()
            return message

        return limited_receive

    def _failure(self, exc: Exception, scope: Scope) -> tuple[int, object]:
        if isinstance(exc, BodyTooLargeError):
            return 413, {"detail": exc.detail}
        if isinstance(exc, StorageUnavailableError):
            logger.error("storage unavailable: %s", exc)
            return 503, server_error_body(f"Storage unavailable: {exc.dependency}", scope)
        logger.exception("unhandled error (trace id %s)", scope.get(TRACE_ID_SCOPE_KEY))
        return 500, server_error_body("Internal Server Error", scope)


class SessionGuardMiddleware:
    """Answer MW404 before routing for unknown or expired sessions; slide live ones (§2.6).

    The routes of a session save it with a slid TTL when they finish, so the guard only
    checks it before routing and slides it afterwards for the requests whose route did not
    (unknown sub-paths, 405s, preflights): one record write per request, not two.
    """

    def __init__(self, app: ASGIApp, sessions: Callable[[], SessionService]) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = guarded_session_id(scope["method"], scope["path"])
        if session_id is None:
            await self.app(scope, receive, send)
            return
        sessions = self.sessions()
        if not await run_in_threadpool(sessions.is_live, session_id):
            body = session_not_found_body(session_id)
            await send_json(with_cors(send, Headers(scope=scope)), 404, body)
            return
        scope[GUARDED_SESSION_SCOPE_KEY] = session_id
        slid = expect_route_slide()
        try:
            await self.app(scope, receive, send)
        finally:
            if not slid[0]:
                # Best effort: with storage down the request already has its 503.
                with contextlib.suppress(StorageUnavailableError):
                    await run_in_threadpool(sessions.touch, session_id)
