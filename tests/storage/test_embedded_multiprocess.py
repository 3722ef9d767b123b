"""The embedded backend shared by several processes on one data directory."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kato.engine.index import PatternIndex
from kato.engine.types import GlobalStats, PrecomputedMetrics, SessionState
from kato.storage.embedded import EmbeddedBackend
from kato.storage.ports import SessionRecord
from tests.contract.helpers import learn, make_update
from tests.storage import mp_workers

WORKERS = 4
CONTEXT = multiprocessing.get_context("spawn")


def run_all(target: Callable[..., None], args: list[tuple[Any, ...]]) -> None:
    processes = [CONTEXT.Process(target=target, args=a) for a in args]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def test_concurrent_learns_count_exactly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    EmbeddedBackend(data_dir).close()
    start = CONTEXT.Barrier(WORKERS)
    repeats = 20
    run_all(mp_workers.learn_worker, [(data_dir, start, w, repeats) for w in range(WORKERS)])

    backend = EmbeddedBackend(data_dir)
    kb = backend.node("node").kb
    shared = make_update(mp_workers.SHARED_PATTERN).name
    assert kb.get_patterns([shared])[shared].frequency == WORKERS * repeats
    own_length = 2 * WORKERS
    assert kb.global_stats() == GlobalStats(
        1 + WORKERS, 1 + WORKERS, 3 * WORKERS * repeats + own_length, 3 + WORKERS
    )
    assert kb.pattern_member_frequencies(["shared", "b"]) == {"shared": 1, "b": 1 + WORKERS}
    assert kb.symbol_frequencies(["shared"]) == {"shared": WORKERS * repeats}
    assert kb.affinities(["a"]) == {"a": {"joy": float(WORKERS * repeats)}}
    assert [seq for seq, _, _ in kb.patterns_since(0)] == list(range(1, 2 + WORKERS))
    assert kb.version() == 1 + WORKERS
    backend.close()


def test_concurrent_session_updates_under_lock_lose_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    backend = EmbeddedBackend(data_dir)
    now = datetime.now(UTC)
    backend.sessions.create(
        SessionRecord("session-1", "node", now, now + timedelta(minutes=5), 300)
    )
    start = CONTEXT.Barrier(WORKERS)
    repeats = 25
    run_all(mp_workers.session_worker, [(data_dir, start, w, repeats) for w in range(WORKERS)])

    record = backend.sessions.get("session-1")
    assert record is not None
    assert record.state.time == WORKERS * repeats
    events = [event[0] for event in record.state.stm]
    assert sorted(events) == sorted(f"w{w}-{i}" for w in range(WORKERS) for i in range(repeats))
    for worker in range(WORKERS):  # each worker's events stay in its own order
        mine = [e for e in events if e.startswith(f"w{worker}-")]
        assert mine == [f"w{worker}-{i}" for i in range(repeats)]
    backend.close()


def test_other_process_changes_are_seen_by_caches(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    backend = EmbeddedBackend(data_dir)
    handle = backend.node("node")
    learn(handle.kb, [["a"], ["b"]])
    handle.vectors.add_pending("VCTR|parent", [0.0, 0.0])
    handle.vectors.flush_pending(None)
    name = make_update([["a"], ["b"]]).name
    assert handle.kb.store_precomputed(
        {name: PrecomputedMetrics(1.0, 0.5, 0.25, (("a", 0.5),))}, handle.kb.version()
    )
    handle.index.sync(handle.kb)
    assert len(handle.index) == 1
    assert handle.vectors.nearest([10.0, 10.0], 1) == ["VCTR|parent"]  # fills the cache

    async def scenario() -> dict[str, Any]:
        subscription = backend.events.subscribe()
        await asyncio.to_thread(run_all, mp_workers.change_worker, [(data_dir,)])
        async with asyncio.timeout(5):
            return await anext(subscription)

    assert asyncio.run(scenario()) == {"event_type": "child.done", "data": {"ok": True}}
    handle.index.sync(handle.kb)
    assert len(handle.index) == 2
    assert handle.index.by_name(make_update([["from"], ["child"]]).name) is not None
    assert handle.kb.precomputed_metrics([name]) == {}  # invalidated by the new pattern
    assert handle.vectors.nearest([10.0, 10.0], 1) == ["VCTR|child"]

    generation = handle.kb.generation()
    run_all(mp_workers.clear_worker, [(data_dir,)])
    assert handle.kb.generation() != generation
    handle.index.sync(handle.kb)
    assert len(handle.index) == 0
    assert handle.vectors.nearest([10.0, 10.0], 1) == []
    assert handle.vectors.dimension() is None
    backend.close()


def test_data_survives_reopening(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    backend = EmbeddedBackend(data_dir)
    handle = backend.node("node")
    learn(handle.kb, [["a"], ["b"]], [{"joy": 0.5}])
    learn(handle.kb, [["a"], ["b"]])
    handle.vectors.add_pending("VCTR|x", [1.0, 2.0])
    handle.vectors.flush_pending(None)
    handle.vectors.add_pending("VCTR|y", [3.0, 4.0])
    now = datetime.now(UTC)
    state = SessionState(stm=[["a"]], time=1)
    session = SessionRecord("s-1", "node", now, now + timedelta(minutes=5), 300, state=state)
    backend.sessions.create(session)
    version = handle.kb.version()
    backend.close()

    reopened = EmbeddedBackend(data_dir)
    kb = reopened.node("node").kb
    name = make_update([["a"], ["b"]]).name
    assert kb.get_patterns([name])[name].frequency == 2
    assert kb.global_stats() == GlobalStats(1, 1, 4, 2)
    assert kb.all_affinities() == {"a": {"joy": 0.5}, "b": {"joy": 0.5}}
    assert kb.version() == version
    vectors = reopened.node("node").vectors
    assert vectors.all_vectors() == [("VCTR|x", [1.0, 2.0])]
    assert vectors.pending() == [("VCTR|y", [3.0, 4.0])]
    assert vectors.dimension() == 2
    assert reopened.sessions.get("s-1") == session
    assert reopened.sessions.count() == 1
    assert list(reopened.nodes()) == ["node"]
    index = PatternIndex()
    index.sync(kb)
    assert len(index) == 1
    reopened.close()
