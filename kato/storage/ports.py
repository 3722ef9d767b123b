"""Service-side storage interfaces: sessions, cross-worker events, and the backend bundle.

The engine's own ports (knowledge base, vector store) live in
:mod:`kato.engine.ports`; a :class:`Backend` hands them out per node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from kato.engine.index import PatternIndex
from kato.engine.ports import KnowledgeBase, VectorStore
from kato.engine.types import JSONObject, SessionState

SessionStatus = Literal["live", "expired", "missing"]


class StorageUnavailableError(RuntimeError):
    """A backend dependency (Redis, ClickHouse, the data directory) cannot be reached.

    The service answers 503 with ``dependency`` named in the body.
    """

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason


@dataclass(slots=True)
class SessionRecord:
    """Everything stored for one session (api.md §3)."""

    session_id: str
    node_id: str  # raw node id, as given at creation
    created_at: datetime  # UTC, timezone-aware
    expires_at: datetime  # UTC, timezone-aware
    ttl_seconds: int
    metadata: JSONObject = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # validated session overrides
    state: SessionState = field(default_factory=SessionState)

    def to_dict(self) -> JSONObject:
        """The JSON-ready form every store persists (timestamps as ISO-8601 text)."""
        return {
            "session_id": self.session_id,
            "node_id": self.node_id,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "ttl_seconds": self.ttl_seconds,
            "metadata": self.metadata,
            "config": self.config,
            "state": self.state.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: JSONObject) -> SessionRecord:
        return cls(
            session_id=data["session_id"],
            node_id=data["node_id"],
            created_at=datetime.fromisoformat(data["created_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            ttl_seconds=data["ttl_seconds"],
            metadata=data["metadata"],
            config=data["config"],
            state=SessionState.from_dict(data["state"]),
        )


@runtime_checkable
class SessionStore(Protocol):
    """Sessions shared by every worker, with TTL (api.md §3.4, §3.5)."""

    def create(self, record: SessionRecord) -> None: ...

    def get(self, session_id: str) -> SessionRecord | None:
        """The live record, or None if missing or expired (an expired one is deleted)."""
        ...

    def status(self, session_id: str) -> SessionStatus:
        """Existence check without sliding the TTL; deletes an expired record."""
        ...

    def save(self, record: SessionRecord) -> None:
        """Write the record (state already trimmed by the caller) with its expiry."""
        ...

    def delete(self, session_id: str) -> bool: ...

    def count(self) -> int:
        """Number of live sessions (best-effort)."""
        ...

    def count_node(self, node_id: str) -> int:
        """Number of live sessions of the raw ``node_id`` (KATO_MAX_SESSIONS_PER_NODE).

        Exact for the sessions this store holds; never a scan of the whole key space.
        """
        ...

    def lock(self, session_id: str) -> AbstractContextManager[None]:
        """Serialise requests on one session across every worker process."""
        ...


@runtime_checkable
class EventBus(Protocol):
    """Fan-out of WebSocket events to every worker (api.md §9)."""

    def publish(self, event: JSONObject) -> None: ...

    def subscribe(self) -> AsyncIterator[JSONObject]:
        """Events published from now on, by any worker, in publish order."""
        ...


@dataclass(slots=True)
class NodeHandle:
    """The stores of one node as the engine needs them."""

    kb: KnowledgeBase
    vectors: VectorStore
    index: PatternIndex  # per-process cache, kept exact by PatternIndex.sync(kb)


@runtime_checkable
class Backend(Protocol):
    """One storage family (memory, embedded, distributed) for the whole service."""

    name: str

    @property
    def sessions(self) -> SessionStore: ...

    @property
    def events(self) -> EventBus: ...

    def node(self, node_key: str) -> NodeHandle:
        """The stores of a node; ``node_key`` comes from :func:`kato.storage.keys.node_key`."""
        ...

    def nodes(self) -> Iterator[str]:
        """Node keys that hold any knowledge (export, status)."""
        ...

    def health(self) -> dict[str, str]:
        """Dependency name -> "ok" or "down: <reason>"."""
        ...

    def close(self) -> None: ...
