"""The /health verdict (api.md §5.8) with a per-dependency view that survives outages.

The dependency checks (``Backend.health()``) and the live-session count run side by side in a
small pool of threads, and /health waits for them at most ``REQUEST_TIMEOUT`` (plus a small
grace for the client's own timeout to fire first). So when Redis is down the session count's
failure no longer hides which dependency is down, and a hung dependency cannot hold /health
longer than any other request. Nothing here raises: a failure becomes an entry of ``issues``.

Checks are single-flight per worker: concurrent /health requests share the check in progress
instead of starting their own, so a hung dependency polled by a load balancer ties up at most
one thread per check, and a dependency that has returned is seen by the next check at once
(no queue of stale checks to work through).
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from kato.service.context import ServiceContext

T = TypeVar("T")

# Seconds granted beyond REQUEST_TIMEOUT: a client timeout of exactly REQUEST_TIMEOUT fires
# first and names its reason; only a check stuck past that is reported as "no answer".
GRACE_SECONDS = 0.5
# Single-flight checks need two threads per service context (checks, count); more only
# matters when several apps share a process (tests).
_POOL_THREADS = 8

_pool_lock = threading.Lock()
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_pid = 0
_in_flight: dict[tuple[int, str], concurrent.futures.Future[Any]] = {}


def _submit(context: ServiceContext, kind: str, function: Callable[[], T]) -> Future[T]:
    """The running ``kind`` check of ``context``, or a new one; one pool per process (a forked
    gunicorn worker must not reuse its parent's threads or futures)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=_POOL_THREADS, thread_name_prefix="kato-health"
            )
            _pool_pid = os.getpid()
            _in_flight.clear()
        key = (id(context), kind)
        running = _in_flight.get(key)
        if running is not None and not running.done():
            return running
        for finished in [k for k, f in _in_flight.items() if f.done()]:
            del _in_flight[finished]
        future = _pool.submit(function)
        _in_flight[key] = future
        return future


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # StorageUnavailableError carries its own reason
    if isinstance(reason, str) and reason:
        return reason
    return f"{type(exc).__name__}: {exc}"


@dataclass(slots=True)
class _Outcome(Generic[T]):
    value: T | None = None
    error: str | None = None  # why there is no value


def _wait(future: Future[T], deadline: float, timeout: float) -> _Outcome[T]:
    try:
        return _Outcome(value=future.result(timeout=max(deadline - time.monotonic(), 0.0)))
    except concurrent.futures.TimeoutError:
        return _Outcome(error=f"no answer within {timeout:g}s")
    except Exception as exc:
        return _Outcome(error=_describe(exc))


@dataclass(slots=True)
class HealthReport:
    """What /health reports besides the fixed fields."""

    status: str
    processor_status: str
    issues: list[str] = field(default_factory=list)
    active_sessions: int = 0
    dependencies: dict[str, str] = field(default_factory=dict)


def _dependency_states(context: ServiceContext) -> dict[str, str]:
    return dict(context.backend.health())


def evaluate(context: ServiceContext) -> HealthReport:
    """The health verdict; never raises and returns within REQUEST_TIMEOUT (+ grace)."""
    try:
        return _evaluate(context)
    except Exception as exc:  # the check itself failed (api.md §5.8)
        return HealthReport(
            status="unhealthy",
            processor_status="unknown",
            issues=[f"Health check error: {exc}"],
        )


def _evaluate(context: ServiceContext) -> HealthReport:
    timeout = context.settings.storage.request_timeout
    deadline = time.monotonic() + timeout + GRACE_SECONDS
    checks = _submit(context, "dependencies", lambda: _dependency_states(context))
    count = _submit(context, "sessions", context.session_count)
    checked = _wait(checks, deadline, timeout)
    counted = _wait(count, deadline, timeout)

    issues: list[str] = []
    status = "healthy"
    if checked.value is not None:
        dependencies = checked.value
    else:  # Backend.health() itself failed or hung: the storage as a whole is unknown
        dependencies = {"storage": f"down: {checked.error}"}
    for name, state in dependencies.items():
        if state != "ok":
            issues.append(f"{name}: {state}")
            status = "unhealthy"

    active = counted.value if counted.value is not None else 0
    if counted.error is not None and status == "healthy":
        # Every dependency answered but counting failed: still a failed check.
        issues.append(f"Session count error: {counted.error}")
        status = "unhealthy"

    reading = context.monitoring.collect(counted.value)
    errors_per_minute = context.monitoring.rates()["errors_per_minute"]
    if reading.memory_percent > 90:
        issues.append(f"High memory usage: {reading.memory_percent}%")
        status = "unhealthy"
    if reading.cpu_percent > 80:
        issues.append(f"High CPU usage: {reading.cpu_percent}%")
        status = "degraded" if status == "healthy" else status
    if errors_per_minute > 10:
        issues.append(f"High error rate: {errors_per_minute} errors per minute")
        status = "degraded" if status == "healthy" else status
    return HealthReport(
        status=status,
        processor_status="unhealthy" if status == "unhealthy" else "healthy",
        issues=issues,
        active_sessions=active,
        dependencies=dependencies,
    )
