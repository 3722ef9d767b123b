"""Embedded backend specifics: unusable directories, health, the factory."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path

import pytest

from kato.storage import sqlite_db
from kato.storage.embedded import DATABASE_FILE, EmbeddedBackend
from kato.storage.embedded_locks import SessionLocks
from kato.storage.factory import build_backend
from kato.storage.memory import MemoryBackend
from kato.storage.ports import Backend, StorageUnavailableError
from kato.storage.settings import StorageSettings
from tests.contract.helpers import learn, make_update
from tests.contract.test_session_store import record


def test_file_in_place_of_directory_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with pytest.raises(StorageUnavailableError) as caught:
        EmbeddedBackend(blocker)
    assert caught.value.dependency == "sqlite"


def test_directory_below_a_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageUnavailableError):
        EmbeddedBackend(tmp_path / "file" / "data")


def test_corrupt_database_is_unavailable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "kato.sqlite3").write_bytes(b"garbage" * 1000)
    with pytest.raises(StorageUnavailableError):
        EmbeddedBackend(data_dir)


def test_health(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "data")
    assert isinstance(backend, Backend)
    assert backend.health() == {"sqlite": "ok"}
    assert (tmp_path / "data" / "kato.sqlite3").is_file()
    backend.close()
    assert backend.health() == {"sqlite": "down: backend closed"}


def test_factory_builds_the_configured_family(tmp_path: Path) -> None:
    memory = build_backend(StorageSettings(kato_storage="memory"))
    assert isinstance(memory, MemoryBackend) and memory.name == "memory"
    embedded = build_backend(StorageSettings(kato_storage="embedded", kato_data_dir=tmp_path / "d"))
    assert isinstance(embedded, EmbeddedBackend) and embedded.name == "embedded"
    assert embedded.data_dir == tmp_path / "d"
    embedded.close()


def test_embedded_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("KATO_STORAGE", "REDIS_URL", "REDIS_HOST"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KATO_DATA_DIR", str(tmp_path / "default"))
    backend = build_backend(StorageSettings())
    assert isinstance(backend, EmbeddedBackend)
    backend.close()


def test_database_without_summary_change_log_is_upgraded(tmp_path: Path) -> None:
    """A data directory written before the summary change log existed gets its columns."""
    old = EmbeddedBackend(tmp_path)
    learn(old.node("n").kb, [["a"], ["b"]])
    old.close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as conn:  # the previous release's schema
        conn.execute("DROP INDEX patterns_by_change")
        conn.execute("ALTER TABLE patterns DROP COLUMN changed")
        conn.execute("ALTER TABLE nodes DROP COLUMN last_change")
    upgraded = EmbeddedBackend(tmp_path)
    try:
        kb = upgraded.node("n").kb
        position, _ = kb.summary_changes(None)
        learn(kb, [["a"], ["b"]])
        assert kb.summary_changes(position)[1] == [make_update([["a"], ["b"]]).name]
        assert kb.pattern_summaries([make_update([["a"], ["b"]]).name]) != {}
    finally:
        upgraded.close()


def _sessions_table_sql(database: Path) -> str:
    with sqlite3.connect(database) as conn:
        query = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'"
        return str(conn.execute(query).fetchone()[0])


def test_sessions_written_by_the_without_rowid_release_move_to_a_rowid_table(
    tmp_path: Path,
) -> None:
    """Session records are large (the observe-time predictions): they live in a rowid table,
    and a database of the release that kept them in a WITHOUT ROWID table is rebuilt."""
    old = EmbeddedBackend(tmp_path)
    old.sessions.create(record("kept"))
    old.sessions.create(record("expired", ttl=0.05))
    expected = old.sessions.get("kept")
    old.close()
    time.sleep(0.1)
    database = tmp_path / DATABASE_FILE
    assert "WITHOUT ROWID" not in _sessions_table_sql(database).upper()
    with sqlite3.connect(database) as conn:  # back to the previous release's table
        conn.execute("ALTER TABLE sessions RENAME TO fresh")
        conn.execute(
            "CREATE TABLE sessions (session_id BLOB PRIMARY KEY, expires_at REAL NOT NULL,"
            " record BLOB NOT NULL, node BLOB) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO sessions SELECT session_id, expires_at, record, node FROM fresh")
        conn.execute("DROP TABLE fresh")
        conn.execute("CREATE INDEX sessions_by_expiry ON sessions (expires_at)")
        conn.execute("CREATE INDEX sessions_by_node ON sessions (node, expires_at)")
    assert "WITHOUT ROWID" in _sessions_table_sql(database).upper()
    upgraded = EmbeddedBackend(tmp_path)
    try:
        assert "WITHOUT ROWID" not in _sessions_table_sql(database).upper()
        assert upgraded.sessions.get("kept") == expected
        assert upgraded.sessions.count_node("node-é") == 1
        with sqlite3.connect(database) as conn:
            indexes = {row[1] for row in conn.execute("PRAGMA index_list(sessions)")}
            rows = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        assert rows == 1  # the expired session was not copied
        assert {"sessions_by_expiry", "sessions_by_node"} <= indexes
    finally:
        upgraded.close()


def test_session_lock_survives_its_descriptor_closed_while_held(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    locks = SessionLocks(tmp_path)
    stripe = locks._stripe("s")
    with locks.lock("s"):
        assert stripe.fd is not None
        os.close(stripe.fd)  # what the recycling test once saw happen (docs/reliability.md)
    assert "closed while held" in caplog.text
    with locks.lock("s"):  # the lock is free again: the closed descriptor released it
        assert stripe.fd is not None


def test_session_lock_leaves_a_reused_descriptor_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A held lock's descriptor closed elsewhere, its number then reused by another
    stripe's lock: releasing the first must neither unlock nor close the second."""
    locks = SessionLocks(tmp_path)
    other_session = next(
        f"t{n}" for n in range(100) if locks._stripe(f"t{n}") is not locks._stripe("s")
    )
    other = locks._stripe(other_session)
    first_hold = locks.lock("s")
    first_hold.__enter__()
    number = locks._stripe("s").fd
    assert number is not None
    os.close(number)
    other_hold = locks.lock(other_session)
    other_hold.__enter__()
    assert other.fd == number  # POSIX hands out the lowest free number
    first_hold.__exit__(None, None, None)
    assert "closed while held and reused" in caplog.text
    os.fstat(number)  # still open
    probe = os.open(other.path, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # still locked
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)
    other_hold.__exit__(None, None, None)


def test_a_foreign_writer_makes_saves_unavailable_while_reads_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The single-statement paths (``SqliteDatabase.write_one`` and ``query``): a writer
    outside KATO's write lock holding the database turns a session save into a 503-class
    error after the busy timeout, while WAL readers still read."""
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_SECONDS", 0.2)
    backend = EmbeddedBackend(tmp_path / "data")
    session = record("s")
    backend.sessions.create(session)
    foreign = sqlite3.connect(tmp_path / "data" / DATABASE_FILE, isolation_level=None)
    try:
        foreign.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageUnavailableError):
            backend.sessions.save(session)
        loaded = backend.sessions.get("s")
        assert loaded is not None and loaded.state.stm == session.state.stm
    finally:
        foreign.execute("ROLLBACK")
        foreign.close()
    backend.sessions.save(session)  # the database is free again
    backend.close()


def test_summaries_without_emotives_are_shared_per_frequency(tmp_path: Path) -> None:
    kb = EmbeddedBackend(tmp_path).node("n").kb
    plain = [[["a"], ["b"]], [["c"], ["d"]], [["e"], ["f"]]]
    for pattern in plain:
        learn(kb, pattern)
    learn(kb, plain[2])  # frequency 2
    learn(kb, [["g"], ["h"]], [{"joy": 0.5}])
    names = [make_update(p).name for p in [*plain, [["g"], ["h"]]]]
    read = kb.pattern_summaries(names)
    summaries = [read[name] for name in names]
    assert [(s.frequency, s.emotives) for s in summaries] == [
        (1, []),
        (1, []),
        (2, []),
        (1, [{"joy": 0.5}]),
    ]
    # read only, so in one read one object stands for every pattern of a frequency without
    # emotives
    assert summaries[0] is summaries[1]
    assert summaries[2] is not summaries[0] and summaries[3] is not summaries[0]
