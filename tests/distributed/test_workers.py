"""Several workers (processes and backend instances) against one Redis and one ClickHouse."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

from kato.engine.config import EngineConfig
from kato.engine.node import NodeEngine
from kato.engine.types import GlobalStats, Observation, SessionState
from kato.storage.ports import SessionRecord
from tests.contract.helpers import learn, make_update
from tests.distributed import servers, workers
from tests.distributed.conftest import BackendMaker

PATTERN = [["a", "b"], ["c"]]


def _settings_json(services: servers.Services) -> str:
    return services.settings(servers.DATABASE, timeout=30.0).model_dump_json()


def test_concurrent_learns_from_processes_count_exactly_once_each(
    make_backend: BackendMaker, services: servers.Services
) -> None:
    settings = _settings_json(services)
    context = multiprocessing.get_context("fork")  # workers build their own connections
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        futures = [
            pool.submit(workers.learn_many, settings, "shared", PATTERN, 2, 10) for _ in range(4)
        ]
        created = [future.result(timeout=120) for future in futures]
    assert sum(created) == 1  # exactly one of the 80 learns created the pattern
    reader = make_backend()
    kb = reader.node("shared").kb
    name = make_update(PATTERN).name
    record = kb.get_patterns([name])[name]
    assert record.frequency == 80
    assert record.emotives == [{"joy": 1.0}] * 5
    assert kb.global_stats() == GlobalStats(1, 1, 240, 3)
    assert kb.symbol_frequencies(["a", "b", "c"]) == {"a": 80, "b": 80, "c": 80}
    assert kb.pattern_member_frequencies(["a", "b", "c"]) == {"a": 1, "b": 1, "c": 1}
    assert kb.affinities(["c"]) == {"c": {"joy": 80.0}}
    assert [(seq, n) for seq, n, _ in kb.patterns_since(0)] == [(1, name)]
    reader.learn_log.drain()
    log = reader.patterns.learn_log("shared")
    assert [row["learn_seq"] for row in log] == list(range(1, 81))
    assert sorted(row["frequency"] for row in log) == list(range(1, 81))
    assert sum(row["is_new"] for row in log) == 1


def test_learn_is_visible_to_the_next_read_of_another_worker(make_backend: BackendMaker) -> None:
    first, second = make_backend(), make_backend()
    kb_one, kb_two = first.node("n").kb, second.node("n").kb
    assert kb_two.version() == 0 and kb_two.patterns_since(0) == []
    for number in range(5):
        pattern = [[f"s{number}"], ["t"]]
        assert learn(kb_one, pattern) is True
        name = make_update(pattern).name
        assert kb_two.version() == number + 1
        assert kb_two.get_patterns([name])[name].pattern_data == pattern
        assert [n for _, n, _ in kb_two.patterns_since(number)] == [name]
        second.node("n").index.sync(kb_two)
        assert len(second.node("n").index) == number + 1
    assert learn(kb_two, [["s0"], ["t"]]) is False
    name = make_update([["s0"], ["t"]]).name
    assert kb_one.get_patterns([name])[name].frequency == 2
    first.node("n").vectors.add_pending("VCTR|x", [1.0, 2.0])
    assert second.node("n").vectors.pending() == [("VCTR|x", [1.0, 2.0])]
    second.node("n").vectors.flush_pending(None)
    assert first.node("n").vectors.nearest([1.0, 2.5], 3) == ["VCTR|x"]
    first.node("n").kb.clear()
    assert kb_two.generation() == 1 and kb_two.global_stats() == GlobalStats()


def test_session_lock_serialises_processes(
    make_backend: BackendMaker, services: servers.Services
) -> None:
    creator = make_backend()
    now = datetime.now(UTC)
    creator.sessions.create(
        SessionRecord("session-lock", "node", now, now + timedelta(minutes=5), 300)
    )
    creator.close()  # no connection is shared with the forked workers
    context = multiprocessing.get_context("fork")
    settings = _settings_json(services)
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        futures = [
            pool.submit(workers.locked_increments, settings, "session-lock", 40) for _ in range(3)
        ]
        for future in futures:
            future.result(timeout=120)
    record = make_backend().sessions.get("session-lock")
    assert record is not None and record.state.time == 120


def test_sessions_use_native_ttl_and_count_without_scanning(make_backend: BackendMaker) -> None:
    backend = make_backend()
    now = datetime.now(UTC)
    for number in range(3):
        backend.sessions.create(
            SessionRecord(f"s-{number}", "node", now, now + timedelta(seconds=30), 30)
        )
    assert backend.sessions.count() == 3
    ttl_ms = backend.redis.pttl("kato:session:s-1")
    assert 25_000 < ttl_ms <= 30_000
    assert make_backend().sessions.count() == 3


def test_lock_of_a_crashed_worker_expires(
    make_backend: BackendMaker, services: servers.Services
) -> None:
    context = multiprocessing.get_context("fork")
    worker = context.Process(
        target=workers.die_holding_lock, args=(_settings_json(services), "s-crash", 3.0)
    )
    backend = make_backend()
    worker.start()
    worker.join(timeout=30)
    assert worker.exitcode == 0
    remaining_ms = backend.redis.pttl("kato:session:s-crash:lock")  # left behind by the crash
    assert 0 < remaining_ms <= 3000
    started = time.monotonic()
    with backend.sessions.lock("s-crash"):
        waited = time.monotonic() - started
    assert remaining_ms / 1000 - 0.5 < waited < 3.5


def test_learn_in_one_worker_shows_in_the_next_prediction_of_another(
    make_backend: BackendMaker,
) -> None:
    config = EngineConfig(recall_threshold=0.1)
    one, two = (make_backend().node("shared") for _ in range(2))
    teacher = NodeEngine(one.kb, one.vectors, one.index)
    student = NodeEngine(two.kb, two.vectors, two.index)
    assert student.predict([["hello"], ["world"]], config).predictions == []
    for round_number in range(3):
        state = SessionState()
        for word in ("hello", "world", f"again{round_number}"):
            teacher.observe(state, Observation(strings=[word]), config)
        teacher.learn(state, config)
        names = [p["name"] for p in student.predict([["hello"], ["world"]], config).predictions]
        assert len(names) == round_number + 1
    assert student.finalize_training().patterns_processed == 3
    state = SessionState()
    for word in ("hello", "world", "new"):
        student.observe(state, Observation(strings=[word]), config)
    student.learn(state, config)
    assert len(teacher.predict([["hello"], ["world"]], config).predictions) == 4
    query = [["hello"], ["world"], ["new"]]
    assert teacher.predict(query, config) == student.predict(query, config)
