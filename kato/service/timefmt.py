"""The route-specific timestamp formats of api.md §2.2 (a compatibility quirk)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# Expiry instants are clamped here so that a huge TTL can never overflow a datetime.
_MAX_TTL_SECONDS = 100 * 365 * 86400


def utc_now() -> datetime:
    return datetime.now(UTC)


def expiry(start: datetime, ttl_seconds: int) -> datetime:
    """``start + ttl_seconds``, clamped to ±100 years."""
    bounded = max(-_MAX_TTL_SECONDS, min(ttl_seconds, _MAX_TTL_SECONDS))
    return start + timedelta(seconds=bounded)


def session_timestamp(moment: datetime) -> str:
    """Session records: ISO-8601 UTC with ``Z``, microseconds only when non-zero."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def offset_timestamp(moment: datetime | None = None) -> str:
    """/health, monitoring and WebSocket session events: ISO-8601 with ``+00:00``."""
    return (moment or utc_now()).astimezone(UTC).isoformat()


def local_naive_timestamp() -> str:
    """The WebSocket connect snapshot: naive local time."""
    return datetime.now().isoformat()


def epoch_seconds() -> float:
    return time.time()
