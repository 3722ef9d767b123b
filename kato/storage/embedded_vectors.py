"""VectorStore of one node in the embedded SQLite database (engine §3.3.4, §3.3.5).

The stored vectors change only at flush and clear, which bump the node's
``vector_version``; each process caches the name-sorted matrix per version.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from kato.storage.embedded_codec import vector_bytes, vector_rows, vector_values
from kato.storage.embedded_kb import chunks, placeholders
from kato.storage.sqlite_db import SqliteDatabase
from kato.storage.vector_math import Matrix, as_matrix, nearest_names, select_flush


class SqliteVectorStore:
    """Stored and pending vectors of one node, shared by every process."""

    def __init__(self, db: SqliteDatabase, node: str) -> None:
        self._db = db
        self._node = node
        self._lock = threading.Lock()
        self._cache: tuple[int, list[str], Matrix] | None = None

    def _vector_meta(self) -> tuple[int | None, int]:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT vector_dimension, vector_version FROM nodes WHERE node = ?",
                (self._node,),
            ).fetchone()
        return (None, 0) if row is None else (row[0], int(row[1]))

    def dimension(self) -> int | None:
        return self._vector_meta()[0]

    def _matrix(self) -> tuple[list[str], Matrix] | None:
        dimension, version = self._vector_meta()
        if dimension is None:
            return None
        with self._lock:
            if self._cache is not None and self._cache[0] == version:
                return self._cache[1], self._cache[2]
        with self._db.read() as conn:  # one snapshot: version and rows agree
            row = conn.execute(
                "SELECT vector_dimension, vector_version FROM nodes WHERE node = ?",
                (self._node,),
            ).fetchone()
            rows = conn.execute(
                "SELECT name, data FROM vectors WHERE node = ?", (self._node,)
            ).fetchall()
        if row is None or row[0] is None:
            return None
        by_name = dict(rows)
        names = sorted(by_name)
        dimension = int(row[0])
        matrix = as_matrix(vector_rows([by_name[n] for n in names], dimension), dimension)
        with self._lock:
            self._cache = (int(row[1]), names, matrix)
        return names, matrix

    def nearest(self, vector: Sequence[float], k: int) -> list[str]:
        loaded = self._matrix()
        if loaded is None:
            return []
        names, matrix = loaded
        return nearest_names(names, matrix, vector, k)

    def add_pending(self, name: str, vector: Sequence[float]) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO pending_vectors (node, name, data) VALUES (?, ?, ?)",
                (self._node, name, vector_bytes([float(x) for x in vector])),
            )

    def flush_pending(self, forced_dimension: int | None) -> None:
        with self._db.write() as conn:
            rows = conn.execute(
                "SELECT name, data FROM pending_vectors WHERE node = ? ORDER BY id",
                (self._node,),
            ).fetchall()
            if not rows:
                return
            pending = [(name, vector_values(data)) for name, data in rows]
            names = list(dict.fromkeys(name for name, _ in pending))
            stored: set[str] = set()
            for part in chunks(names):
                query = (
                    "SELECT name FROM vectors WHERE node = ? AND name IN "
                    f"({placeholders(len(part))})"
                )
                stored.update(r[0] for r in conn.execute(query, (self._node, *part)))
            meta = conn.execute(
                "SELECT vector_dimension FROM nodes WHERE node = ?", (self._node,)
            ).fetchone()
            dimension = None if meta is None else meta[0]
            selected, new_dimension = select_flush(
                pending, stored.__contains__, dimension, forced_dimension
            )
            conn.executemany(
                "INSERT INTO vectors (node, name, data) VALUES (?, ?, ?)",
                [(self._node, name, vector_bytes(vector)) for name, vector in selected],
            )
            conn.execute("DELETE FROM pending_vectors WHERE node = ?", (self._node,))
            if selected:
                conn.execute("INSERT OR IGNORE INTO nodes (node) VALUES (?)", (self._node,))
                conn.execute(
                    "UPDATE nodes SET vector_dimension = ?, vector_version = vector_version + 1 "
                    "WHERE node = ?",
                    (new_dimension, self._node),
                )

    def all_vectors(self) -> list[tuple[str, list[float]]]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT name, data FROM vectors WHERE node = ?", (self._node,)
            ).fetchall()
        return [(name, vector_values(data)) for name, data in sorted(rows)]

    def pending(self) -> list[tuple[str, list[float]]]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT name, data FROM pending_vectors WHERE node = ? ORDER BY id",
                (self._node,),
            ).fetchall()
        return [(name, vector_values(data)) for name, data in rows]

    def clear(self) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM vectors WHERE node = ?", (self._node,))
            conn.execute("DELETE FROM pending_vectors WHERE node = ?", (self._node,))
            conn.execute("INSERT OR IGNORE INTO nodes (node) VALUES (?)", (self._node,))
            conn.execute(
                "UPDATE nodes SET vector_dimension = NULL, vector_version = vector_version + 1 "
                "WHERE node = ?",
                (self._node,),
            )
