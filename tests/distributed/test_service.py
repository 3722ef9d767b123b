"""The service over HTTP with the distributed backend: two `kato serve` workers, real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.distributed import servers
from tests.service.server import KatoServer
from tests.service.test_conformance import test_conformance_transcript

__all__ = ["test_conformance_transcript"]  # api.md §10, here against 2 distributed workers


@pytest.fixture(scope="module")
def server(
    services: servers.Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KatoServer]:
    services.flush_redis()
    env = {
        **services.env,
        "CLICKHOUSE_DB": f"{servers.DATABASE}_http",
        "REQUEST_TIMEOUT": "2",
    }
    data_dir: Path = tmp_path_factory.mktemp("kato-http")
    with KatoServer(data_dir, workers=2, env=env) as running:
        yield running


@pytest.fixture
def http(server: KatoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        yield client


def test_redis_outage_is_a_503_and_recovers(http: httpx.Client, services: servers.Services) -> None:
    session = http.post("/sessions", json={"node_id": "outage"}).json()["session_id"]
    assert (
        http.post(f"/sessions/{session}/observe", json={"strings": ["a", "b"]}).status_code == 200
    )
    services.stop_one("redis")
    try:
        started = time.monotonic()
        down = http.post(f"/sessions/{session}/observe", json={"strings": ["c"]})
        assert time.monotonic() - started < 3.0
        assert down.status_code == 503
        assert "redis" in down.text
        health = http.get("/health").json()
        assert any("redis" in issue for issue in health["issues"])
    finally:
        services.start_one("redis")

    def redis_issues() -> list[str]:
        return [i for i in http.get("/health").json()["issues"] if "redis" in i]

    deadline = time.monotonic() + 10
    while redis_issues() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert redis_issues() == []
    again = http.post(f"/sessions/{session}/observe", json={"strings": ["c"]})
    assert again.status_code == 200
    stm = http.get(f"/sessions/{session}/stm").json()["stm"]
    assert stm == [["a", "b"], ["c"]]


def test_concurrent_observes_on_one_session_lose_nothing(http: httpx.Client) -> None:
    session = http.post("/sessions", json={"node_id": "busy"}).json()["session_id"]

    def observe(number: int) -> int:
        with httpx.Client(base_url=str(http.base_url), timeout=30.0) as client:
            body = {"strings": [f"s{number:02d}"]}
            return client.post(f"/sessions/{session}/observe", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(observe, range(40)))
    assert codes == [200] * 40
    stm = http.get(f"/sessions/{session}/stm").json()["stm"]
    assert sorted(event[0] for event in stm) == [f"s{n:02d}" for n in range(40)]
    learned = http.post(f"/sessions/{session}/learn").json()
    assert learned["pattern_name"].startswith("PTRN|")
