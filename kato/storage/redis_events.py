"""Cross-worker fan-out of WebSocket events through a Redis stream.

A stream (XADD/XREAD) rather than plain pub/sub: a subscription starts at the
stream position current when ``subscribe()`` is called (so nothing published
after that call is missed, even before the first ``await``), events arrive in
publish order, and a subscriber that loses its connection resumes where it was
instead of silently missing events. The stream is capped at ``MAX_EVENTS``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import redis
import redis.asyncio as aioredis

from kato.engine.types import JSONObject
from kato.storage.redis_client import EVENTS_STREAM, redis_errors
from kato.storage.redis_codec import dumps, loads, text

MAX_EVENTS = 10_000
BLOCK_MS = 1_000
RETRY_SECONDS = 0.5


class RedisSubscription:
    """Async iterator over the events added to the stream after ``start_id``."""

    def __init__(self, url: str, start_id: str, timeout: float) -> None:
        self._url = url
        self._last_id = start_id
        self._timeout = timeout
        self._client: aioredis.Redis | None = None
        self._buffer: deque[JSONObject] = deque()
        self._closed = False

    def __aiter__(self) -> RedisSubscription:
        return self

    async def __anext__(self) -> JSONObject:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            await self._read()
        return self._buffer.popleft()

    async def _read(self) -> None:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self._url,
                socket_connect_timeout=self._timeout,
                socket_timeout=self._timeout + BLOCK_MS / 1000,
            )
        try:
            reply = await self._client.xread(
                {EVENTS_STREAM: self._last_id}, count=100, block=BLOCK_MS
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            await asyncio.sleep(RETRY_SECONDS)  # resume from the same position when it is back
            return
        streams: list[Any] = list(reply or [])  # RESP2: [[stream, [(id, fields), ...]]]
        for _stream, entries in streams:
            for entry_id, fields in entries:
                self._last_id = text(entry_id)
                self._buffer.append(loads(fields[b"event"]))

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None


class RedisEventBus:
    """EventBus shared by every worker through one Redis stream."""

    def __init__(self, client: redis.Redis, url: str, timeout: float) -> None:
        self._redis = client
        self._url = url
        self._timeout = timeout

    def publish(self, event: JSONObject) -> None:
        with redis_errors():
            self._redis.xadd(
                EVENTS_STREAM, {"event": dumps(event)}, maxlen=MAX_EVENTS, approximate=True
            )

    def subscribe(self) -> RedisSubscription:
        with redis_errors():
            last = self._redis.xrevrange(EVENTS_STREAM, count=1)
        start = text(last[0][0]) if last and last[0][0] is not None else "0-0"
        return RedisSubscription(self._url, start, self._timeout)
