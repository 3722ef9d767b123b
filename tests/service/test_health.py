"""/health names each dependency that is down (issue 4), within REQUEST_TIMEOUT, and recovers.

In process: the verdict's rules with stand-in backends (a failing count, a hung check).
Over HTTP: the distributed backend against real redis-server and clickhouse-server processes
that are stopped, SIGSTOPped (hung) and started again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kato.service.app import create_app
from kato.service.settings import load_settings
from kato.storage.ports import StorageUnavailableError
from tests.distributed import servers
from tests.service.server import KatoServer

FIELDS = {
    "status",
    "processor_status",
    "service_name",
    "uptime_seconds",
    "issues",
    "metrics_collected",
    "last_collection",
    "active_sessions",
    "timestamp",
    "dependencies",
}
REQUEST_TIMEOUT = 2.0


# -- in process --------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("KATO_STORAGE", "embedded")
    monkeypatch.setenv("KATO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REQUEST_TIMEOUT", "0.5")
    app = create_app(load_settings(session_count_cache_ttl_seconds=0, service_name="hx"))
    with TestClient(app) as running:
        yield running


def _patch(client: TestClient, target: str, name: str, replacement: Callable[..., Any]) -> None:
    backend = client.app.state.kato.backend  # type: ignore[attr-defined]
    owner = backend.sessions if target == "sessions" else backend
    setattr(owner, name, replacement)


def test_healthy_embedded_body(client: TestClient) -> None:
    assert client.post("/sessions", json={"node_id": "h"}).status_code == 200
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert body["dependencies"] == {"sqlite": "ok"}
    assert body["issues"] == [] or all(i.startswith("High ") for i in body["issues"])
    assert body["active_sessions"] == 1
    assert body["service_name"] == "hx"
    assert body["metrics_collected"] == 16
    assert body["processor_status"] == ("unhealthy" if body["status"] == "unhealthy" else "healthy")


def test_dependency_down_is_named_even_when_counting_fails(client: TestClient) -> None:
    def down() -> dict[str, str]:
        return {"redis": "down: ConnectionError: refused", "clickhouse": "ok"}

    def count() -> int:
        raise StorageUnavailableError("redis", "ConnectionError: refused")

    _patch(client, "backend", "health", down)
    _patch(client, "sessions", "count", count)
    body = client.get("/health").json()
    assert body["status"] == "unhealthy"
    assert body["processor_status"] == "unhealthy"
    assert body["issues"][0] == "redis: down: ConnectionError: refused"
    assert not any(i.startswith("Health check error") for i in body["issues"])
    assert body["dependencies"] == {"redis": "down: ConnectionError: refused", "clickhouse": "ok"}
    assert body["active_sessions"] == 0


def test_count_failure_with_dependencies_ok_is_reported(client: TestClient) -> None:
    def count() -> int:
        raise RuntimeError("boom")

    _patch(client, "sessions", "count", count)
    body = client.get("/health").json()
    assert body["status"] == "unhealthy"
    assert body["issues"][0] == "Session count error: RuntimeError: boom"
    assert body["dependencies"] == {"sqlite": "ok"}


def test_hung_check_answers_after_request_timeout(client: TestClient) -> None:
    release = threading.Event()

    def hung() -> dict[str, str]:
        release.wait(10)
        return {"sqlite": "ok"}

    _patch(client, "backend", "health", hung)
    try:
        started = time.monotonic()
        body = client.get("/health").json()
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert elapsed < 0.5 + 0.5 + 0.5  # REQUEST_TIMEOUT + grace + slack
    assert body["status"] == "unhealthy"
    assert body["dependencies"] == {"storage": "down: no answer within 0.5s"}
    assert body["issues"][0] == "storage: down: no answer within 0.5s"


def test_concurrent_requests_share_one_check(client: TestClient) -> None:
    """Single flight: polling a hung dependency never piles up checks."""
    release = threading.Event()
    calls: list[float] = []

    def hung() -> dict[str, str]:
        calls.append(time.monotonic())
        release.wait(10)
        return {"sqlite": "ok"}

    _patch(client, "backend", "health", hung)
    try:
        with ThreadPoolExecutor(6) as pool:
            bodies = list(pool.map(lambda _: client.get("/health").json(), range(6)))
        assert len(calls) == 1
        assert {b["dependencies"]["storage"] for b in bodies} == {"down: no answer within 0.5s"}
    finally:
        release.set()
    time.sleep(0.1)  # the shared check finishes; the next request starts a fresh one
    _patch(client, "backend", "health", lambda: {"sqlite": "ok"})
    assert client.get("/health").json()["dependencies"] == {"sqlite": "ok"}


def test_stats_carries_the_same_verdict(client: TestClient) -> None:
    _patch(client, "backend", "health", lambda: {"sqlite": "down: disk I/O error"})
    current = client.get("/stats").json()["current_status"]
    assert current["status"] == "unhealthy"
    assert current["issues"][0] == "sqlite: down: disk I/O error"


# -- distributed, real servers -------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> servers.Services:
    if not servers.available():
        pytest.skip("redis-server/clickhouse-server cannot be run here")
    return servers.shared()


@pytest.fixture(scope="module")
def distributed(
    services: servers.Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KatoServer]:
    services.flush_redis()
    env = {
        **services.env,
        "KATO_STORAGE": "distributed",
        "CLICKHOUSE_DB": f"{servers.DATABASE}_health",
        "REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
    }
    with KatoServer(tmp_path_factory.mktemp("health"), env=env) as running:
        yield running


@pytest.fixture
def http(distributed: KatoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=distributed.base_url, timeout=30.0) as client:
        yield client


def _timed_health(http: httpx.Client) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    response = http.get("/health")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert set(body) == FIELDS
    return elapsed, body


def _wait_recovered(http: httpx.Client, dependency: str, seconds: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = http.get("/health").json()
        if body["dependencies"].get(dependency) == "ok" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def _assert_down(body: dict[str, Any], dependency: str, others: tuple[str, ...]) -> None:
    assert body["status"] == "unhealthy"
    assert body["processor_status"] == "unhealthy"
    assert body["dependencies"][dependency].startswith("down: ")
    for other in others:
        assert body["dependencies"][other] == "ok"
    named = [issue for issue in body["issues"] if issue.startswith(f"{dependency}: down: ")]
    assert named == [f"{dependency}: {body['dependencies'][dependency]}"]
    assert not any(issue.startswith("Health check error") for issue in body["issues"])


def test_distributed_healthy(http: httpx.Client) -> None:
    assert http.post("/sessions", json={"node_id": "health"}).status_code == 200
    _, body = _timed_health(http)
    assert body["dependencies"] == {"redis": "ok", "clickhouse": "ok", "qdrant": "ok"}
    assert body["active_sessions"] >= 1


def test_stopped_redis_is_named_and_recovers(
    http: httpx.Client, services: servers.Services
) -> None:
    active = _timed_health(http)[1]["active_sessions"]
    services.stop_one("redis")
    try:
        elapsed, body = _timed_health(http)
        assert elapsed < REQUEST_TIMEOUT
        _assert_down(body, "redis", ("clickhouse", "qdrant"))
        assert body["active_sessions"] == 0  # cannot be counted while Redis is down
    finally:
        services.start_one("redis")
    body = _wait_recovered(http, "redis")
    assert body["dependencies"] == {"redis": "ok", "clickhouse": "ok", "qdrant": "ok"}
    assert body["status"] != "unhealthy" or body["issues"][0].startswith("High memory")
    assert body["active_sessions"] == active  # persistence on: the session survived


def test_hung_redis_is_named_within_the_timeout(
    http: httpx.Client, services: servers.Services
) -> None:
    pid = services.pid("redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        elapsed, body = _timed_health(http)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert elapsed < REQUEST_TIMEOUT + 1.0  # the client timeout plus scheduling slack
    _assert_down(body, "redis", ("clickhouse", "qdrant"))
    assert _wait_recovered(http, "redis")["dependencies"]["redis"] == "ok"


def test_stopped_clickhouse_is_named_and_recovers(
    http: httpx.Client, services: servers.Services
) -> None:
    services.stop_one("clickhouse")
    try:
        elapsed, body = _timed_health(http)
        assert elapsed < REQUEST_TIMEOUT
        _assert_down(body, "clickhouse", ("redis", "qdrant"))
        assert body["active_sessions"] >= 1  # sessions live in Redis: still counted
    finally:
        services.start_one("clickhouse")
    body = _wait_recovered(http, "clickhouse", seconds=30.0)
    assert body["dependencies"] == {"redis": "ok", "clickhouse": "ok", "qdrant": "ok"}
