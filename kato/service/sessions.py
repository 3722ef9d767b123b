"""Session lifecycle: ids, creation, TTL sliding, per-session serialisation (api.md §3)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from kato.service.context import ServiceContext
from kato.service.errors import SessionNotFoundError
from kato.service.timefmt import clamp_ttl, expiry, offset_timestamp, session_timestamp, utc_now
from kato.storage.ports import SessionRecord, SessionStatus, SessionStore


def new_session_id() -> str:
    return f"session-{uuid.uuid4().hex}-{int(time.time() * 1000)}"


def guarded_session_id(method: str, path: str) -> str | None:
    """The session id the guard must check for this request, or None (api.md §2.6)."""
    if not path.startswith("/sessions/"):
        return None
    parts = path.split("/")
    if not parts[2]:
        return None
    if method == "GET" and (len(parts) == 3 or (len(parts) == 4 and parts[3] == "exists")):
        return None
    return parts[2]


# Set by the path guard for one request; a route that saves the session itself (and so
# slides its TTL) marks it, and the guard then need not rewrite the record a second time.
_SLID_BY_ROUTE: ContextVar[list[bool] | None] = ContextVar("kato_slid_by_route", default=None)


def expect_route_slide() -> list[bool]:
    """Start tracking whether the current request's route slides the session itself."""
    marker = [False]
    _SLID_BY_ROUTE.set(marker)
    return marker


def _route_slid() -> None:
    marker = _SLID_BY_ROUTE.get()
    if marker is not None:
        marker[0] = True


class SessionService:
    """Session operations over the backend's shared session store."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    @property
    def _store(self) -> SessionStore:
        return self.context.backend.sessions

    def create(
        self,
        node_id: str,
        metadata: dict[str, Any],
        ttl_seconds: int | None,
        config: dict[str, Any],
    ) -> SessionRecord:
        ttl = clamp_ttl(ttl_seconds or self.context.settings.session_ttl)
        now = utc_now()
        record = SessionRecord(
            session_id=new_session_id(),
            node_id=node_id,
            created_at=now,
            expires_at=expiry(now, ttl),
            ttl_seconds=ttl,
            metadata=metadata,
            config={key: value for key, value in config.items() if value is not None},
        )
        self._store.create(record)
        self.context.forget_session_count()
        self.context.monitoring.session_created()
        self.context.backend.events.publish(
            {
                "event_type": "session.created",
                "timestamp": offset_timestamp(),
                "data": {
                    "session_id": record.session_id,
                    "node_id": node_id,
                    "created_at": offset_timestamp(now),
                },
            }
        )
        return record

    def _slide(self, record: SessionRecord) -> None:
        if self.context.settings.session_auto_extend:
            record.expires_at = expiry(utc_now(), record.ttl_seconds)

    def _remember(self, record: SessionRecord) -> None:
        """Tell this worker's monitoring the saved session's STM length and new expiry."""
        self.context.monitoring.session_saved(
            record.session_id,
            record.node_id,
            len(record.state.stm),
            record.expires_at.timestamp(),
        )

    def is_live(self, session_id: str) -> bool:
        """The guard's check before routing: is the session live? (No write.)"""
        return self.status(session_id) == "live"

    def touch(self, session_id: str) -> bool:
        """Slide a live session's TTL (for guarded requests whose route did not save it)."""
        with self._store.lock(session_id):
            record = self._store.get(session_id)
            if record is None:
                return False
            if self.context.settings.session_auto_extend:
                self._slide(record)
                self._store.save(record)
                self._remember(record)
            return True

    @contextmanager
    def open(self, session_id: str) -> Iterator[SessionRecord]:
        """Hold the session exclusively; save it (trimmed, TTL slid) when the block succeeds.

        Nothing is saved when the block raises, so a rejected request changes nothing.
        """
        with self._store.lock(session_id):
            record = self._store.get(session_id)
            if record is None:
                raise SessionNotFoundError(session_id)
            yield record
            record.state = record.state.trimmed()
            self._slide(record)
            self._store.save(record)
            _route_slid()
        self._remember(record)

    def extend(self, session_id: str, ttl_seconds: int) -> int:
        """Set the session's TTL for all following accesses (api.md §3.4); return it."""
        ttl_seconds = clamp_ttl(ttl_seconds)
        with self._store.lock(session_id):
            record = self._store.get(session_id)
            if record is None:
                raise SessionNotFoundError(session_id)
            record.ttl_seconds = ttl_seconds
            record.expires_at = expiry(utc_now(), ttl_seconds)
            self._store.save(record)
            self._remember(record)
            _route_slid()  # the new expiry stands, even when it is already past
        return ttl_seconds

    def status(self, session_id: str) -> SessionStatus:
        """live/expired/missing without sliding; waits for a request in progress on the session,
        so a session never reads as expired while it is being served (api.md §3.4)."""
        with self._store.lock(session_id):
            result: SessionStatus = self._store.status(session_id)
        return result

    def delete(self, session_id: str) -> bool:
        with self._store.lock(session_id):
            deleted = bool(self._store.delete(session_id))
            _route_slid()
        self.context.monitoring.session_forgotten(session_id)
        if deleted:
            self.context.forget_session_count()
            self.context.monitoring.session_deleted()
            now = offset_timestamp()
            self.context.backend.events.publish(
                {
                    "event_type": "session.destroyed",
                    "timestamp": now,
                    "data": {
                        "session_id": session_id,
                        "destroyed_at": now,
                        "reason": "explicit_delete",
                    },
                }
            )
        return deleted


def session_info(
    context: ServiceContext, record: SessionRecord, ttl_seconds: int
) -> dict[str, Any]:
    """The create/info response shape (api.md §5.2)."""
    return {
        "session_id": record.session_id,
        "node_id": record.node_id,
        "created_at": session_timestamp(record.created_at),
        "expires_at": session_timestamp(record.expires_at),
        "ttl_seconds": ttl_seconds,
        "metadata": record.metadata,
        "session_config": context.session_config(record.config).to_effective_dict(),
    }
