"""Restarts: every worker, and Redis itself (killed, append-only file on) lose nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kato.storage.ports import SessionRecord
from kato.storage.transfer import export_lines
from tests.contract.helpers import learn, make_update
from tests.distributed import servers
from tests.distributed.conftest import BackendMaker


def _train(backend_kb_learn_count: int, make_backend: BackendMaker) -> tuple[str, ...]:
    backend = make_backend()
    handle = backend.node("persisted")
    for number in range(backend_kb_learn_count):
        learn(handle.kb, [[f"p{number % 7}", "x"], ["y"]], [{"joy": number / 4}])
    handle.vectors.add_pending("VCTR|1", [0.5, 1.5])
    handle.vectors.flush_pending(None)
    handle.vectors.add_pending("VCTR|2", [2.5, 0.25])  # stays pending
    now = datetime.now(UTC)
    backend.sessions.create(
        SessionRecord("session-kept", "persisted", now, now + timedelta(minutes=10), 600)
    )
    return tuple(export_lines(handle.kb, handle.vectors))


def test_restarting_every_worker_loses_nothing(make_backend: BackendMaker) -> None:
    before = _train(30, make_backend)
    fresh = make_backend()  # new process state: empty caches, pattern data from ClickHouse
    handle = fresh.node("persisted")
    assert tuple(export_lines(handle.kb, handle.vectors)) == before
    assert fresh.sessions.status("session-kept") == "live"
    name = make_update([["p0", "x"], ["y"]]).name
    assert handle.kb.get_patterns([name])[name].frequency == 5


def test_killed_redis_keeps_every_acknowledged_learn(
    make_backend: BackendMaker, services: servers.Services
) -> None:
    survivor = make_backend()
    before = _train(30, make_backend)
    services.kill_one("redis")
    services.start_one("redis")
    handle = survivor.node("persisted")  # the same worker reconnects by itself
    assert tuple(export_lines(handle.kb, handle.vectors)) == before
    assert survivor.sessions.status("session-kept") == "live"
    assert survivor.health()["redis"] == "ok"
    assert learn(handle.kb, [["p0", "x"], ["y"]]) is False
    name = make_update([["p0", "x"], ["y"]]).name
    assert make_backend().node("persisted").kb.get_patterns([name])[name].frequency == 6
