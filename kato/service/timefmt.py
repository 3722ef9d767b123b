"""The route-specific timestamp formats of api.md §2.2 (a compatibility quirk)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# TTLs are clamped to this bound so that a huge value can never overflow a datetime or a store.
MAX_TTL_SECONDS = 100 * 365 * 86400


def clamp_ttl(ttl_seconds: int) -> int:
    """The TTL really applied: at most 100 years either way."""
    return max(-MAX_TTL_SECONDS, min(ttl_seconds, MAX_TTL_SECONDS))


def utc_now() -> datetime:
    return datetime.now(UTC)


def expiry(start: datetime, ttl_seconds: int) -> datetime:
    """``start + ttl_seconds``, clamped to ±100 years."""
    return start + timedelta(seconds=clamp_ttl(ttl_seconds))


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
