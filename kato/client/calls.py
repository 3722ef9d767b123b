"""Transport-independent request descriptions and response handling, shared by both clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from kato.client import json_body
from kato.client.errors import (
    KatoHTTPError,
    KatoRequestError,
    KatoServerError,
    KatoValidationError,
    SessionNotFoundError,
)

JSONObject = dict[str, Any]
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request. ``idempotent`` calls (naturally, or made so by an ``Idempotency-Key``
    header) may be retried after a dropped connection or a gateway error."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = True


def segment(value: str) -> str:
    """A path segment, percent-encoded (``PTRN|x`` → ``PTRN%7Cx``)."""
    return quote(value, safe="")


def observation_body(
    strings: list[str] | None,
    vectors: list[list[float]] | None,
    emotives: dict[str, float] | None,
    metadata: dict[str, Any] | None,
) -> JSONObject:
    body: JSONObject = {"strings": list(strings or [])}
    if vectors:
        body["vectors"] = vectors
    if emotives:
        body["emotives"] = emotives
    if metadata:
        body["metadata"] = metadata
    return body


def decode(call: Call, response: httpx.Response) -> JSONObject:
    """The JSON body of a successful response, or the matching :class:`KatoHTTPError`."""
    try:
        body: Any = json_body.loads(response.content)
    except ValueError:
        body = response.text
    if response.status_code < 400:
        if not isinstance(body, dict):
            raise KatoHTTPError(response.status_code, body, response.headers.get("x-trace-id"))
        return body
    trace_id = response.headers.get("x-trace-id")
    status = response.status_code
    error_class: type[KatoHTTPError] = KatoHTTPError
    if status == 404 and isinstance(body, dict) and _is_missing_session(body):
        error_class = SessionNotFoundError
    elif status == 400:
        error_class = KatoRequestError
    elif status == 422:
        error_class = KatoValidationError
    elif status >= 500:
        error_class = KatoServerError
    raise error_class(status, body, trace_id)


def _is_missing_session(body: JSONObject) -> bool:
    error = body.get("error")
    if isinstance(error, dict) and error.get("code") == "SESSION_NOT_FOUND":
        return True
    detail = body.get("detail")
    return isinstance(detail, str) and detail.startswith("Session ")
