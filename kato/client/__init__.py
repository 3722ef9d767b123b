"""Typed Python clients for the KATO HTTP API (sync and asyncio), with bounded retries."""

from kato.client.async_client import AsyncKatoClient
from kato.client.errors import (
    KatoConnectionError,
    KatoError,
    KatoHTTPError,
    KatoRequestError,
    KatoServerError,
    KatoValidationError,
    SessionNotFoundError,
)
from kato.client.retry import NO_RETRY, RetryPolicy
from kato.client.sync_client import KatoClient

__all__ = [
    "NO_RETRY",
    "AsyncKatoClient",
    "KatoClient",
    "KatoConnectionError",
    "KatoError",
    "KatoHTTPError",
    "KatoRequestError",
    "KatoServerError",
    "KatoValidationError",
    "RetryPolicy",
    "SessionNotFoundError",
]
