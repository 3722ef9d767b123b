"""A Redis lock held across worker processes, renewed while its holder runs.

The lease is short, so the lock of a worker that dies is free again within
``LEASE_SECONDS``; a watchdog thread extends the lease while the holder is still
working, so a long request (a big observe-sequence batch) keeps it. Waiting for
the lock is bounded by the request timeout.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.lock import Lock

from kato.storage.ports import StorageUnavailableError
from kato.storage.redis_client import redis_errors

LEASE_SECONDS = 10.0
POLL_SECONDS = 0.002


class _Renewer(threading.Thread):
    def __init__(self, lock: Lock) -> None:
        super().__init__(name=f"lock-renewer:{lock.name}", daemon=True)
        self._lock = lock
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(LEASE_SECONDS / 3):
            try:
                self._lock.reacquire()
            except (redis.exceptions.RedisError, OSError):
                # The server is unreachable: the holder's own writes fail as well.
                continue

    def stop(self) -> None:
        self._stop_event.set()


@contextmanager
def held(client: redis.Redis, name: str, wait_seconds: float) -> Iterator[None]:
    """Hold the Redis lock ``name``; raise StorageUnavailableError after ``wait_seconds``."""
    lock = client.lock(
        name,
        timeout=LEASE_SECONDS,
        sleep=POLL_SECONDS,
        blocking=True,
        blocking_timeout=wait_seconds,
        thread_local=False,
        raise_on_release_error=False,
    )
    started = time.monotonic()
    with redis_errors():
        acquired = lock.acquire()
    if not acquired:
        waited = time.monotonic() - started
        raise StorageUnavailableError("redis", f"lock {name} still busy after {waited:.1f}s")
    renewer = _Renewer(lock)
    renewer.start()
    try:
        yield
    finally:
        renewer.stop()
        # If the server is unreachable, the lease runs out by itself.
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            lock.release()


class ReentrantLocks:
    """Per-thread reentrancy on top of :func:`held` (the session lock may be nested)."""

    def __init__(self, client: redis.Redis, wait_seconds: float) -> None:
        self._client = client
        self._wait = wait_seconds
        self._local = threading.local()

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        depth: dict[str, int] = self._local.__dict__.setdefault("depth", {})
        if depth.get(name):
            depth[name] += 1
            try:
                yield
            finally:
                depth[name] -= 1
            return
        with held(self._client, name, self._wait):
            depth[name] = 1
            try:
                yield
            finally:
                depth.pop(name, None)
