"""Everything a request handler needs, built once per worker process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from kato.service.action_threads import ActionThreads
from kato.service.monitoring import Monitoring
from kato.service.node_registry import NodeRegistry
from kato.service.settings import Settings
from kato.storage.keys import display_kb_id, node_key
from kato.storage.ports import Backend

if TYPE_CHECKING:
    from kato.engine import EngineConfig, NodeEngine
    from kato.engine.ports import KnowledgeBase


@dataclass
class ServiceContext:
    settings: Settings
    backend_factory: Callable[[], Backend]
    monitoring: Monitoring = field(default_factory=Monitoring)
    started_monotonic: float = field(default_factory=time.monotonic)
    started_epoch: float = field(default_factory=time.time)
    _backend: Backend | None = None
    _backend_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.nodes = NodeRegistry(self.settings.session_ttl)
        self.default_config = self.settings.default_config
        self._engine_settings = self.settings.engine_settings
        self._count_cache: tuple[float, int] | None = None
        self.metrics_cache: tuple[float, dict[str, Any]] | None = None
        self.prometheus_registry: Any = None
        self._session_action_pool: ActionThreads | None = None

    def session_action_pool(self) -> ActionThreads | None:
        """The threads of the direct session actions (kato/service/direct_routes.py), or None
        when they run on the event loop (``KATO_SESSION_ACTION_THREADS=0``).

        Created on first use, so in the worker process that serves, never before a fork.
        """
        threads = self.settings.session_action_threads
        if threads == 0:
            return None
        if self._session_action_pool is None:
            with self._backend_lock:
                if self._session_action_pool is None:
                    self._session_action_pool = ActionThreads(threads, "kato-session-action")
        return self._session_action_pool

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            with self._backend_lock:
                if self._backend is None:
                    self._backend = self.backend_factory()
        return self._backend

    def close(self) -> None:
        if self._session_action_pool is not None:
            self._session_action_pool.close()
            self._session_action_pool = None
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)

    def display_id(self, node_id: str) -> str:
        return display_kb_id(self.settings.service_name, node_id)

    def engine(self, node_id: str, request_key: str | None = None) -> NodeEngine:
        """The engine of a node, over the shared stores of the backend.

        ``request_key`` (see :func:`learn_request_key`) names an idempotent
        request: its learns carry tokens the knowledge base applies at most once, so a retry
        that repeats them after the learn was stored but the session was not counts nothing
        twice.
        """
        from kato.service.engine_metrics import MeasuredNodeEngine

        key = node_key(self.settings.service_name, node_id)
        handle = self.backend.node(key)
        self.nodes.touch(key, node_id, self.display_id(node_id))
        return MeasuredNodeEngine(
            handle.kb, handle.vectors, handle.index, self._engine_settings, request_key
        )

    def knowledge_base(self, node_id: str) -> KnowledgeBase:
        """A node's knowledge base for read-only node-scoped routes (no bookkeeping)."""
        return self.backend.node(node_key(self.settings.service_name, node_id)).kb

    def session_config(self, overrides: dict[str, object]) -> EngineConfig:
        return self.default_config.with_overrides(overrides)

    def session_count(self) -> int:
        """Live sessions, cached for SESSION_COUNT_CACHE_TTL_SECONDS (api.md §5.2)."""
        ttl = self.settings.session_count_cache_ttl_seconds
        now = time.monotonic()
        if self._count_cache is not None and now - self._count_cache[0] < ttl:
            return self._count_cache[1]
        count = self.backend.sessions.count()
        self._count_cache = (now, count)
        return count

    def forget_session_count(self) -> None:
        """This worker changed the session set: do not serve its stale cached count."""
        self._count_cache = None


def learn_request_key(session_id: str, key: str | None, request_fingerprint: str) -> str | None:
    """The engine's request key of an idempotent request (None without an idempotency key).

    The session scopes the key as the replay log does; the request fingerprint makes a key
    reused for another request (after its log entry was trimmed, or a derived
    observe-sequence key over other contents) a different request whose learns count.
    """
    if key is None:
        return None
    return f"{session_id}:{key}:{request_fingerprint}"


async def get_context(request: Request) -> ServiceContext:
    # async: no I/O, and a plain def dependency would be run in the thread pool
    context: ServiceContext = request.app.state.kato
    return context
