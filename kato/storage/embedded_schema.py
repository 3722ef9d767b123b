"""Tables of the embedded (SQLite) backend; every node-scoped row carries its node key."""

from __future__ import annotations

import sqlite3
import time

# A rowid table, not WITHOUT ROWID: a record holds its session's observe-time predictions
# (100-140 KB on a trained node), and a WITHOUT ROWID table keeps whole rows in its key
# B-tree, which slowed every session read and write in the database, a fresh session's
# too, once such records were in it (docs/performance.md, "Session records").
SESSIONS_TABLE = """CREATE TABLE IF NOT EXISTS sessions (
    session_id BLOB PRIMARY KEY,
    expires_at REAL NOT NULL,
    record BLOB NOT NULL
);"""
SESSIONS_BY_EXPIRY = "CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);"
# Added by the session store on first use (kato/storage/embedded_sessions.py), filled from
# the records of a database written before it existed.
SESSIONS_NODE_COLUMN = "ALTER TABLE sessions ADD COLUMN node BLOB"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0,          -- +1 per new pattern and per clear
    generation INTEGER NOT NULL DEFAULT 0,       -- +1 per clear
    last_seq INTEGER NOT NULL DEFAULT 0,         -- sequence number of the newest pattern
    patterns INTEGER NOT NULL DEFAULT 0,         -- N (= TPF)
    total_symbols INTEGER NOT NULL DEFAULT 0,    -- total_symbols_in_patterns_frequencies
    distinct_symbols INTEGER NOT NULL DEFAULT 0, -- T
    precomputed_version INTEGER NOT NULL DEFAULT -1,
    vector_dimension INTEGER,
    vector_version INTEGER NOT NULL DEFAULT 0,   -- +1 whenever stored vectors change
    last_change INTEGER NOT NULL DEFAULT 0       -- +1 per learn: the summary change log
);
CREATE TABLE IF NOT EXISTS patterns (
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    frequency INTEGER NOT NULL,
    emotives BLOB NOT NULL,
    metadata BLOB NOT NULL,
    changed INTEGER NOT NULL DEFAULT 0,          -- nodes.last_change of its latest learn
    PRIMARY KEY (node, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS patterns_by_seq ON patterns (node, seq);
CREATE TABLE IF NOT EXISTS symbols (
    node TEXT NOT NULL,
    symbol BLOB NOT NULL,
    sym_freq INTEGER NOT NULL,
    pmf INTEGER NOT NULL,
    affinity BLOB,
    PRIMARY KEY (node, symbol)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS precomputed (
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    entropy REAL NOT NULL,
    normalized_entropy REAL NOT NULL,
    global_normalized_entropy REAL NOT NULL,
    tf_vector BLOB NOT NULL,
    PRIMARY KEY (node, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS learn_tokens (      -- exactly-once learns (kept across clear)
    node TEXT NOT NULL,
    token BLOB NOT NULL,
    applied_at REAL NOT NULL,                    -- epoch seconds; pruned after the retention
    PRIMARY KEY (node, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS learn_tokens_by_age ON learn_tokens (node, applied_at);
CREATE TABLE IF NOT EXISTS vectors (
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (node, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_vectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_node ON pending_vectors (node, id);
{SESSIONS_TABLE}
{SESSIONS_BY_EXPIRY}
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    event BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (created);
"""


# Columns added after the first release: (table, column, definition). Databases created
# before them get them at startup (:func:`upgrade`), then the indexes that use them.
ADDED_COLUMNS = (
    ("nodes", "last_change", "INTEGER NOT NULL DEFAULT 0"),
    ("patterns", "changed", "INTEGER NOT NULL DEFAULT 0"),
)
LATE_INDEX = ("patterns_by_change", "CREATE INDEX patterns_by_change ON patterns (node, changed)")


def _missing_columns(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    missing = []
    for table, column, definition in ADDED_COLUMNS:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            missing.append((table, column, definition))
    return missing


def _has_late_index(conn: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"
    return conn.execute(query, (LATE_INDEX[0],)).fetchone() is not None


def _sessions_without_rowid(conn: sqlite3.Connection) -> bool:
    query = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'"
    row = conn.execute(query).fetchone()
    return row is not None and "WITHOUT ROWID" in row[0].upper()


def _rebuild_sessions(conn: sqlite3.Connection) -> None:
    """Copy the live sessions into a rowid table (its ``node`` column too, when it has one;
    the session store recreates that column's index). Expired ones are left behind: a
    read would delete them anyway."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(sessions)")]
    conn.execute("ALTER TABLE sessions RENAME TO sessions_without_rowid")
    conn.execute(SESSIONS_TABLE)
    if "node" in columns:
        conn.execute(SESSIONS_NODE_COLUMN)
    listed = ", ".join(columns)
    conn.execute(
        f"INSERT INTO sessions ({listed}) SELECT {listed} FROM sessions_without_rowid"
        " WHERE expires_at > ?",
        (time.time(),),
    )
    conn.execute("DROP TABLE sessions_without_rowid")  # and its indexes
    conn.execute(SESSIONS_BY_EXPIRY)


def needs_upgrade(conn: sqlite3.Connection) -> bool:
    """Whether the database lacks a column or index of this release, or has its sessions in
    the earlier WITHOUT ROWID table (a read: no lock)."""
    return (
        bool(_missing_columns(conn)) or not _has_late_index(conn) or _sessions_without_rowid(conn)
    )


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the columns and indexes a database created by an older release lacks, and move
    its sessions into a rowid table.

    Run under the write lock; another process may have upgraded it meanwhile.
    """
    for table, column, definition in _missing_columns(conn):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    if not _has_late_index(conn):
        conn.execute(LATE_INDEX[1])
    if _sessions_without_rowid(conn):
        _rebuild_sessions(conn)
