"""Optional API-key authentication (docs/security.md). Off unless keys are configured.

Keys come from ``KATO_API_KEYS`` and/or the file named by ``KATO_API_KEYS_FILE``.
One key entry is ``<key>`` (every node) or ``<key>:<node>|<node>|...`` (only those
nodes). In ``KATO_API_KEYS`` entries are separated by commas; in the file there is one
entry per line, blank lines and lines starting with ``#`` are ignored.

A request presents its key as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``
(the WebSocket also as the ``token`` query parameter). Missing or unknown key: 401
with ``WWW-Authenticate``. A key limited to nodes used for another node, or for a
service-wide route: 403. ``/health``, the documentation pages and CORS preflights
stay open; ``/metrics/prometheus`` is open only with ``KATO_AUTH_PUBLIC_METRICS``.

Keys are kept only as SHA-256 digests and compared with :func:`hmac.compare_digest`;
they are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kato.service.dependencies import node_id_of
from kato.service.json_response import encode

if TYPE_CHECKING:
    from fastapi import FastAPI

    from kato.service.context import ServiceContext

logger = logging.getLogger("kato.auth")

MIN_KEY_LENGTH = 16
# Printable ASCII without the space and the three separators of the key syntax.
_KEY_PATTERN = re.compile(r"[\x21-\x7e]+")
_SEPARATORS = frozenset(",:|")

REALM = 'Bearer realm="kato"'

# Always reachable without a key (compared after removing one trailing slash).
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PROMETHEUS_PATH = "/metrics/prometheus"
# Routes that answer about the whole service (every node): unrestricted keys only.
SERVICE_WIDE_PATHS = frozenset(
    {
        "/status",
        "/concurrency",
        "/cache/stats",
        "/cache/invalidate",
        "/distributed-stm/stats",
        "/metrics",
        "/stats",
        "/connection-pools",
        "/sessions/count",
        "/ws/events",
    }
)
NODE_SCOPED_PATHS = frozenset({"/percept-data", "/cognition-data"})
NODE_SCOPED_PREFIXES = ("/pattern/", "/symbols/")

_SESSION_NODE_CACHE_SIZE = 10_000


class ApiKeyConfigError(ValueError):
    """A key entry is malformed. The message never contains the key itself."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    digest: bytes  # SHA-256 of the key
    nodes: frozenset[str] | None  # None: every node
    label: str  # where it was configured, e.g. "KATO_API_KEYS entry 2" (safe to log)

    def allows(self, node_id: str) -> bool:
        return self.nodes is None or node_id in self.nodes


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def parse_entry(entry: str, label: str) -> ApiKey:
    """``<key>`` or ``<key>:<node>|<node>...``; whitespace around parts is ignored."""
    key, colon, node_list = entry.partition(":")
    key = key.strip()
    if len(key) < MIN_KEY_LENGTH:
        raise ApiKeyConfigError(f"{label}: a key needs at least {MIN_KEY_LENGTH} characters")
    if not _KEY_PATTERN.fullmatch(key) or _SEPARATORS & set(key):
        raise ApiKeyConfigError(
            f"{label}: a key may only contain printable ASCII without spaces, ',', ':' or '|'"
        )
    if not colon:
        return ApiKey(_digest(key), None, label)
    nodes = [node.strip() for node in node_list.split("|")]
    if not any(nodes) or "" in nodes:
        raise ApiKeyConfigError(f"{label}: empty node id in the node list after ':'")
    return ApiKey(_digest(key), frozenset(nodes), label)


def parse_env_keys(value: str) -> list[ApiKey]:
    """Entries of ``KATO_API_KEYS``, comma separated (empty entries are skipped)."""
    return [
        _labelled(parse_entry(entry, f"entry {index}"), "KATO_API_KEYS")
        for index, entry in enumerate(value.split(","), start=1)
        if entry.strip()
    ]


def _labelled(key: ApiKey, source: str) -> ApiKey:
    return ApiKey(key.digest, key.nodes, f"{source} {key.label}")


def parse_key_file(path: str) -> list[ApiKey]:
    """Entries of ``KATO_API_KEYS_FILE``: one per line, ``#`` comments and blank lines skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiKeyConfigError(f"cannot read the key file: {exc.__class__.__name__}") from None
    keys = [
        _labelled(parse_entry(line, f"line {number}"), "KATO_API_KEYS_FILE")
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not keys:
        raise ApiKeyConfigError("the key file holds no key (authentication would be off)")
    return keys


class KeyRing:
    """The configured keys; :meth:`match` compares in constant time per key."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self.keys = tuple(keys)
        digests = [key.digest for key in self.keys]
        if len(set(digests)) != len(digests):
            raise ApiKeyConfigError("the same key is configured twice")

    def match(self, presented: str) -> ApiKey | None:
        digest = _digest(presented)
        found: ApiKey | None = None
        for key in self.keys:  # no early exit: the time does not depend on which key matched
            if hmac.compare_digest(digest, key.digest) and found is None:
                found = key
        return found


def load_keyring(env_value: str | None, file_path: str | None) -> KeyRing | None:
    """The configured keys, or None when authentication is off (no key configured)."""
    keys: list[ApiKey] = []
    if env_value is not None and env_value.strip():
        keys += parse_env_keys(env_value)
    if file_path is not None:
        keys += parse_key_file(file_path)
    return KeyRing(keys) if keys else None


# -- request classification ----------------------------------------------------------------


def presented_key(headers: Headers, query_token: str | None = None) -> str | None:
    """``Authorization: Bearer``, else ``X-API-Key``, else (WebSocket only) ``?token=``."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    api_key = headers.get("x-api-key")
    if api_key is not None and api_key.strip():
        return api_key.strip()
    if query_token:
        return query_token
    return None


def _normalised(path: str) -> str:
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def _is_preflight(scope: Scope, headers: Headers) -> bool:
    return (
        scope["method"] == "OPTIONS"
        and "origin" in headers
        and "access-control-request-method" in headers
    )


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    detail: str
    challenge: str | None


MISSING = Denial(
    401,
    "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
    REALM,
)
INVALID = Denial(401, "Invalid API key", f'{REALM}, error="invalid_token"')
SERVICE_WIDE = Denial(
    403,
    "This API key is limited to specific nodes and cannot use service-wide routes",
    f'{REALM}, error="insufficient_scope"',
)
OTHER_SESSION_NODE = Denial(
    403, "This API key is not allowed for the node of this session", SERVICE_WIDE.challenge
)


def other_node(node_id: str) -> Denial:
    return Denial(403, f"This API key is not allowed for node {node_id!r}", SERVICE_WIDE.challenge)


def node_of_json_body(body: bytes) -> str | None:
    """``node_id`` of a create-session body, parsed as FastAPI will parse it; None if absent."""
    import json

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("node_id"), str):
        return str(data["node_id"])
    return None


# -- middleware --------------------------------------------------------------------------


async def _send_denial(send: Send, scope: Scope, denial: Denial) -> None:
    from kato.service.middleware import with_cors

    payload = encode({"detail": denial.detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if denial.challenge is not None:
        headers.append((b"www-authenticate", denial.challenge.encode()))
    target = with_cors(send, Headers(scope=scope))
    await target({"type": "http.response.start", "status": denial.status, "headers": headers})
    await target({"type": "http.response.body", "body": payload})


async def _deny_websocket(receive: Receive, send: Send, scope: Scope, denial: Denial) -> None:
    """An HTTP answer to the handshake when the server supports it, else close with 1008."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        payload = encode({"detail": denial.detail})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if denial.challenge is not None:
            headers.append((b"www-authenticate", denial.challenge.encode()))
        await send(
            {"type": "websocket.http.response.start", "status": denial.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": payload})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": denial.detail})


class AuthMiddleware:
    """Check the API key before the session guard and routing."""

    def __init__(
        self, app: ASGIApp, keyring: KeyRing, context: ServiceContext, public_metrics: bool
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.context = context
        self.public_metrics = public_metrics
        self._session_nodes: OrderedDict[str, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = _normalised(scope["path"])
        websocket = scope["type"] == "websocket"
        if not websocket and (path in OPEN_PATHS or _is_preflight(scope, headers)):
            await self.app(scope, receive, send)
            return
        if not websocket and path == PROMETHEUS_PATH and self.public_metrics:
            await self.app(scope, receive, send)
            return
        token = QueryParams(scope["query_string"]).get("token") if websocket else None
        presented = presented_key(headers, token)
        key = self.keyring.match(presented) if presented is not None else None
        denial: Denial | None
        if presented is None:
            denial = MISSING
        elif key is None:
            denial = INVALID
        else:
            denial, receive = await self._node_check(key, scope, path, headers, receive)
        if denial is None:
            await self.app(scope, receive, send)
            return
        logger.info(
            "auth: %d %s %s (%s)",
            denial.status,
            scope.get("method", "WEBSOCKET"),
            scope["path"],
            key.label if key is not None else ("no key" if presented is None else "unknown key"),
        )
        if websocket:
            await _deny_websocket(receive, send, scope, denial)
        else:
            await _send_denial(send, scope, denial)

    async def _node_check(
        self, key: ApiKey, scope: Scope, path: str, headers: Headers, receive: Receive
    ) -> tuple[Denial | None, Receive]:
        if key.nodes is None:
            return None, receive
        if path in SERVICE_WIDE_PATHS or path.startswith("/metrics/"):
            return SERVICE_WIDE, receive
        if path == "/sessions" and scope["method"] == "POST":
            body, receive = await buffer_body(receive)
            node_id = node_of_json_body(body)
            # A body without a string node_id creates nothing (the route answers 422).
            if node_id is not None and not key.allows(node_id):
                return other_node(node_id), receive
            return None, receive
        if path.startswith("/sessions/"):
            session_id = path.split("/")[2]
            node_id = await self._session_node(session_id)
            # Unknown session: the guard or the route answers 404 (session ids are unguessable).
            if node_id is not None and not key.allows(node_id):
                return OTHER_SESSION_NODE, receive
            return None, receive
        if path in NODE_SCOPED_PATHS or path.startswith(NODE_SCOPED_PREFIXES):
            query = QueryParams(scope["query_string"])
            node_id = node_id_of(
                query.get("node_id"), headers.get("x-test-id"), headers.get("x-node-id")
            )
            if not key.allows(node_id):
                return other_node(node_id), receive
        return None, receive

    async def _session_node(self, session_id: str) -> str | None:
        """The node of a session (fixed for its life, so positive answers are cached)."""
        node_id = self._session_nodes.get(session_id)
        if node_id is not None:
            self._session_nodes.move_to_end(session_id)
            return node_id
        record = await run_in_threadpool(self.context.backend.sessions.get, session_id)
        if record is None:
            return None
        self._session_nodes[session_id] = record.node_id
        if len(self._session_nodes) > _SESSION_NODE_CACHE_SIZE:
            self._session_nodes.popitem(last=False)
        return record.node_id


async def buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body (the outer layer enforces the size limit) and replay it."""
    chunks: list[bytes] = []
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return b"".join(chunks), replay


class TokenRedactingFilter(logging.Filter):
    """Mask ``token=`` query values in server log lines (WebSocket handshakes log the URL)."""

    _TOKEN = re.compile(r"([?&]token=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg = self._TOKEN.sub(r"\1***", message)
            record.args = ()
        return True


def install(app: FastAPI, context: ServiceContext) -> None:
    """Add the middleware when keys are configured (call between the guard and the trace layer)."""
    settings = context.settings
    keyring = load_keyring(settings.kato_api_keys, settings.kato_api_keys_file)
    if keyring is None:
        return
    log_filter = TokenRedactingFilter()
    for name in ("uvicorn.error", "uvicorn.access", "gunicorn.access", "gunicorn.error"):
        target = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactingFilter) for f in target.filters):
            target.addFilter(log_filter)
    logger.info(
        "API-key authentication on: %d key(s), %d limited to nodes",
        len(keyring.keys),
        sum(1 for key in keyring.keys if key.nodes is not None),
    )
    app.add_middleware(
        AuthMiddleware,
        keyring=keyring,
        context=context,
        public_metrics=settings.kato_auth_public_metrics,
    )
