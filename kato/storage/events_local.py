"""In-process event fan-out: every subscriber of this process gets every event.

``publish`` may be called from any thread (sync routes run in a thread pool);
each subscription wakes its own event loop thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import weakref
from collections import deque

from kato.engine.types import JSONObject


class LocalSubscription:
    """An async iterator over the events published after it was created."""

    def __init__(self, bus: LocalEventBus) -> None:
        self._bus = bus
        self._items: deque[JSONObject] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False
        # Created outside a running loop: bind on the first iteration instead.
        with contextlib.suppress(RuntimeError):
            self._bind(asyncio.get_running_loop())

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._loop is None:
                self._loop = loop
                self._wake = asyncio.Event()

    def push(self, event: JSONObject) -> None:
        with self._lock:
            if self._closed:
                return
            self._items.append(event)
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the subscriber's loop is gone
                self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._items.clear()
            loop, wake = self._loop, self._wake
        self._bus.unsubscribe(self)
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def __aiter__(self) -> LocalSubscription:
        return self

    async def __anext__(self) -> JSONObject:
        self._bind(asyncio.get_running_loop())
        assert self._wake is not None
        while True:
            with self._lock:
                if self._closed:
                    raise StopAsyncIteration
                if self._items:
                    return self._items.popleft()
                self._wake.clear()
            await self._wake.wait()

    async def aclose(self) -> None:
        self.close()


class LocalEventBus:
    """The EventBus of one process (memory backend)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: weakref.WeakSet[LocalSubscription] = weakref.WeakSet()

    def publish(self, event: JSONObject) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.push(copy.deepcopy(event))

    def subscribe(self) -> LocalSubscription:
        subscription = LocalSubscription(self)
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: LocalSubscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)
