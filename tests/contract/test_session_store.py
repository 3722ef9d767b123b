"""SessionStore contract (api.md §3.4, §3.5)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from kato.engine.types import SessionState
from kato.storage.ports import Backend, SessionRecord, SessionStore


@pytest.fixture
def sessions(backend: Backend) -> SessionStore:
    assert isinstance(backend.sessions, SessionStore)
    return backend.sessions


def record(session_id: str, ttl: float = 60.0) -> SessionRecord:
    now = datetime.now(UTC)
    return SessionRecord(
        session_id=session_id,
        node_id="node-é",
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        ttl_seconds=int(ttl),
        metadata={"user": "alice", "n": 1, "big": 2**70},
        config={"recall_threshold": 0.25},
        state=SessionState(
            stm=[["a", "b"], ["\ud800"]],
            emotives_accumulator=[{"joy": 0.5}],
            metadata_accumulator=[{"k": [1, "x"]}],
            time=2,
            percept_data={"strings": ["b"]},
            predictions=[{"name": "abc", "potential": 1.5}],
        ),
    )


def test_create_and_get_round_trip(sessions: SessionStore) -> None:
    original = record("s-1")
    sessions.create(original)
    loaded = sessions.get("s-1")
    assert loaded == original
    assert loaded is not original
    assert sessions.status("s-1") == "live"


def test_returned_records_are_copies(sessions: SessionStore) -> None:
    sessions.create(record("s-1"))
    loaded = sessions.get("s-1")
    assert loaded is not None
    loaded.state.stm.append(["changed"])
    loaded.metadata["user"] = "mallory"
    again = sessions.get("s-1")
    assert again is not None
    assert again.state.stm == [["a", "b"], ["\ud800"]]
    assert again.metadata["user"] == "alice"


def test_missing_session(sessions: SessionStore) -> None:
    assert sessions.get("nope") is None
    assert sessions.status("nope") == "missing"
    assert sessions.delete("nope") is False


def test_save_and_delete(sessions: SessionStore) -> None:
    sessions.create(record("s-1"))
    updated = record("s-1")
    updated.state.time = 42
    sessions.save(updated)
    loaded = sessions.get("s-1")
    assert loaded is not None and loaded.state.time == 42
    assert sessions.delete("s-1") is True
    assert sessions.get("s-1") is None
    assert sessions.delete("s-1") is False


def test_expiry_is_honoured(sessions: SessionStore) -> None:
    sessions.create(record("live"))
    sessions.create(record("soon", ttl=0.3))
    sessions.create(record("past", ttl=-1.0))
    assert sessions.count() == 2
    assert sessions.status("past") == "expired"
    assert sessions.status("past") == "missing"  # deleted lazily
    assert sessions.status("soon") == "live"
    time.sleep(0.35)
    assert sessions.count() == 1
    assert sessions.get("soon") is None
    assert sessions.status("soon") == "missing"
    assert sessions.get("live") is not None


def test_extending_by_save_keeps_session_alive(sessions: SessionStore) -> None:
    short = record("s-1", ttl=0.2)
    sessions.create(short)
    short.expires_at = datetime.now(UTC) + timedelta(seconds=60)
    sessions.save(short)
    time.sleep(0.25)
    assert sessions.status("s-1") == "live"


def test_lock_serialises_read_modify_write(sessions: SessionStore) -> None:
    sessions.create(record("s-1"))
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        for _ in range(15):
            with sessions.lock("s-1"):
                current = sessions.get("s-1")
                assert current is not None
                current.state.time += 1
                current.state.stm.append([f"e{current.state.time}"])
                sessions.save(current)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = sessions.get("s-1")
    assert final is not None
    assert final.state.time == 2 + 60
    assert final.state.stm[2:] == [[f"e{i}"] for i in range(3, 63)]


def test_lock_is_reentrant_in_one_thread(sessions: SessionStore) -> None:
    with sessions.lock("s-1"), sessions.lock("s-1"):
        sessions.create(record("s-1"))
    assert sessions.status("s-1") == "live"


def test_lock_excludes_other_threads_only_for_its_session(sessions: SessionStore) -> None:
    acquired: dict[str, bool] = {}

    def try_lock(session_id: str) -> None:
        with sessions.lock(session_id):
            acquired[session_id] = True

    with sessions.lock("s-1"):
        same = threading.Thread(target=try_lock, args=("s-1",))
        other = threading.Thread(target=try_lock, args=("s-2",))
        same.start()
        other.start()
        other.join(timeout=5)
        same.join(timeout=0.2)
        assert acquired == {"s-2": True}
    same.join(timeout=5)
    assert acquired == {"s-2": True, "s-1": True}
