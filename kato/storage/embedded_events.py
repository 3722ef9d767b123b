"""EventBus across the processes sharing a data directory: an events table, polled.

``publish`` appends a row (ids grow in commit order); a subscription remembers
the newest id at the time it was created and polls for later rows. Rows older
than ``RETENTION_SECONDS`` are pruned on publish.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from kato.engine.types import JSONObject
from kato.storage.embedded_codec import dumps, loads
from kato.storage.sqlite_db import SqliteDatabase

POLL_SECONDS = 0.05
RETENTION_SECONDS = 300.0
BATCH = 200


class SqliteSubscription:
    """Async iterator over events with an id above the one current at creation."""

    def __init__(self, db: SqliteDatabase, poll_seconds: float) -> None:
        self._db = db
        self._poll = poll_seconds
        self._buffer: deque[JSONObject] = deque()
        self._closed = False
        with db.read() as conn:
            row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        self._last_id = int(row[0])

    def _fetch(self) -> None:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, event FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (self._last_id, BATCH),
            ).fetchall()
        for event_id, data in rows:
            self._buffer.append(loads(data))
            self._last_id = int(event_id)

    def __aiter__(self) -> SqliteSubscription:
        return self

    async def __anext__(self) -> JSONObject:
        while not self._closed:
            if not self._buffer:
                self._fetch()
            if self._buffer:
                return self._buffer.popleft()
            await asyncio.sleep(self._poll)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._closed = True


class SqliteEventBus:
    """Every subscriber in every process sharing the database sees every event, in order."""

    def __init__(self, db: SqliteDatabase, poll_seconds: float = POLL_SECONDS) -> None:
        self._db = db
        self._poll = poll_seconds

    def publish(self, event: JSONObject) -> None:
        now = time.time()
        with self._db.write() as conn:
            conn.execute("INSERT INTO events (created, event) VALUES (?, ?)", (now, dumps(event)))
            conn.execute("DELETE FROM events WHERE created < ?", (now - RETENTION_SECONDS,))

    def subscribe(self) -> SqliteSubscription:
        return SqliteSubscription(self._db, self._poll)
