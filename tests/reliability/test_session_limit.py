"""KATO_MAX_SESSIONS_PER_NODE over real HTTP: two workers share one count, per backend.

Each server runs 2 `kato serve` workers, so creates land in different processes and the
limit can only hold through the shared store's ``count_node``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.distributed import servers
from tests.service.server import KatoServer

LIMIT = 3


def _refusal(node_id: str, live: int) -> dict[str, object]:
    return {
        "detail": [
            {
                "type": "too_many_sessions",
                "loc": ["body", "node_id"],
                "msg": (
                    f"Node already has {live} live sessions, the limit is {LIMIT}: "
                    "delete a session or let one expire"
                ),
                "input": node_id,
                "ctx": {"max_sessions_per_node": LIMIT, "live_sessions": live},
            }
        ]
    }


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KatoServer]:
    env = {"KATO_MAX_SESSIONS_PER_NODE": str(LIMIT)}
    if request.param == "distributed":
        if not servers.available():
            pytest.skip("redis-server/clickhouse-server cannot be run here")
        services = servers.shared()
        services.flush_redis()
        env |= {
            **services.env,
            "KATO_STORAGE": "distributed",
            "CLICKHOUSE_DB": f"{servers.DATABASE}_limit",
            "REQUEST_TIMEOUT": "5",
        }
    data_dir: Path = tmp_path_factory.mktemp(f"session-limit-{request.param}")
    with KatoServer(data_dir, workers=2, env=env) as running:
        yield running


@pytest.fixture
def http(server: KatoServer) -> Iterator[httpx.Client]:
    # A fresh connection per request spreads the creates over both workers.
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=server.base_url, timeout=30.0, limits=limits) as client:
        yield client


def _create(http: httpx.Client, node_id: str, **extra: object) -> httpx.Response:
    return http.post("/sessions", json={"node_id": node_id, **extra})


def test_limit_is_enforced_and_frees_on_delete(http: httpx.Client) -> None:
    node = f"quota-{time.monotonic_ns()}"
    created = []
    for _ in range(LIMIT):
        response = _create(http, node)
        assert response.status_code == 200, response.text
        created.append(response.json()["session_id"])
    before = http.get("/sessions/count").json()["active_session_count"]
    for _ in range(3):  # every worker refuses, and nothing is created
        refused = _create(http, node)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == _refusal(node, LIMIT)
    assert http.get("/sessions/count").json()["active_session_count"] == before
    # Other nodes have their own quota.
    assert _create(http, f"{node}-other").status_code == 200
    assert _create(http, node.upper()).status_code == 200
    # Deleting one session frees one slot, for one create only.
    assert http.delete(f"/sessions/{created[0]}").status_code == 200
    again = _create(http, node)
    assert again.status_code == 200
    assert _create(http, node).json() == _refusal(node, LIMIT)


def test_expired_sessions_free_their_slots(http: httpx.Client) -> None:
    node = f"expiry-{time.monotonic_ns()}"
    for _ in range(LIMIT):
        response = _create(http, node, ttl_seconds=1)
        assert response.status_code == 200, response.text
    assert _create(http, node).json() == _refusal(node, LIMIT)
    time.sleep(1.3)
    for _ in range(LIMIT):
        assert _create(http, node).status_code == 200
    assert _create(http, node).status_code == 422


def test_invalid_bodies_are_validated_by_the_route(http: httpx.Client) -> None:
    """The quota check never hides the route's own 422 for a body without a node id."""
    response = http.post("/sessions", json={"node_id": 5})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "node_id"]
    assert response.json()["detail"][0]["type"] != "too_many_sessions"


def test_store_outage_during_the_check_is_a_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: a count that cannot reach its store answers 503, never a 500 or a create."""
    from fastapi.testclient import TestClient

    from kato.service.app import create_app
    from kato.service.settings import load_settings
    from kato.storage.ports import StorageUnavailableError

    monkeypatch.setenv("KATO_STORAGE", "embedded")
    monkeypatch.setenv("KATO_DATA_DIR", str(tmp_path))
    app = create_app(load_settings(kato_max_sessions_per_node=LIMIT))
    with TestClient(app, raise_server_exceptions=False) as client:

        def unreachable(node_id: str) -> int:
            raise StorageUnavailableError("redis", "ConnectionError: refused")

        app.state.kato.backend.sessions.count_node = unreachable
        response = client.post("/sessions", json={"node_id": "n"})
        assert response.status_code == 503
        assert response.json()["detail"] == "Storage unavailable: redis"
        assert client.get("/sessions/count").json()["active_session_count"] == 0
