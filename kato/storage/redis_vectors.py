"""VectorStore of one node: vectors and pending list authoritative in Redis, Qdrant as index.

Keys (see NodeKeys): ``vectors`` (name -> JSON vector), ``vec_seq`` (names in
storing order: the feed a per-process index mirrors), ``vec_meta`` (dimension,
``vgen`` bumped by clear, a flush counter), ``pending`` (JSON ``[name, vector]``).

``nearest`` is exact: Qdrant proposes candidates, their float64 vectors are read
from Redis and re-ranked by (distance, name) with the same arithmetic as every
other backend (kato.storage.vector_math); when a candidate at the edge could be
tied with a vector Qdrant did not return, the candidate set is widened.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import orjson
import redis

from kato.storage.ports import StorageUnavailableError
from kato.storage.qdrant_index import LocalQdrantIndex, QdrantIndex
from kato.storage.redis_client import NODES_SET, NodeKeys, redis_errors
from kato.storage.redis_codec import text
from kato.storage.redis_locks import held
from kato.storage.vector_math import as_matrix, euclidean_distances, select_flush

EXTRA_CANDIDATES = 8


def _int(raw: bytes | None) -> int:
    return int(raw) if raw is not None else 0


def _decode_pending(raw: bytes | str) -> tuple[str, list[float]]:
    name, vector = orjson.loads(raw)
    return str(name), [float(x) for x in vector]


class RedisVectorStore:
    """The distributed VectorStore of one node."""

    def __init__(
        self, client: redis.Redis, index: QdrantIndex, node_key: str, timeout: float
    ) -> None:
        self._redis = client
        self._index = index
        self._node = node_key
        self._keys = NodeKeys(node_key)
        self._timeout = timeout

    def dimension(self) -> int | None:
        with redis_errors():
            raw = self._redis.hget(self._keys.vec_meta, "dimension")
        return int(raw) if raw is not None else None

    # -- nearest ---------------------------------------------------------------
    def _sync_mirror(self) -> int:
        """Bring this process's index up to date; returns the number of stored vectors."""
        keys = self._keys
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hget(keys.vec_meta, "vgen")
            pipe.llen(keys.vec_seq)
            vgen_raw, total = pipe.execute()
        index = self._index
        if not isinstance(index, LocalQdrantIndex):
            return int(total)
        vgen = _int(vgen_raw)
        state = index.state(self._node)
        if state is None or state[0] != vgen or state[1] > total:
            index.reset(self._node, vgen)
            state = (vgen, 0)
        start = state[1]
        if start < total:
            with redis_errors():
                names = [text(n) for n in self._redis.lrange(keys.vec_seq, start, total - 1)]
                values = self._redis.hmget(keys.vectors, names) if names else []
            items = [(n, orjson.loads(v)) for n, v in zip(names, values, strict=True) if v]
            if len(items) == len(names):
                index.extend(self._node, vgen, start, items)
            else:  # cleared meanwhile: start over on the next call
                index.reset(self._node, vgen + 1)
        return int(total)

    def nearest(self, vector: Sequence[float], k: int) -> list[str]:
        if k <= 0:
            return []
        total = self._sync_mirror()
        if total == 0:
            return []
        query_norm = math.sqrt(sum(float(x) * float(x) for x in vector))
        limit = min(total, k + EXTRA_CANDIDATES)
        while True:
            candidates = self._index.search(self._node, vector, limit)
            ranked = self._exact_ranking(candidates, vector)
            top = ranked[:k]
            if limit >= total or len(candidates) < limit:
                return [name for _, name in top]
            if len(top) == k and candidates:
                # Every vector Qdrant left out is at least as far as its last candidate
                # (up to float32 rounding): stop when that one is clearly beyond the k-th.
                last = dict((n, d) for d, n in ranked).get(candidates[-1], math.inf)
                tolerance = 1e-5 * (1.0 + query_norm + last)
                if last > top[-1][0] + tolerance:
                    return [name for _, name in top]
            limit = min(total, limit * 2)

    def _exact_ranking(
        self, candidates: list[str], vector: Sequence[float]
    ) -> list[tuple[float, str]]:
        names = sorted(set(candidates))
        if not names:
            return []
        with redis_errors():
            values = self._redis.hmget(self._keys.vectors, names)
        rows = [(n, orjson.loads(v)) for n, v in zip(names, values, strict=True) if v is not None]
        if not rows:
            return []
        matrix = as_matrix([v for _, v in rows], len(rows[0][1]))
        distances = euclidean_distances(matrix, vector)
        return sorted((float(d), n) for d, (n, _) in zip(distances, rows, strict=True))

    # -- pending and flush -----------------------------------------------------
    def add_pending(self, name: str, vector: Sequence[float]) -> None:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.rpush(self._keys.pending, orjson.dumps([name, [float(x) for x in vector]]))
            pipe.sadd(NODES_SET, self._node)
            pipe.execute()

    def flush_pending(self, forced_dimension: int | None) -> None:
        deadline = time.monotonic() + self._timeout
        with held(self._redis, self._keys.vec_lock, self._timeout):
            while True:
                try:
                    with redis_errors():
                        self._flush_once(forced_dimension)
                        return
                except redis.exceptions.WatchError:
                    if time.monotonic() > deadline:
                        raise StorageUnavailableError(
                            "redis", "vector flush kept conflicting until the request timeout"
                        ) from None

    def _flush_once(self, forced_dimension: int | None) -> None:
        keys = self._keys
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.watch(keys.vec_meta)
            dimension_raw = pipe.hget(keys.vec_meta, "dimension")
            raw_pending = pipe.lrange(keys.pending, 0, -1)
            if not raw_pending:
                return
            pending = [_decode_pending(raw) for raw in raw_pending]
            names = list(dict.fromkeys(name for name, _ in pending))
            check = self._redis.pipeline(transaction=False)
            for name in names:
                check.hexists(keys.vectors, name)
            stored = {n for n, exists in zip(names, check.execute(), strict=True) if exists}
            dimension = int(dimension_raw) if dimension_raw is not None else None
            selected, dimension = select_flush(
                pending, stored.__contains__, dimension, forced_dimension
            )
            self._index.stored(self._node, selected)
            pipe.multi()
            if selected:
                pipe.hset(keys.vectors, mapping={n: orjson.dumps(v) for n, v in selected})
                pipe.rpush(keys.vec_seq, *[n for n, _ in selected])
                pipe.sadd(NODES_SET, self._node)
            if dimension is not None:
                pipe.hset(keys.vec_meta, "dimension", dimension)
            pipe.hincrby(keys.vec_meta, "flushes", 1)
            pipe.ltrim(keys.pending, len(raw_pending), -1)
            pipe.execute()

    # -- export and clear ------------------------------------------------------
    def all_vectors(self) -> list[tuple[str, list[float]]]:
        with redis_errors():
            raw = self._redis.hgetall(self._keys.vectors)
        return sorted((text(n), [float(x) for x in orjson.loads(v)]) for n, v in raw.items())

    def pending(self) -> list[tuple[str, list[float]]]:
        with redis_errors():
            raw = self._redis.lrange(self._keys.pending, 0, -1)
        return [_decode_pending(item) for item in raw]

    def clear(self) -> None:
        keys = self._keys
        with held(self._redis, keys.vec_lock, self._timeout), redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(keys.vectors, keys.vec_seq, keys.pending)
            pipe.hdel(keys.vec_meta, "dimension")
            pipe.hincrby(keys.vec_meta, "vgen", 1)
            pipe.execute()
        self._index.dropped(self._node)

    def is_empty(self) -> bool:
        with redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.exists(self._keys.vectors)
            pipe.exists(self._keys.pending)
            return not any(pipe.execute())
