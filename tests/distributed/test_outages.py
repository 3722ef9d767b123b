"""Redis or ClickHouse unreachable: StorageUnavailableError within the timeout, then recovery."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from kato.engine.types import GlobalStats
from kato.storage.ports import StorageUnavailableError
from tests.contract.helpers import learn, make_update
from tests.distributed import servers
from tests.distributed.conftest import BackendMaker

TIMEOUT = 1.5


def _fails_in_time(dependency: str, operation: Callable[[], Any]) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailableError) as caught:
        operation()
    elapsed = time.monotonic() - started
    assert caught.value.dependency == dependency
    assert elapsed < TIMEOUT + 1.0, f"took {elapsed:.2f}s"


def test_redis_down_then_back(make_backend: BackendMaker, services: servers.Services) -> None:
    backend = make_backend(timeout=TIMEOUT)
    handle = backend.node("n")
    learn(handle.kb, [["a"], ["b"]])
    services.stop_one("redis")
    try:
        _fails_in_time("redis", handle.kb.global_stats)
        _fails_in_time("redis", lambda: learn(handle.kb, [["a"], ["b"]]))
        _fails_in_time("redis", lambda: backend.sessions.get("any"))
        _fails_in_time("redis", lambda: backend.sessions.lock("any").__enter__())
        _fails_in_time("redis", lambda: handle.vectors.add_pending("VCTR|v", [1.0]))
        _fails_in_time("redis", lambda: backend.events.publish({"event_type": "x"}))
        assert backend.health()["redis"].startswith("down: ")
        assert backend.health()["clickhouse"] == "ok"
    finally:
        services.start_one("redis")
    assert backend.health()["redis"] == "ok"
    assert learn(handle.kb, [["a"], ["b"]]) is False
    assert handle.kb.global_stats() == GlobalStats(1, 1, 4, 2)


def test_hung_redis_times_out(make_backend: BackendMaker, services: servers.Services) -> None:
    """A server that accepts but never answers (SIGSTOP) is cut off by REQUEST_TIMEOUT."""
    backend = make_backend(timeout=TIMEOUT)
    kb = backend.node("n").kb
    learn(kb, [["a"], ["b"]])
    pid = services.pid("redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        _fails_in_time("redis", kb.version)
        _fails_in_time("redis", lambda: learn(kb, [["c"], ["d"]]))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert kb.version() == 1
    assert learn(kb, [["c"], ["d"]]) is True


def test_clickhouse_down_then_back(make_backend: BackendMaker, services: servers.Services) -> None:
    writer = make_backend(timeout=TIMEOUT)
    learn(writer.node("n").kb, [["a"], ["b"]], [{"joy": 1.0}])
    writer.learn_log.drain()
    reader = make_backend(timeout=TIMEOUT)  # a worker that has not cached the pattern yet
    kb = reader.node("n").kb
    name = make_update([["a"], ["b"]]).name
    services.kill_one("clickhouse")  # a crash; rows of acknowledged inserts are on disk
    try:
        _fails_in_time("clickhouse", lambda: kb.get_patterns([name]))
        _fails_in_time("clickhouse", lambda: kb.patterns_since(0))
        stats, version = kb.global_stats(), kb.version()
        # A new pattern needs its row in ClickHouse first: nothing changes when it fails.
        _fails_in_time("clickhouse", lambda: learn(kb, [["c"], ["d"]]))
        assert (kb.global_stats(), kb.version()) == (stats, version)
        assert kb.symbol_frequencies(["c", "d"]) == {}
        # A re-learn only touches Redis; its log row waits in the Redis outbox.
        assert learn(kb, [["a"], ["b"]], [{"joy": 0.5}]) is False
        assert reader.health()["clickhouse"].startswith("down: ")
    finally:
        services.start_one("clickhouse")
    assert reader.health()["clickhouse"] == "ok"
    assert kb.get_patterns([name])[name].frequency == 2
    assert learn(kb, [["c"], ["d"]]) is True
    reader.learn_log.drain()
    log = reader.patterns.learn_log("n")
    assert [(row["name"], row["frequency"]) for row in log][:2] == [(name, 1), (name, 2)]
    assert len(log) == 3


def test_hung_clickhouse_times_out(make_backend: BackendMaker, services: servers.Services) -> None:
    writer = make_backend(timeout=TIMEOUT)
    learn(writer.node("n").kb, [["a"], ["b"]])
    reader = make_backend(timeout=TIMEOUT)
    kb = reader.node("n").kb
    assert reader.health()["clickhouse"] == "ok"  # a pooled connection exists: it gets pinged
    name = make_update([["a"], ["b"]]).name
    pid = services.pid("clickhouse")
    os.kill(pid, signal.SIGSTOP)
    try:
        _fails_in_time("clickhouse", lambda: kb.get_patterns([name]))
        _fails_in_time("clickhouse", lambda: learn(kb, [["c"], ["d"]]))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert kb.get_patterns([name])[name].frequency == 1
    assert learn(kb, [["c"], ["d"]]) is True
