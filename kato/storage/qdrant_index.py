"""Qdrant as the nearest-neighbour index over each node's stored vectors.

The vectors themselves are authoritative in Redis (see redis_vectors.py); Qdrant
only proposes candidates, which the vector store re-ranks by exact float64
distance and name. Two modes:

* **local** (``QDRANT_HOST`` unset): one ``QdrantClient(":memory:")`` per worker
  process, a per-process mirror of every node's vectors brought up to date from
  the Redis feed (``vec_seq``) before each search. qdrant-client's on-disk local
  mode holds a file lock, so it cannot be shared by several workers; an in-memory
  mirror per worker is exact because the feed is append-only within a vector
  generation (``vgen``, bumped by clear).
* **server** (``QDRANT_HOST`` set): one collection per node on the server,
  written when a flush stores vectors and dropped by clear.
"""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Sequence

from qdrant_client import QdrantClient, models

from kato.storage.settings import StorageSettings

_NAMESPACE = uuid.UUID("1b671a64-40d5-491e-99b0-da01ff1f3341")


def collection_name(prefix: str, node_key: str) -> str:
    return f"{prefix}_{node_key}"


class LocalQdrantIndex:
    """Per-process in-memory mirror of each node's vectors (qdrant-client local mode)."""

    mirrored = True

    def __init__(self, prefix: str) -> None:
        self._client = QdrantClient(":memory:")
        self._prefix = prefix
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, int]] = {}  # node -> (vgen, number of points)

    def state(self, node_key: str) -> tuple[int, int] | None:
        with self._lock:
            return self._state.get(node_key)

    def reset(self, node_key: str, vgen: int) -> None:
        name = collection_name(self._prefix, node_key)
        with self._lock:
            if self._client.collection_exists(name):
                self._client.delete_collection(name)
            self._state[node_key] = (vgen, 0)

    def extend(self, node_key: str, vgen: int, start: int, items: list[tuple[str, list[float]]]):
        """Add feed positions ``start``.. (point id = feed position)."""
        name = collection_name(self._prefix, node_key)
        with self._lock:
            current = self._state.get(node_key)
            if current != (vgen, start) or not items:
                return
            if not self._client.collection_exists(name):
                self._client.create_collection(
                    name,
                    vectors_config=models.VectorParams(
                        size=len(items[0][1]), distance=models.Distance.EUCLID
                    ),
                )
            self._client.upsert(
                name,
                points=[
                    models.PointStruct(id=start + i, vector=vector, payload={"name": n})
                    for i, (n, vector) in enumerate(items)
                ],
            )
            self._state[node_key] = (vgen, start + len(items))

    def search(self, node_key: str, vector: Sequence[float], limit: int) -> list[str]:
        name = collection_name(self._prefix, node_key)
        with self._lock:
            if not self._client.collection_exists(name):
                return []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                result = self._client.query_points(
                    name, query=list(vector), limit=limit, with_payload=True
                )
        return [str(point.payload["name"]) for point in result.points if point.payload]

    def stored(self, node_key: str, items: list[tuple[str, list[float]]]) -> None:
        """Server-side hook; the local mirror syncs from the feed instead."""

    def dropped(self, node_key: str) -> None:
        """Server-side hook; the local mirror sees the new vgen instead."""

    def health(self) -> str:
        return "ok"  # in-process: nothing to reach

    def close(self) -> None:
        self._client.close()


class ServerQdrantIndex:
    """One collection per node on a Qdrant server (configuration path)."""

    mirrored = False

    def __init__(self, settings: StorageSettings) -> None:
        self._client = QdrantClient(
            host=settings.qdrant_host,
            port=settings.qdrant_port,
            grpc_port=settings.qdrant_grpc_port,
            https=settings.qdrant_https,
            api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            timeout=int(max(settings.request_timeout, 1)),
        )
        self._prefix = settings.qdrant_collection_prefix

    def stored(self, node_key: str, items: list[tuple[str, list[float]]]) -> None:
        """Upsert freshly stored vectors (before Redis commits them; re-rank drops orphans)."""
        if not items:
            return
        name = collection_name(self._prefix, node_key)
        if not self._client.collection_exists(name):
            self._client.create_collection(
                name,
                vectors_config=models.VectorParams(
                    size=len(items[0][1]), distance=models.Distance.EUCLID
                ),
            )
        self._client.upsert(
            name,
            points=[
                models.PointStruct(
                    id=str(uuid.uuid5(_NAMESPACE, n)), vector=vector, payload={"name": n}
                )
                for n, vector in items
            ],
        )

    def dropped(self, node_key: str) -> None:
        name = collection_name(self._prefix, node_key)
        if self._client.collection_exists(name):
            self._client.delete_collection(name)

    def search(self, node_key: str, vector: Sequence[float], limit: int) -> list[str]:
        name = collection_name(self._prefix, node_key)
        if not self._client.collection_exists(name):
            return []
        result = self._client.query_points(
            name,
            query=list(vector),
            limit=limit,
            search_params=models.SearchParams(exact=True),
            with_payload=True,
        )
        return [str(point.payload["name"]) for point in result.points if point.payload]

    def health(self) -> str:
        try:
            self._client.get_collections()
            return "ok"
        except Exception as exc:  # any client/transport error means "down"
            return f"down: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        self._client.close()


QdrantIndex = LocalQdrantIndex | ServerQdrantIndex


def build_index(settings: StorageSettings) -> QdrantIndex:
    if settings.qdrant_host:
        return ServerQdrantIndex(settings)
    return LocalQdrantIndex(settings.qdrant_collection_prefix)
