"""Code run in separate worker processes (spawned, so each has its own connections)."""

from __future__ import annotations

import os
import threading

from kato.storage import redis_locks
from kato.storage.distributed import build_distributed_backend
from kato.storage.settings import StorageSettings
from tests.contract.helpers import learn


def learn_many(settings_json: str, node: str, pattern: list[list[str]], threads: int, times: int):
    """Learn ``pattern`` ``times`` times from each of ``threads`` threads; returns new-counts."""
    backend = build_distributed_backend(StorageSettings.model_validate_json(settings_json))
    kb = backend.node(node).kb
    created: list[bool] = []
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        for _ in range(times):
            created.append(learn(kb, pattern, [{"joy": 1.0}]))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    backend.close()
    return sum(created)


def locked_increments(settings_json: str, session_id: str, times: int) -> None:
    """Read-modify-write of one session's ``time`` under the session lock."""
    backend = build_distributed_backend(StorageSettings.model_validate_json(settings_json))
    sessions = backend.sessions
    for _ in range(times):
        with sessions.lock(session_id):
            record = sessions.get(session_id)
            assert record is not None
            record.state.time += 1
            sessions.save(record)
    backend.close()


def die_holding_lock(settings_json: str, session_id: str, lease_seconds: float) -> None:
    """Take the session lock and exit abruptly (a crashed worker never releases it)."""
    redis_locks.LEASE_SECONDS = lease_seconds
    backend = build_distributed_backend(StorageSettings.model_validate_json(settings_json))
    holder = backend.sessions.lock(session_id)
    holder.__enter__()
    os._exit(0)  # no cleanup runs: ``holder`` is never exited
