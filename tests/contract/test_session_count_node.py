"""SessionStore.count_node contract: live sessions of one raw node id, on every backend."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kato.storage.embedded import DATABASE_FILE, EmbeddedBackend
from kato.storage.memory import MemoryBackend
from kato.storage.ports import Backend, SessionRecord
from tests.contract.conftest import BackendFactory


def _record(session_id: str, node_id: str, ttl: float = 60.0) -> SessionRecord:
    now = datetime.now(UTC)
    return SessionRecord(
        session_id=session_id,
        node_id=node_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        ttl_seconds=max(int(ttl), 1),
    )


def test_counts_live_sessions_per_node(backend: Backend) -> None:
    sessions = backend.sessions
    assert sessions.count_node("alice") == 0
    for index in range(3):
        sessions.create(_record(f"a-{index}", "alice"))
    sessions.create(_record("b-0", "bob"))
    assert sessions.count_node("alice") == 3
    assert sessions.count_node("bob") == 1
    assert sessions.count_node("carol") == 0
    assert sessions.count() == 4


def test_node_ids_are_exact(backend: Backend) -> None:
    """Ids that a sanitising key function would merge are different nodes (api.md §3.2)."""
    sessions = backend.sessions
    names = ["a-b", "a.b", "a b", "a_b", "A-B", "a-b ", "\ud800", "é", ""]
    for index, name in enumerate(names):
        for copy in range(index + 1):
            sessions.create(_record(f"s-{index}-{copy}", name))
    assert [sessions.count_node(name) for name in names] == list(range(1, len(names) + 1))


def test_delete_and_save_keep_the_count(backend: Backend) -> None:
    sessions = backend.sessions
    for index in range(3):
        sessions.create(_record(f"s-{index}", "n"))
    assert sessions.delete("s-1") is True
    assert sessions.count_node("n") == 2
    assert sessions.delete("s-1") is False
    assert sessions.count_node("n") == 2
    loaded = sessions.get("s-0")
    assert loaded is not None
    loaded.state.time = 7
    sessions.save(loaded)  # a save is not a second session
    sessions.save(loaded)
    assert sessions.count_node("n") == 2
    assert sessions.delete("s-0") is True
    assert sessions.delete("s-2") is True
    assert sessions.count_node("n") == 0


def test_expired_sessions_are_not_counted(backend: Backend) -> None:
    sessions = backend.sessions
    sessions.create(_record("short", "n", ttl=0.3))
    sessions.create(_record("long", "n", ttl=60))
    assert sessions.count_node("n") == 2
    time.sleep(0.5)
    assert sessions.count_node("n") == 1
    # A save that moves the expiry into the past (or the future) moves the count with it.
    record = sessions.get("long")
    assert record is not None
    record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    sessions.save(record)
    assert sessions.count_node("n") == 0
    record.expires_at = datetime.now(UTC) + timedelta(seconds=60)
    sessions.save(record)
    assert sessions.count_node("n") == 1
    # New sessions on the node after expiries: only live ones count.
    sessions.create(_record("new", "n"))
    assert sessions.count_node("n") == 2
    assert sessions.count() == 2


def test_count_is_shared_between_workers(backend_factory: BackendFactory, tmp_path: Path) -> None:
    """A second backend on the same storage (another worker) sees the same count."""
    first = backend_factory(tmp_path)
    if isinstance(first, MemoryBackend):  # one process only: nothing to share
        first.close()
        pytest.skip("the memory backend belongs to one process")
    second = _sibling(first, tmp_path)
    try:
        first.sessions.create(_record("w-1", "shared"))
        second.sessions.create(_record("w-2", "shared"))
        assert first.sessions.count_node("shared") == 2
        assert second.sessions.count_node("shared") == 2
        assert second.sessions.delete("w-1") is True
        assert first.sessions.count_node("shared") == 1
    finally:
        second.close()
        first.close()


def _sibling(backend: Backend, tmp_path: Path) -> Backend:
    """Another backend object on the same storage as ``backend``."""
    if isinstance(backend, EmbeddedBackend):
        return EmbeddedBackend(tmp_path / "kato-data")
    from tests.distributed import servers

    return servers.contract_backend(tmp_path)  # same servers (Redis emptied: nothing stored yet)


def test_embedded_database_without_node_column_is_upgraded(tmp_path: Path) -> None:
    """A data directory written before ``count_node`` existed gets the column, filled in."""
    data_dir = tmp_path / "kato-data"
    old = EmbeddedBackend(data_dir)
    old.sessions.create(_record("old-1", "legacy"))
    old.sessions.create(_record("old-2", "legacy"))
    old.sessions.create(_record("old-3", "other"))
    old.close()
    database = data_dir / DATABASE_FILE
    with sqlite3.connect(database) as conn:  # back to the schema of the previous release
        conn.execute("DROP INDEX sessions_by_node")
        conn.execute("ALTER TABLE sessions DROP COLUMN node")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    assert "node" not in columns
    upgraded = EmbeddedBackend(data_dir)
    try:
        assert upgraded.sessions.count_node("legacy") == 2
        assert upgraded.sessions.count_node("other") == 1
        assert upgraded.sessions.get("old-1") is not None
    finally:
        upgraded.close()
