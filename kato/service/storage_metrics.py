"""Timing proxies around the storage objects the service calls (Backend, KnowledgeBase, ...).

Every public method call on a wrapped object is observed in
``kato_storage_operation_duration_seconds{backend, operation}``; a call that raises also counts in
``kato_storage_errors_total``. ``operation`` is ``<component>.<method>`` (``kb.learn``,
``sessions.get``, ``vectors.nearest``, ``backend.node``...): a fixed set, so the label stays
bounded. The storage adapters themselves are not changed.

Besides timing, the proxies count ``kato_learns_total`` (each ``KnowledgeBase.learn`` stores or
reinforces one pattern), observe ``kato_session_duration_seconds`` when a session is deleted
(the creation time is part of the session id, api.md §3.1), and note the session and node of the
request for its access log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from kato.service import request_context
from kato.service.metrics import StorageRecorder, process_metrics
from kato.storage.ports import Backend, NodeHandle, SessionRecord

_clock = time.perf_counter


class TimedProxy:
    """Forward attribute access to ``target``; time calls of its public methods."""

    def __init__(self, target: Any, component: str, recorder: StorageRecorder) -> None:
        self._target = target
        self._component = component
        self._recorder = recorder
        self._wrapped: dict[str, Callable[..., Any]] = {}

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__.get("_target")
        if target is None:  # not initialised (copy, pickle): no forwarding
            raise AttributeError(name)
        attribute = getattr(target, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        wrapped = self._wrapped.get(name)
        if wrapped is None:
            wrapped = self._timed(name)
            self._wrapped[name] = wrapped
        return wrapped

    def _timed(self, name: str) -> Callable[..., Any]:
        operation = f"{self._component}.{name}"
        recorder = self._recorder
        target = self._target
        after = getattr(self, f"_after_{name}", None)

        def call(*args: Any, **kwargs: Any) -> Any:
            start = _clock()
            try:
                result = getattr(target, name)(*args, **kwargs)
            except Exception:
                recorder.observe(operation, _clock() - start, failed=True)
                raise
            recorder.observe(operation, _clock() - start, failed=False)
            if after is not None:
                after(result, *args, **kwargs)
            return result

        return call


class TimedKnowledgeBase(TimedProxy):
    def _after_learn(self, result: Any, *args: Any, **kwargs: Any) -> None:
        process_metrics().learns.inc()


class _TimedLock:
    """Times the acquisition of a session lock (waiting for another request included)."""

    def __init__(self, inner: AbstractContextManager[None], recorder: StorageRecorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def __enter__(self) -> None:
        start = _clock()
        try:
            self._inner.__enter__()
        except Exception:
            self._recorder.observe("sessions.lock", _clock() - start, failed=True)
            raise
        self._recorder.observe("sessions.lock", _clock() - start, failed=False)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._inner.__exit__(exc_type, exc, traceback)


def session_age_seconds(session_id: str, now: float) -> float | None:
    """Age of a session from the creation time in its id (``session-<32hex>-<epoch ms>``)."""
    prefix, _, millis = session_id.rpartition("-")
    if not prefix.startswith("session-") or not millis.isdigit():
        return None
    age = now - int(millis) / 1000.0
    return age if age >= 0 else None


class TimedSessionStore(TimedProxy):
    def lock(self, session_id: str) -> AbstractContextManager[None]:
        return _TimedLock(self._target.lock(session_id), self._recorder)

    def _after_create(self, result: Any, record: SessionRecord, *args: Any, **kw: Any) -> None:
        request_context.note_session(record.session_id, record.node_id)

    def _after_get(self, result: SessionRecord | None, *args: Any, **kwargs: Any) -> None:
        if result is not None:
            request_context.note_session(result.session_id, result.node_id)

    def _after_delete(self, result: Any, session_id: str, *args: Any, **kwargs: Any) -> None:
        if result:
            age = session_age_seconds(session_id, time.time())
            if age is not None:
                process_metrics().session_duration.observe(age)


class TimedBackend(TimedProxy):
    """The backend, with its session store, event bus and node stores wrapped as well."""

    def __init__(self, target: Backend, recorder: StorageRecorder | None = None) -> None:
        super().__init__(target, "backend", recorder or StorageRecorder(target.name))
        self.name = target.name
        self.sessions = TimedSessionStore(target.sessions, "sessions", self._recorder)
        self.events = TimedProxy(target.events, "events", self._recorder)
        self._handles: dict[str, tuple[NodeHandle, NodeHandle]] = {}
        self._recorder.pool_source = lambda: pool_readings(target)

    @property
    def target(self) -> Backend:
        backend: Backend = self._target
        return backend

    def node(self, node_key: str) -> NodeHandle:
        start = _clock()
        try:
            handle = self._target.node(node_key)
        except Exception:
            self._recorder.observe("backend.node", _clock() - start, failed=True)
            raise
        self._recorder.observe("backend.node", _clock() - start, failed=False)
        cached = self._handles.get(node_key)
        if cached is not None and cached[0] is handle:
            return cached[1]
        timed = NodeHandle(
            kb=TimedKnowledgeBase(handle.kb, "kb", self._recorder),  # type: ignore[arg-type]
            vectors=TimedProxy(handle.vectors, "vectors", self._recorder),  # type: ignore[arg-type]
            index=handle.index,
        )
        self._handles[node_key] = (handle, timed)
        return timed

    def close(self) -> None:
        self._target.close()


def instrumented(factory: Callable[[], Backend]) -> Callable[[], Backend]:
    """A backend factory whose backend is wrapped in :class:`TimedBackend`."""

    def build() -> Backend:
        backend: Backend = TimedBackend(factory())  # type: ignore[assignment]
        return backend

    return build


def pool_readings(backend: Backend) -> dict[str, tuple[int, int, int]]:
    """``pool -> (in_use, idle, max)`` for the pools a backend exposes (distributed only).

    Reads the Redis ``BlockingConnectionPool`` and the ClickHouse pool of the distributed backend;
    memory and embedded backends have no pool (empty result). Anything unexpected is skipped:
    the readings are best-effort and must never fail a request.
    """
    target = backend.target if isinstance(backend, TimedBackend) else backend
    readings: dict[str, tuple[int, int, int]] = {}
    pool = getattr(getattr(target, "redis", None), "connection_pool", None)
    if pool is not None:
        try:
            idle = len(pool._get_free_connections())
            in_use = len(pool._get_in_use_connections())
            readings["redis"] = (in_use, idle, int(pool.max_connections))
        except (AttributeError, TypeError, ValueError):
            pass
    clickhouse = getattr(target, "clickhouse", None)
    if clickhouse is not None:
        try:
            created, idle_ch = int(clickhouse._created), int(clickhouse._idle.qsize())
            readings["clickhouse"] = (max(created - idle_ch, 0), idle_ch, int(clickhouse._size))
        except (AttributeError, TypeError, ValueError):
            pass
    return readings
