"""SessionStore in the embedded SQLite database: JSON records with expiry and node columns.

The ``node`` column (the raw node id as bytes, indexed with the expiry) makes
``count_node`` one indexed range count. Databases written before the column existed get it
at startup, filled in from their records.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from kato.storage.embedded_codec import key_bytes, session_bytes, session_record
from kato.storage.embedded_locks import SessionLocks
from kato.storage.embedded_schema import SESSIONS_NODE_COLUMN
from kato.storage.ports import SessionRecord, SessionStatus
from kato.storage.sqlite_db import SqliteDatabase


class SqliteSessionStore:
    """Sessions shared by every process using the data directory (api.md §3.4, §3.5)."""

    def __init__(self, db: SqliteDatabase, lock_directory: Path) -> None:
        self._db = db
        self._locks = SessionLocks(lock_directory)
        self._add_node_column()

    def _add_node_column(self) -> None:
        """Give the sessions table its ``node`` column and index (once per database)."""
        with self._db.read() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
            indexed = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'sessions_by_node'"
            ).fetchone()
        if "node" in columns and indexed:
            return
        with self._db.write() as conn:  # checked again under the write lock: one process adds it
            columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
            if "node" not in columns:
                conn.execute(SESSIONS_NODE_COLUMN)
                rows = conn.execute("SELECT session_id, record FROM sessions").fetchall()
                for session_id, data in rows:
                    node = key_bytes(session_record(data).node_id)
                    conn.execute(
                        "UPDATE sessions SET node = ? WHERE session_id = ?", (node, session_id)
                    )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS sessions_by_node ON sessions (node, expires_at)"
            )

    def _write(self, record: SessionRecord) -> None:
        self._db.write_one(
            "INSERT OR REPLACE INTO sessions (session_id, expires_at, record, node) "
            "VALUES (?, ?, ?, ?)",
            (
                key_bytes(record.session_id),
                record.expires_at.timestamp(),
                session_bytes(record),
                key_bytes(record.node_id),
            ),
        )

    def create(self, record: SessionRecord) -> None:
        self.purge_expired()  # keeps the table bounded by the live sessions
        self._write(record)

    def save(self, record: SessionRecord) -> None:
        self._write(record)

    def _load(self, session_id: str, column: str) -> tuple[SessionStatus, Any]:
        """The session's status and, when live, ``column`` of its row."""
        key = key_bytes(session_id)
        rows = self._db.query(
            f"SELECT expires_at, {column} FROM sessions WHERE session_id = ?", (key,)
        )
        if not rows:
            return "missing", None
        row = rows[0]
        if row[0] <= time.time():
            with self._db.write() as conn:  # delete only if still expired
                conn.execute(
                    "DELETE FROM sessions WHERE session_id = ? AND expires_at <= ?",
                    (key, time.time()),
                )
            return "expired", None
        return "live", row[1]

    def get(self, session_id: str) -> SessionRecord | None:
        _, data = self._load(session_id, "record")
        return None if data is None else session_record(data)

    def status(self, session_id: str) -> SessionStatus:
        # expires_at again rather than the record: the guard only needs the status
        return self._load(session_id, "expires_at")[0]

    def delete(self, session_id: str) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM sessions WHERE session_id = ?", (key_bytes(session_id),)
            )
            return cursor.rowcount > 0

    def count(self) -> int:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM sessions WHERE expires_at > ?", (time.time(),)
            ).fetchone()
        return int(row[0])

    def count_node(self, node_id: str) -> int:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM sessions WHERE node = ? AND expires_at > ?",
                (key_bytes(node_id), time.time()),
            ).fetchone()
        return int(row[0])

    def purge_expired(self) -> int:
        """Delete every expired record; returns how many were removed."""
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (time.time(),))
            return cursor.rowcount

    def lock(self, session_id: str) -> AbstractContextManager[None]:
        return self._locks.lock(session_id)
