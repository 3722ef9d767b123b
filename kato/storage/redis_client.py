"""Redis connection, error translation and key names of the distributed backend.

Every Redis call of the backend goes through :func:`redis_errors`, which turns
connection failures and timeouts into :class:`StorageUnavailableError`. The
pool reconnects by itself, so the backend recovers when the server returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kato.storage.ports import StorageUnavailableError

PREFIX = "kato"


def connect(url: str, pool_size: int, timeout: float) -> redis.Redis:
    """A client on a blocking pool of ``pool_size`` connections; waits bounded by ``timeout``."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout,  # waiting for a free pooled connection
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        # One immediate retry on a broken connection (a pooled socket that died with a
        # server restart); never on a timeout, so a hung server costs one timeout only.
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
    )
    return redis.Redis(connection_pool=pool)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Translate Redis connectivity failures into StorageUnavailableError("redis", ...)."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise StorageUnavailableError("redis", f"{type(exc).__name__}: {exc}") from exc


def health(client: redis.Redis) -> str:
    try:
        with redis_errors():
            client.ping()
        return "ok"
    except StorageUnavailableError as exc:
        return f"down: {exc.reason}"
    except redis.exceptions.RedisError as exc:
        return f"down: {type(exc).__name__}: {exc}"


class NodeKeys:
    """Redis key names of one node (``node_key`` from kato.storage.keys)."""

    __slots__ = (
        "affinity",
        "changes",
        "counters",
        "emotives",
        "frequency",
        "lock",
        "meta",
        "metadata",
        "pending",
        "pmf",
        "pre",
        "pre_version",
        "seq",
        "sym_freq",
        "vec_lock",
        "vec_meta",
        "vec_seq",
        "vectors",
    )

    def __init__(self, node_key: str) -> None:
        base = f"{PREFIX}:node:{node_key}"
        self.meta = f"{base}:meta"  # version, generation: never deleted
        self.counters = f"{base}:counters"  # N, TPF, total_symbols
        self.seq = f"{base}:seq"  # list: index i holds the name of sequence number i + 1
        self.frequency = f"{base}:frequency"  # name -> frequency (pattern existence)
        self.emotives = f"{base}:emotives"  # name -> JSON list of dicts
        self.metadata = f"{base}:metadata"  # name -> JSON dict
        self.sym_freq = f"{base}:sym_freq"
        self.pmf = f"{base}:pmf"
        self.affinity = f"{base}:affinity"  # symbol -> JSON dict
        self.pre = f"{base}:pre"  # name -> JSON precomputed metrics
        self.pre_version = f"{base}:pre_version"
        self.changes = f"{base}:changes"  # recent summary changes (redis_change_log.py)
        self.lock = f"{base}:lock"
        self.vectors = f"{base}:vectors"  # name -> JSON vector
        self.vec_seq = f"{base}:vec_seq"  # list of vector names in storing order
        self.vec_meta = f"{base}:vec_meta"  # dimension, vgen
        self.pending = f"{base}:pending"  # list of JSON [name, vector]
        self.vec_lock = f"{base}:vec_lock"


NODES_SET = f"{PREFIX}:nodes"  # node keys that ever held knowledge
LEARN_OUTBOX = f"{PREFIX}:learn_log:outbox"  # learn-log rows not yet copied to ClickHouse
LEARN_OUTBOX_LOCK = f"{PREFIX}:learn_log:drain_lock"
SESSIONS_ZSET = f"{PREFIX}:sessions:expiry"  # session id -> expires_at (epoch ms)
EVENTS_STREAM = f"{PREFIX}:events"


def session_key(session_id: str) -> str:
    return f"{PREFIX}:session:{session_id}"


def session_lock_key(session_id: str) -> str:
    return f"{PREFIX}:session:{session_id}:lock"
