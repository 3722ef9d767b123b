"""The embedded backend (default): one data directory, SQLite in WAL mode, no server.

Several worker processes on one host may share the directory: learns are
atomic transactions, sessions carry cross-process locks, events are fanned out
through a table. Knowledge and live sessions survive a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from kato.engine.index import PatternIndex
from kato.storage.embedded_events import SqliteEventBus
from kato.storage.embedded_kb import SqliteKnowledgeBase
from kato.storage.embedded_schema import SCHEMA, needs_upgrade, upgrade
from kato.storage.embedded_sessions import SqliteSessionStore
from kato.storage.embedded_vectors import SqliteVectorStore
from kato.storage.ports import NodeHandle, StorageUnavailableError
from kato.storage.sqlite_db import SqliteDatabase

DATABASE_FILE = "kato.sqlite3"
LOCK_DIRECTORY = "locks"


class EmbeddedBackend:
    """Every store in one SQLite database under ``data_dir``."""

    name = "embedded"

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise StorageUnavailableError("sqlite", f"{self.data_dir} is not a directory")
        self._db = SqliteDatabase(self.data_dir / DATABASE_FILE, SCHEMA)
        with self._db.read() as conn:  # the write lock only for an older database
            outdated = needs_upgrade(conn)
        if outdated:
            with self._db.write() as conn:
                upgrade(conn)
        self.sessions = SqliteSessionStore(self._db, self.data_dir / LOCK_DIRECTORY)
        self.events = SqliteEventBus(self._db)
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeHandle] = {}

    def node(self, node_key: str) -> NodeHandle:
        with self._lock:
            handle = self._nodes.get(node_key)
            if handle is None:
                handle = NodeHandle(
                    kb=SqliteKnowledgeBase(self._db, node_key),
                    vectors=SqliteVectorStore(self._db, node_key),
                    index=PatternIndex(),
                )
                self._nodes[node_key] = handle
            return handle

    def nodes(self) -> Iterator[str]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT node FROM patterns "
                "UNION SELECT DISTINCT node FROM vectors "
                "UNION SELECT DISTINCT node FROM pending_vectors"
            ).fetchall()
        return iter(sorted(row[0] for row in rows))

    def health(self) -> dict[str, str]:
        try:
            self._db.ping()
        except StorageUnavailableError as error:
            return {"sqlite": f"down: {error.reason}"}
        return {"sqlite": "ok"}

    def close(self) -> None:
        self._db.close()
