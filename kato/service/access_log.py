"""The access log line of a request and the route template that labels its metrics."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from weakref import WeakKeyDictionary

from starlette.routing import compile_path
from starlette.types import Scope

from kato.service.metrics import UNMATCHED_ROUTE
from kato.service.request_context import RequestInfo

access_logger = logging.getLogger("kato.access")


@dataclass(frozen=True, slots=True)
class _Template:
    path: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: any method (WebSocket routes are skipped anyway)


_templates: WeakKeyDictionary[Any, tuple[_Template, ...]] = WeakKeyDictionary()


def _route_paths(app: Any) -> Iterator[tuple[str, frozenset[str] | None]]:
    """(template, methods) of every route of ``app``, in routing order (sub-routers flattened)."""
    routes = getattr(getattr(app, "router", None), "routes", ())
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI: included routes are plain routes
        contexts: Iterable[Any] = routes
    else:
        contexts = iter_route_contexts(routes)
    for route in contexts:
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if isinstance(path, str):
            yield path, frozenset(methods) if methods else None


def _templates_of(app: Any) -> tuple[_Template, ...]:
    templates = _templates.get(app)
    if templates is None:
        templates = tuple(
            _Template(path, compile_path(path)[0], methods) for path, methods in _route_paths(app)
        )
        _templates[app] = templates
    return templates


def route_template(scope: Scope) -> str:
    """The route template that served (or would serve) the request; never the raw path.

    Routing stores the matched route in the scope. Requests answered before routing (the
    session guard's 404s, body-size 413s) are matched against the route templates here; a path
    no template matches gets the fixed label ``unmatched``, so raw paths never become label
    values. A known path with another method (405) gets its template.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    if app is None:
        return UNMATCHED_ROUTE
    request_path = scope["path"]
    method = scope["method"]
    other_method: str | None = None
    for template in _templates_of(app):
        if template.pattern.match(request_path) is None:
            continue
        if template.methods is None or method in template.methods:
            return template.path
        other_method = other_method or template.path
    return other_method or UNMATCHED_ROUTE


def _query_node_id(scope: Scope) -> str | None:
    raw = scope.get("query_string", b"")
    if b"node_id=" not in raw:
        return None
    values = parse_qs(raw.decode("latin-1")).get("node_id")
    return values[0] if values else None


def log_access(scope: Scope, route: str, status: int, duration: float, info: RequestInfo) -> None:
    """One INFO line on ``kato.access``; fields as attributes for the JSON formatter.

    Only the path is logged (no query string, no headers), so API keys and tokens never reach
    the log.
    """
    if not access_logger.isEnabledFor(logging.INFO):
        return
    node_id = info.node_id if info.node_id is not None else _query_node_id(scope)
    duration_ms = round(duration * 1000, 3)
    # makeRecord and handle: what ``info`` does, less its search of the stack for the caller
    record = access_logger.makeRecord(
        access_logger.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s %.1fms",
        (scope["method"], scope["path"], status, duration_ms),
        None,
        extra={
            "trace_id": info.trace_id,
            "method": scope["method"],
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": duration_ms,
            "node_id": node_id,
            "session_id": info.session_id,
        },
    )
    access_logger.handle(record)
