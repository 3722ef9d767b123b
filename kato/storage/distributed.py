"""The distributed backend: Redis + ClickHouse + Qdrant, shared by every worker process.

Where each piece of state lives (see docs/storage.md for the full table):

* Redis: sessions (native TTL), session and node locks, every mutable node value
  and counter, pattern existence and creation order, version/generation, stored
  and pending vectors, the learn-log outbox, WebSocket events (a stream).
* ClickHouse: immutable pattern rows (pattern data) and the append-only learn log.
* Qdrant: the nearest-neighbour index over stored vectors (local mode per
  process when ``QDRANT_HOST`` is unset, a server otherwise).

Failures of Redis or ClickHouse surface as StorageUnavailableError within
``REQUEST_TIMEOUT``; connections are re-established on the next call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import orjson
import redis

from kato.engine.index import PatternIndex
from kato.engine.ports import PatternMerge
from kato.engine.types import LearnUpdate, PatternData
from kato.storage import clickhouse_client, redis_client
from kato.storage.clickhouse_client import ClickHousePool
from kato.storage.clickhouse_patterns import ClickHousePatternStore
from kato.storage.ports import NodeHandle, StorageUnavailableError
from kato.storage.qdrant_index import QdrantIndex, build_index
from kato.storage.redis_client import LEARN_OUTBOX, LEARN_OUTBOX_LOCK, NODES_SET, redis_errors
from kato.storage.redis_codec import text
from kato.storage.redis_events import RedisEventBus
from kato.storage.redis_knowledge import RedisKnowledgeBase
from kato.storage.redis_sessions import RedisSessionStore
from kato.storage.redis_vectors import RedisVectorStore
from kato.storage.settings import StorageSettings

log = logging.getLogger(__name__)

DRAIN_INTERVAL_SECONDS = 1.0
DRAIN_BATCH = 1000


class LearnLogDrain:
    """Copies learn-log rows from the Redis outbox to ClickHouse in batches.

    Each learn's log row is pushed to the outbox inside the learn's own Redis
    transaction, so the log misses no acknowledged learn even when ClickHouse is
    briefly down; rows are copied at least once and the ReplacingMergeTree
    (keyed by node and learn sequence) collapses a row copied twice.
    """

    def __init__(self, client: redis.Redis, store: ClickHousePatternStore) -> None:
        self._redis = client
        self._store = store
        self._last = 0.0
        self._lock = threading.Lock()

    def maybe_drain(self) -> None:
        if time.monotonic() - self._last < DRAIN_INTERVAL_SECONDS:
            return
        try:
            self.drain()
        except StorageUnavailableError as exc:
            log.warning("learn log not copied yet: %s", exc)

    def drain(self) -> int:
        """Copy every outbox row now; returns the number of rows copied."""
        copied = 0
        with self._lock:
            self._last = time.monotonic()
            with redis_errors():
                lock = self._redis.lock(LEARN_OUTBOX_LOCK, timeout=60, blocking_timeout=5)
                if not lock.acquire():
                    return 0
            try:
                while True:
                    with redis_errors():
                        raw = self._redis.lrange(LEARN_OUTBOX, 0, DRAIN_BATCH - 1)
                    if not raw:
                        return copied
                    self._store.insert_log([orjson.loads(item) for item in raw])
                    with redis_errors():
                        self._redis.ltrim(LEARN_OUTBOX, len(raw), -1)
                    copied += len(raw)
            finally:
                with contextlib.suppress(redis.exceptions.RedisError):
                    lock.release()


class _DrainingKnowledgeBase(RedisKnowledgeBase):
    """The knowledge base plus an occasional learn-log copy after a learn."""

    drain: LearnLogDrain

    def learn(self, update: LearnUpdate, merge: PatternMerge) -> bool:
        is_new = super().learn(update, merge)
        self.drain.maybe_drain()
        return is_new


class DistributedBackend:
    name = "distributed"

    def __init__(self, settings: StorageSettings) -> None:
        url = settings.effective_redis_url()
        if url is None:
            raise ValueError("the distributed backend needs REDIS_URL or REDIS_HOST")
        timeout = settings.request_timeout
        self._timeout = timeout
        self.redis = redis_client.connect(url, settings.connection_pool_size, timeout)
        self.clickhouse = ClickHousePool(
            host=settings.clickhouse_host,
            port=settings.clickhouse_port,
            user=settings.clickhouse_user,
            password=(
                settings.clickhouse_password.get_secret_value()
                if settings.clickhouse_password
                else ""
            ),
            secure=settings.clickhouse_secure,
            size=settings.connection_pool_size,
            timeout=timeout,
        )
        self.patterns = ClickHousePatternStore(self.clickhouse, settings.clickhouse_db)
        self.index: QdrantIndex = build_index(settings)
        self.learn_log = LearnLogDrain(self.redis, self.patterns)
        self.sessions = RedisSessionStore(self.redis, timeout)
        self.events = RedisEventBus(self.redis, url, timeout)
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeHandle] = {}
        self._data_cache: dict[str, PatternData] = {}
        self._data_lock = threading.Lock()

    def node(self, node_key: str) -> NodeHandle:
        with self._lock:
            handle = self._nodes.get(node_key)
            if handle is None:
                kb = _DrainingKnowledgeBase(
                    self.redis,
                    self.patterns,
                    node_key,
                    self._timeout,
                    self._data_cache,
                    self._data_lock,
                )
                kb.drain = self.learn_log
                vectors = RedisVectorStore(self.redis, self.index, node_key, self._timeout)
                handle = NodeHandle(kb=kb, vectors=vectors, index=PatternIndex())
                self._nodes[node_key] = handle
            return handle

    def nodes(self) -> Iterator[str]:
        with redis_errors():
            members = sorted(text(m) for m in self.redis.smembers(NODES_SET))
        keys = []
        for key in members:
            handle = self.node(key)
            kb, vectors = handle.kb, handle.vectors
            assert isinstance(kb, RedisKnowledgeBase) and isinstance(vectors, RedisVectorStore)
            if not (kb.is_empty() and vectors.is_empty()):
                keys.append(key)
        return iter(keys)

    def health(self) -> dict[str, str]:
        return {
            "redis": redis_client.health(self.redis),
            "clickhouse": clickhouse_client.health(self.clickhouse),
            "qdrant": self.index.health(),
        }

    def close(self) -> None:
        try:
            self.learn_log.drain()
        except StorageUnavailableError as exc:
            log.warning("learn log left in the Redis outbox: %s", exc)
        self.index.close()
        self.clickhouse.close()
        self.redis.close()
        self.redis.connection_pool.disconnect()


def build_distributed_backend(settings: StorageSettings) -> DistributedBackend:
    """The distributed Backend for ``settings`` (REDIS_URL/REDIS_HOST, CLICKHOUSE_*, QDRANT_*)."""
    return DistributedBackend(settings)
