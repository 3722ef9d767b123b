"""Sessions in Redis: one JSON value per session with native expiry, shared by every worker.

``kato:session:<id>`` holds the record and expires (PEXPIREAT) at ``expires_at``.
The sorted set ``kato:sessions:expiry`` maps each id to its expiry in epoch
milliseconds: ``count()`` is a ZCOUNT over the future (no KEYS/SCAN), and
``status()`` tells an expired session from one that never existed for a day.
``kato:sessions:node:<hash of the node id>`` is the same index for the sessions of one
node, maintained by create/save/delete: ``count_node()`` is a ZCOUNT over it. Its expired
members are dropped at each create on the node, and the key itself expires with the
node's last session.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import redis

from kato.storage.ports import SessionRecord, SessionStatus
from kato.storage.redis_client import (
    PREFIX,
    SESSIONS_ZSET,
    redis_errors,
    session_key,
    session_lock_key,
)
from kato.storage.redis_codec import dumps, loads
from kato.storage.redis_locks import ReentrantLocks
from kato.storage.session_codec import decode_session, encode_session

# Expired ids stay in the expiry index this long, so status() can say "expired".
EXPIRED_MEMORY_MS = 24 * 3600 * 1000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def node_sessions_key(node_id: str) -> str:
    """Expiry index of one node's sessions; the hash keeps any node id a safe key name."""
    digest = hashlib.sha256(node_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{PREFIX}:sessions:node:{digest}"


def encode_record(record: SessionRecord) -> bytes:
    return encode_session(record, dumps)


def decode_record(raw: bytes | str) -> SessionRecord:
    return decode_session(raw, loads)


class RedisSessionStore:
    """SessionStore shared by every worker through Redis."""

    def __init__(self, client: redis.Redis, lock_wait_seconds: float) -> None:
        self._redis = client
        self._locks = ReentrantLocks(client, lock_wait_seconds)

    def _write(self, record: SessionRecord, *, prune: bool = False) -> None:
        expires_ms = _ms(record.expires_at)
        node_key = node_sessions_key(record.node_id)
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(session_key(record.session_id), encode_record(record))
            pipe.pexpireat(session_key(record.session_id), max(expires_ms, 1))
            pipe.zadd(SESSIONS_ZSET, {record.session_id: expires_ms})
            if prune:
                now_ms = time.time() * 1000
                pipe.zremrangebyscore(SESSIONS_ZSET, "-inf", now_ms - EXPIRED_MEMORY_MS)
                pipe.zremrangebyscore(node_key, "-inf", f"{now_ms:.0f}")
            pipe.zadd(node_key, {record.session_id: expires_ms})
            # The node index lives as long as its longest-lived session: NX gives a new key
            # an expiry (GT alone never sets one on a key without expiry), GT extends it.
            pipe.pexpireat(node_key, max(expires_ms, 1), nx=True)
            pipe.pexpireat(node_key, max(expires_ms, 1), gt=True)
            pipe.execute()

    def create(self, record: SessionRecord) -> None:
        self._write(record, prune=True)

    def save(self, record: SessionRecord) -> None:
        self._write(record)

    def get(self, session_id: str) -> SessionRecord | None:
        with redis_errors():
            raw = self._redis.get(session_key(session_id))
        if raw is None:
            self._drop_if_expired(session_id)
            return None
        record = decode_record(raw)
        if record.expires_at <= datetime.now(UTC):
            self._forget(session_id)
            return None
        return record

    def _drop_if_expired(self, session_id: str) -> None:
        """After Redis expired the key itself, forget the id as get() of an expired one does."""
        with redis_errors():
            expiry_ms = self._redis.zscore(SESSIONS_ZSET, session_id)
            if expiry_ms is not None and expiry_ms <= time.time() * 1000:
                self._redis.zrem(SESSIONS_ZSET, session_id)

    def status(self, session_id: str) -> SessionStatus:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.pttl(session_key(session_id))
            pipe.zscore(SESSIONS_ZSET, session_id)
            remaining_ms, expiry_ms = pipe.execute()
        now_ms = time.time() * 1000
        if remaining_ms is not None and remaining_ms > 0 and (expiry_ms or 0) > now_ms:
            return "live"
        if expiry_ms is None:
            return "missing"
        self._forget(session_id)
        return "expired"

    def _forget(self, session_id: str) -> None:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(session_key(session_id))
            pipe.zrem(SESSIONS_ZSET, session_id)
            pipe.execute()

    def delete(self, session_id: str) -> bool:
        with redis_errors():
            raw = self._redis.get(session_key(session_id))
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(session_key(session_id))
            pipe.zrem(SESSIONS_ZSET, session_id)
            if raw is not None:  # already expired: its node entry expired with it
                pipe.zrem(node_sessions_key(decode_record(raw).node_id), session_id)
            deleted = pipe.execute()[0]
        return bool(deleted)

    def count(self) -> int:
        with redis_errors():
            return int(self._redis.zcount(SESSIONS_ZSET, f"({time.time() * 1000:.0f}", "+inf"))

    def count_node(self, node_id: str) -> int:
        with redis_errors():
            return int(
                self._redis.zcount(node_sessions_key(node_id), f"({time.time() * 1000:.0f}", "+inf")
            )

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        with self._locks.hold(session_lock_key(session_id)):
            yield
