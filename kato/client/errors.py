"""Exceptions raised by the KATO clients."""

from __future__ import annotations

from typing import Any


class KatoError(Exception):
    """Base class of every client error."""


class KatoConnectionError(KatoError):
    """The server could not be reached (after the configured retries)."""


class KatoHTTPError(KatoError):
    """The server answered with an error status; ``body`` is the decoded JSON (or text)."""

    def __init__(self, status_code: int, body: Any, trace_id: str | None) -> None:
        super().__init__(f"HTTP {status_code}: {body!r} (trace id {trace_id})")
        self.status_code = status_code
        self.body = body
        self.trace_id = trace_id


class SessionNotFoundError(KatoHTTPError):
    """404 for an unknown or expired session."""


class KatoRequestError(KatoHTTPError):
    """400: the request was understood but rejected (empty STM, invalid config, vector size)."""


class KatoValidationError(KatoHTTPError):
    """422: the request body, query or path did not validate."""


class KatoServerError(KatoHTTPError):
    """5xx after the configured retries."""
