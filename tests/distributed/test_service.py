"""The service over HTTP with the distributed backend: four `kato serve` workers, real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kato.engine.naming import pattern_name
from tests.distributed import servers
from tests.service.server import KatoServer
from tests.service.test_conformance import test_conformance_transcript

__all__ = ["test_conformance_transcript"]  # api.md §10, here against 4 distributed workers


WORKERS = 4


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
    with KatoServer(data_dir, workers=WORKERS, env=env) as running:
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


def _base(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


def test_one_pattern_learned_by_eight_clients_counts_every_learn(http: httpx.Client) -> None:
    rounds = 5

    def train(client_number: int) -> list[int]:
        # A fresh connection per request spreads the requests over the workers.
        codes = []
        session = httpx.post(
            f"{_base(http)}/sessions", json={"node_id": "shared"}, timeout=30.0
        ).json()["session_id"]
        for _ in range(rounds):
            for symbol in ("hello", "world"):
                codes.append(
                    httpx.post(
                        f"{_base(http)}/sessions/{session}/observe",
                        json={"strings": [symbol]},
                        timeout=30.0,
                    ).status_code
                )
            learned = httpx.post(f"{_base(http)}/sessions/{session}/learn", timeout=30.0)
            codes.append(learned.status_code)
        return codes

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = [code for batch in pool.map(train, range(8)) for code in batch]
    assert codes == [200] * (8 * rounds * 3)
    name = pattern_name([["hello"], ["world"]])
    pattern = http.get(f"/pattern/{name.replace('|', '%7C')}", params={"node_id": "shared"})
    assert pattern.json()["pattern"]["pattern"]["frequency"] == 8 * rounds


def test_a_learn_is_visible_to_the_next_prediction_in_every_worker(http: httpx.Client) -> None:
    learner = http.post("/sessions", json={"node_id": "visible"}).json()["session_id"]
    readers = [
        http.post("/sessions", json={"node_id": "visible"}).json()["session_id"]
        for _ in range(WORKERS * 2)
    ]
    for reader in readers:
        for symbol in ("p", "q"):
            http.post(f"/sessions/{reader}/observe", json={"strings": [symbol]})
    for symbol in ("p", "q", "r"):
        http.post(f"/sessions/{learner}/observe", json={"strings": [symbol]})
    assert http.post(f"/sessions/{learner}/learn").status_code == 200
    for reader in readers:
        # A fresh connection each time, so the requests spread over the workers.
        answer = httpx.get(f"{_base(http)}/sessions/{reader}/predictions", timeout=30.0)
        futures = [p["future"] for p in answer.json()["predictions"]]
        assert futures == [[["r"]]], futures
