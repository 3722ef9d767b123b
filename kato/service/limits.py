"""Input and state limits (docs/limits.md). Every limit answers 422 and changes nothing.

Observation-size limits run inside request validation (the validators below are used
by :mod:`kato.service.models`), so they answer FastAPI's usual 422 list with
Pydantic's own error types (``too_long``, ``string_too_long``) plus
``metadata_too_large``. The limits of the running app travel in a context variable
set per request by :class:`LimitsMiddleware`; outside a request the defaults apply.

State limits (STM length, sessions per node) are checked before anything is
changed and answer 422 with one error item in the same list format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic_core import PydanticCustomError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from kato.service.errors import ApiError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from kato.engine.config import EngineConfig
    from kato.service.context import ServiceContext
    from kato.service.settings import Settings


# Emotive values are averaged and summed; bounded well below float max (~1.8e308) so that no
# average or running sum can overflow to infinity. Fixed (schema-level) in models.py.
MAX_EMOTIVE_MAGNITUDE = 1e300


@dataclass(frozen=True, slots=True)
class Limits:
    """The configurable limits; defaults are those of docs/limits.md."""

    max_observation_strings: int = 10_000
    max_string_length: int = 65_536
    max_observation_vectors: int = 1_000
    max_vector_dimensions: int = 65_536
    max_emotives: int = 1_000
    max_metadata_chars: int = 1_048_576
    max_sequence_length: int = 10_000
    max_stm_events: int = 10_000
    max_sessions_per_node: int = 0  # 0: unlimited

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_observation_strings=settings.kato_max_observation_strings,
            max_string_length=settings.kato_max_string_length,
            max_observation_vectors=settings.kato_max_observation_vectors,
            max_vector_dimensions=settings.kato_max_vector_dimensions,
            max_emotives=settings.kato_max_emotives,
            max_metadata_chars=settings.kato_max_metadata_chars,
            max_sequence_length=settings.kato_max_sequence_length,
            max_stm_events=settings.kato_max_stm_events,
            max_sessions_per_node=settings.kato_max_sessions_per_node,
        )


_DEFAULTS = Limits()
_ACTIVE: ContextVar[Limits] = ContextVar("kato_limits")


def active() -> Limits:
    return _ACTIVE.get(_DEFAULTS)


# -- validators used by the request models ---------------------------------------------------


def _too_long(kind: str, max_length: int, actual: int) -> PydanticCustomError:
    return PydanticCustomError(
        "too_long",
        "{field_type} should have at most {max_length} items after validation, not {actual_length}",
        {"field_type": kind, "max_length": max_length, "actual_length": actual},
    )


def check_emotive_value(value: float) -> float:
    """|v| <= 1e300: averages and running sums of emotives can never overflow to infinity."""
    if abs(value) > MAX_EMOTIVE_MAGNITUDE:
        raise PydanticCustomError(
            "emotive_out_of_range",
            "Emotive values must be between -1e+300 and 1e+300",
            {"max_magnitude": MAX_EMOTIVE_MAGNITUDE},
        )
    return value


def check_string(value: str) -> str:
    limit = active().max_string_length
    if len(value) > limit:
        raise PydanticCustomError(
            "string_too_long",
            "String should have at most {max_length} characters",
            {"max_length": limit},
        )
    return value


def _count_limit(setting: str, container: type[Sized], label: str) -> Callable[[Any], Any]:
    """A before-validator bounding the length of a raw list or dict by a limit setting.

    It runs on raw input, before item validation: only the count is checked here, and
    values of other types fail in the type validation that follows.
    """

    def check(value: Any) -> Any:
        limit = getattr(active(), setting)
        if isinstance(value, container) and len(value) > limit:
            raise _too_long(label, limit, len(value))
        return value

    return check


check_strings = _count_limit("max_observation_strings", list, "List")
check_vector = _count_limit("max_vector_dimensions", list, "List")
check_vectors = _count_limit("max_observation_vectors", list, "List")
check_emotives = _count_limit("max_emotives", dict, "Dictionary")
check_sequence = _count_limit("max_sequence_length", list, "List")


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    limit = active().max_metadata_chars
    try:
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    except RecursionError:
        raise PydanticCustomError("metadata_too_deep", "Metadata is nested too deeply") from None
    if size > limit:
        raise PydanticCustomError(
            "metadata_too_large",
            "Metadata should be at most {max_chars} characters as compact JSON, not {actual_chars}",
            {"max_chars": limit, "actual_chars": size},
        )
    return value


# -- state limits ---------------------------------------------------------------------------


class _ObservationLike(Protocol):
    strings: list[str]
    vectors: list[list[float]]


def _forms_event(item: _ObservationLike) -> bool:
    """An observation adds an STM event iff it has strings or vectors (engine §3)."""
    return bool(item.strings) or bool(item.vectors)


def _stm_error(limit: int, reached: int, loc: list[str | int]) -> ApiError:
    return ApiError(
        422,
        [
            {
                "type": "stm_too_long",
                "loc": loc,
                "msg": (
                    f"The STM would hold {reached} events, more than the limit of {limit}: "
                    "learn or clear the STM first"
                ),
                "input": None,
                "ctx": {"max_stm_events": limit, "stm_events": reached},
            }
        ],
    )


def check_observe_room(settings: Settings, stm_length: int, item: _ObservationLike) -> None:
    """Before ``/observe``: refuse (422) an observation that would grow the STM past the limit."""
    limit = settings.kato_max_stm_events
    if _forms_event(item) and stm_length + 1 > limit:
        raise _stm_error(limit, stm_length + 1, ["body"])


def check_sequence_room(
    settings: Settings,
    stm_length: int,
    items: Sequence[_ObservationLike],
    config: EngineConfig,
    *,
    learn_after_each: bool,
    clear_stm_between: bool,
) -> None:
    """Before ``/observe-sequence``: replay the batch's STM lengths (engine §4 auto-learn rules)
    and refuse (422) the whole batch if any item would grow the STM past the limit."""
    limit = settings.kato_max_stm_events
    auto_learn_at = config.max_pattern_length
    rolling = config.stm_mode == "ROLLING"
    length = stm_length
    for index, item in enumerate(items):
        if clear_stm_between and index > 0:
            length = 0
        if not _forms_event(item):
            continue
        length += 1
        if length > limit:
            raise _stm_error(limit, length, ["body", "observations", index])
        if 0 < auto_learn_at <= length:  # auto-learn: CLEAR empties, ROLLING keeps L-1
            if rolling and length > 1:
                length = auto_learn_at - 1 if auto_learn_at > 1 else length
            else:
                length = 0
        if learn_after_each and length:
            length = 0


def check_session_quota(context: ServiceContext, node_id: str) -> None:
    """Before ``POST /sessions``: 422 when the node already has the allowed number of sessions.

    ``SessionStore.count_node`` counts the node's live sessions in the shared store, so the
    limit holds across workers; creates racing in different workers can each see the same
    count (the limit is exceeded by at most the number of such concurrent creates).
    """
    limit = context.settings.kato_max_sessions_per_node
    if limit <= 0:
        return
    live = context.backend.sessions.count_node(node_id)
    if live >= limit:
        raise ApiError(
            422,
            [
                {
                    "type": "too_many_sessions",
                    "loc": ["body", "node_id"],
                    "msg": (
                        f"Node already has {live} live sessions, the limit is {limit}: "
                        "delete a session or let one expire"
                    ),
                    "input": node_id,
                    "ctx": {"max_sessions_per_node": limit, "live_sessions": live},
                }
            ],
        )


# -- middleware -----------------------------------------------------------------------------


class LimitsMiddleware:
    """Make this app's limits visible to request validation; enforce sessions per node."""

    def __init__(self, app: ASGIApp, context: ServiceContext) -> None:
        self.app = app
        self.context = context
        self.limits = Limits.from_settings(context.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _ACTIVE.set(self.limits)
        try:
            if (
                self.limits.max_sessions_per_node > 0
                and scope["method"] == "POST"
                and scope["path"] == "/sessions"
            ):
                replay = await self._check_quota(scope, receive, send)
                if replay is None:  # refused: the 422 has been sent
                    return
                receive = replay
            await self.app(scope, receive, send)
        finally:
            _ACTIVE.reset(token)

    async def _check_quota(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        from kato.service.auth import buffer_body, node_of_json_body
        from kato.service.json_response import encode
        from kato.service.middleware import with_cors

        body, replay = await buffer_body(receive)
        node_id = node_of_json_body(body)
        if node_id is None:  # no valid node id: the route answers 422 and creates nothing
            return replay
        try:
            await run_in_threadpool(check_session_quota, self.context, node_id)
        except ApiError as exc:
            payload = encode({"detail": exc.detail})
            target = with_cors(send, Headers(scope=scope))
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            await target({"type": "http.response.start", "status": 422, "headers": headers})
            await target({"type": "http.response.body", "body": payload})
            return None
        return replay


def install(app: FastAPI, context: ServiceContext) -> None:
    """Add the limits middleware (inside the trace layer, so 413s and 5xx stay handled there)."""
    app.add_middleware(LimitsMiddleware, context=context)
