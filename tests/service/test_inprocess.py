"""Fast in-process tests (TestClient on the memory backend): settings, TTL, failure bodies."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from kato.service.app import create_app
from kato.service.routes_health import mask_url_credentials
from kato.service.sessions import guarded_session_id
from kato.service.settings import Settings, SettingsError, load_settings
from kato.storage.memory import MemoryBackend
from kato.storage.ports import NodeHandle, StorageUnavailableError


def client(**settings: object) -> TestClient:
    app = create_app(load_settings(**settings), MemoryBackend())
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def api() -> Iterator[TestClient]:
    with client(session_count_cache_ttl_seconds=0) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("raw", "value"), [("on", True), ("OFF", False), ("1", True), ("no", False)]
)
def test_boolean_environment_values(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("sort_symbols", raw)
    assert load_settings().default_config.sort_symbols is value


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("PERSISTENCE", "0", "PERSISTENCE: Must be an integer between 1 and 100"),
        ("rank_sort_algo", "best", "RANK_SORT_ALGO: Must be one of: potential,"),
        ("INDEXER_TYPE", "X", "INDEXER_TYPE: Must be one of: VI, LSH, ANNOY, FAISS"),
        ("SESSION_TTL", "59", "SESSION_TTL"),
        ("SORT_SYMBOLS", "maybe", "SORT_SYMBOLS"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
    ],
)
def test_invalid_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, message: str
) -> None:
    monkeypatch.setenv(variable, raw)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_environment_defaults_reach_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECALL_THRESHOLD", "0.3")
    monkeypatch.setenv("stm_mode", "rolling")
    monkeypatch.setenv("SESSION_TTL", "120")
    monkeypatch.setenv("SERVICE_NAME", "alt-svc")
    with client() as api:
        body = api.post("/sessions", json={"node_id": "n"}).json()
        assert body["ttl_seconds"] == 120
        assert body["session_config"]["recall_threshold"] == 0.3
        assert body["session_config"]["stm_mode"] == "ROLLING"
        assert (
            api.get("/symbols/stats", params={"node_id": "a-b"}).json()["node_id"] == "a_b_alt_svc"
        )
        assert api.get("/health").json()["service_name"] == "alt-svc"


def test_guard_path_rules() -> None:
    assert guarded_session_id("GET", "/sessions/S/stm") == "S"
    assert guarded_session_id("GET", "/sessions/S") is None
    assert guarded_session_id("DELETE", "/sessions/S") == "S"
    assert guarded_session_id("GET", "/sessions/count") is None
    assert guarded_session_id("POST", "/sessions/count") == "count"
    assert guarded_session_id("GET", "/sessions/S/exists") is None
    assert guarded_session_id("POST", "/sessions/S/exists") == "S"
    assert guarded_session_id("POST", "/sessions/") is None
    assert guarded_session_id("GET", "/health") is None


def test_redis_url_credentials_masked() -> None:
    assert mask_url_credentials("redis://user:secret@redis:6379/0") == "redis://***@redis:6379/0"
    assert mask_url_credentials("rediss://:pw@h/1") == "rediss://***@h/1"
    assert mask_url_credentials("redis://redis:6379/0") == "redis://redis:6379/0"


def test_ttl_expiry_and_exists(api: TestClient) -> None:
    sid = api.post("/sessions", json={"node_id": "n", "ttl_seconds": 1}).json()["session_id"]
    time.sleep(1.1)
    assert api.get(f"/sessions/{sid}/exists").json() == {
        "exists": False,
        "expired": True,
        "session_id": sid,
    }
    assert api.get(f"/sessions/{sid}/stm").status_code == 404


def test_sliding_window_and_fixed_window() -> None:
    with client(session_auto_extend=True) as api:
        sid = api.post("/sessions", json={"node_id": "n", "ttl_seconds": 2}).json()["session_id"]
        for _ in range(3):
            time.sleep(0.8)
            assert api.get(f"/sessions/{sid}/stm").status_code == 200
    with client(session_auto_extend=False) as api:
        sid = api.post("/sessions", json={"node_id": "n", "ttl_seconds": 1}).json()["session_id"]
        time.sleep(0.6)
        assert api.get(f"/sessions/{sid}/stm").status_code == 200
        time.sleep(0.6)
        assert api.get(f"/sessions/{sid}/stm").status_code == 404


class BrokenBackend(MemoryBackend):
    """Node stores fail: storage outage or an unexpected bug."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def node(self, node_key: str) -> NodeHandle:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (StorageUnavailableError("sqlite", "disk gone"), 503, "Storage unavailable: sqlite"),
        (RuntimeError("boom"), 500, "Internal Server Error"),
    ],
)
def test_server_failures_are_json_with_trace_id(error: Exception, status: int, detail: str) -> None:
    app = create_app(Settings(), BrokenBackend(error))
    with TestClient(app, raise_server_exceptions=False) as api:
        sid = api.post("/sessions", json={"node_id": "n"}).json()["session_id"]
        r = api.post(
            f"/sessions/{sid}/observe",
            json={"strings": ["a"]},
            headers={"Origin": "http://x", "X-Trace-ID": "t-1"},
        )
        assert (r.status_code, r.json()) == (status, {"detail": detail, "trace_id": "t-1"})
        assert r.headers["x-trace-id"] == "t-1"
        assert r.headers["access-control-allow-origin"] == "http://x"
        assert api.get(f"/sessions/{sid}/stm").json()["stm"] == []
        r = api.get("/pattern/x", params={"node_id": "n"})
        assert r.status_code == status
        if status == 500:
            assert r.json()["detail"] == "Pattern retrieval failed: boom"
        health = api.get("/health")
        assert health.status_code == 200


def test_identical_bodies_for_identical_sequences() -> None:
    def run() -> list[str]:
        with client() as api:
            sid = api.post("/sessions", json={"node_id": "d"}).json()["session_id"]
            out = []
            for words in (["a", "b", "c"], ["a", "b", "d"], ["a", "b"]):
                for word in words:
                    api.post(
                        f"/sessions/{sid}/observe", json={"strings": [word], "emotives": {"e": 0.1}}
                    )
                if len(words) == 3:
                    out.append(api.post(f"/sessions/{sid}/learn").text.replace(sid, "S"))
            out.append(api.get(f"/sessions/{sid}/predictions").text.replace(sid, "S"))
            return out

    assert run() == run()
