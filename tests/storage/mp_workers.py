"""Worker functions run in spawned processes by the multiprocess embedded-backend tests."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier
from pathlib import Path

from kato.storage.embedded import EmbeddedBackend
from tests.contract.helpers import learn

SHARED_PATTERN = [["shared", "a"], ["b"]]


def learn_worker(data_dir: Path, start: Barrier, worker: int, repeats: int) -> None:
    backend = EmbeddedBackend(data_dir)
    kb = backend.node("node").kb
    start.wait()
    for i in range(repeats):
        learn(kb, SHARED_PATTERN, [{"joy": 1.0}])
        if i == 0:
            learn(kb, [[f"own-{worker}"], ["b"]])
    backend.close()


def session_worker(data_dir: Path, start: Barrier, worker: int, repeats: int) -> None:
    backend = EmbeddedBackend(data_dir)
    sessions = backend.sessions
    start.wait()
    for i in range(repeats):
        with sessions.lock("session-1"):
            record = sessions.get("session-1")
            assert record is not None
            record.state.stm.append([f"w{worker}-{i}"])
            record.state.time += 1
            sessions.save(record)
    backend.close()


def change_worker(data_dir: Path) -> None:
    """Learn a new pattern and store a new vector, then publish an event."""
    backend = EmbeddedBackend(data_dir)
    handle = backend.node("node")
    learn(handle.kb, [["from"], ["child"]])
    handle.vectors.add_pending("VCTR|child", [10.0, 10.0])
    handle.vectors.flush_pending(None)
    backend.events.publish({"event_type": "child.done", "data": {"ok": True}})
    backend.close()


def clear_worker(data_dir: Path) -> None:
    backend = EmbeddedBackend(data_dir)
    backend.node("node").kb.clear()
    backend.node("node").vectors.clear()
    backend.close()
