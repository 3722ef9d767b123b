"""Optional API-key authentication over real HTTP (docs/security.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.service.server import REPO_ROOT, KatoServer

ADMIN = "admin-key-0123456789abcdef"
TENANT = "tenant-key-0123456789abcdef"  # nodes node-a and node-b only
FILE_KEY = "file-key-0123456789abcdefgh"  # from the key file, node-f only
FILE_ADMIN = "file-admin-0123456789abcdef"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    path.write_text(f"# tenant keys\n\n{FILE_KEY}: node-f\n  {FILE_ADMIN}  \n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> Iterator[KatoServer]:
    env = {
        "KATO_API_KEYS": f"{ADMIN}, {TENANT}:node-a|node-b",
        "KATO_API_KEYS_FILE": str(key_file),
        "LOG_LEVEL": "DEBUG",
    }
    with KatoServer(tmp_path_factory.mktemp("auth"), env=env) as running:
        yield running


@pytest.fixture
def http(server: KatoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        yield client


def session_for(http: httpx.Client, node_id: str, key: str = ADMIN) -> str:
    r = http.post("/sessions", json={"node_id": node_id}, headers=bearer(key))
    assert r.status_code == 200, r.text
    return str(r.json()["session_id"])


def session_count(http: httpx.Client) -> int:
    return int(http.get("/sessions/count", headers=bearer(ADMIN)).json()["active_session_count"])


def test_open_routes_need_no_key(http: httpx.Client) -> None:
    assert http.get("/health").status_code == 200
    assert http.get("/openapi.json").json()["info"]["title"] == "KATO API"
    assert http.get("/docs").status_code == 200
    assert http.get("/redoc").status_code == 200


def test_missing_key_is_401_with_challenge(http: httpx.Client) -> None:
    for method, path in [("GET", "/"), ("POST", "/sessions"), ("GET", "/status"), ("GET", "/x")]:
        r = http.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.json() == {
            "detail": "Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        }
        assert r.headers["www-authenticate"] == 'Bearer realm="kato"'
        assert r.headers["x-trace-id"].startswith("kato-")
        assert r.headers["content-type"] == "application/json"
    # A session path is refused before the guard: no way to probe session existence.
    assert http.get("/sessions/nope/stm").status_code == 401
    # Only the Bearer scheme carries a key.
    assert http.get("/", headers={"Authorization": f"Basic {ADMIN}"}).status_code == 401


def test_wrong_key_is_401_invalid_token(http: httpx.Client) -> None:
    for headers in (bearer("wrong-key-0123456789abcdef"), {"X-API-Key": ADMIN + "x"}):
        r = http.get("/", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"detail": "Invalid API key"}
        assert r.headers["www-authenticate"] == 'Bearer realm="kato", error="invalid_token"'
    # A query token is for the WebSocket only.
    assert http.get("/", params={"token": ADMIN}).status_code == 401


def test_both_headers_and_both_sources_accepted(http: httpx.Client) -> None:
    for headers in (
        bearer(ADMIN),
        {"authorization": f"bearer   {ADMIN}"},
        {"X-API-Key": ADMIN},
        bearer(FILE_ADMIN),
    ):
        r = http.get("/", headers=headers)
        assert r.status_code == 200, headers
        assert r.json()["service"] == "KATO API"


def test_node_limited_key_on_create_session(http: httpx.Client) -> None:
    before = session_count(http)
    r = http.post("/sessions", json={"node_id": "node-a"}, headers=bearer(TENANT))
    assert r.status_code == 200
    assert r.json()["node_id"] == "node-a"
    r = http.post("/sessions", json={"node_id": "node-c"}, headers={"X-API-Key": TENANT})
    assert r.status_code == 403
    assert r.json() == {"detail": "This API key is not allowed for node 'node-c'"}
    assert r.headers["www-authenticate"] == 'Bearer realm="kato", error="insufficient_scope"'
    assert session_count(http) == before + 1  # the refused create created nothing
    # A body without a usable node id still gets the route's own 422.
    r = http.post("/sessions", json={"node_id": 5}, headers=bearer(TENANT))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "node_id"]
    r = http.post("/sessions", json={"node_id": "node-f"}, headers=bearer(FILE_KEY))
    assert r.status_code == 200
    assert (
        http.post("/sessions", json={"node_id": "node-a"}, headers=bearer(FILE_KEY)).status_code
        == 403
    )


def test_node_limited_key_on_session_routes(http: httpx.Client) -> None:
    own = session_for(http, "node-b", TENANT)
    foreign = session_for(http, "node-c")
    r = http.post(f"/sessions/{own}/observe", json={"strings": ["a"]}, headers=bearer(TENANT))
    assert (r.status_code, r.json()["processor_id"]) == (200, "node-b")
    assert http.get(f"/sessions/{own}", headers=bearer(TENANT)).status_code == 200
    stm_before = http.get(f"/sessions/{foreign}/stm", headers=bearer(ADMIN)).json()
    for method, path in [
        ("POST", f"/sessions/{foreign}/observe"),
        ("GET", f"/sessions/{foreign}/stm"),
        ("GET", f"/sessions/{foreign}"),
        ("GET", f"/sessions/{foreign}/exists"),
        ("DELETE", f"/sessions/{foreign}"),
    ]:
        r = http.request(method, path, json={"strings": ["x"]}, headers=bearer(TENANT))
        assert r.status_code == 403, (method, path)
        assert r.json() == {"detail": "This API key is not allowed for the node of this session"}
    assert http.get(f"/sessions/{foreign}/stm", headers=bearer(ADMIN)).json() == stm_before
    # Unknown sessions still answer the contract's 404s.
    r = http.get("/sessions/bogus/stm", headers=bearer(TENANT))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "SESSION_NOT_FOUND"
    assert http.get("/sessions/bogus/exists", headers=bearer(TENANT)).json()["exists"] is False


def test_node_limited_key_on_node_scoped_routes(http: httpx.Client) -> None:
    ok = [
        ("/symbols/stats", {"node_id": "node-a"}, {}),
        ("/symbols/affinity", {}, {"x-node-id": "node-b"}),
        ("/pattern/PTRN%7Cabc", {"node_id": "node-a"}, {"x-node-id": "node-c"}),
        ("/percept-data", {}, {"x-node-id": "node-a"}),
    ]
    for path, params, headers in ok:
        r = http.get(path, params=params, headers={**headers, **bearer(TENANT)})
        assert r.status_code == 200, (path, r.text)
    refused = [
        ("/symbols/stats", {"node_id": "node-c"}, {}, "node-c"),
        ("/symbols/x/affinity", {}, {}, "default_node"),
        ("/cognition-data", {}, {"x-test-id": "node-a", "x-node-id": "node-a"}, "test_node-a"),
        ("/symbols/affinity", {}, {"x-node-id": "node-c"}, "node-c"),
    ]
    for path, params, headers, node in refused:
        r = http.get(path, params=params, headers={**headers, **bearer(TENANT)})
        assert r.status_code == 403, path
        assert r.json() == {"detail": f"This API key is not allowed for node {node!r}"}
    r = http.get("/symbols/stats", params={"node_id": "node-c"}, headers=bearer(ADMIN))
    assert r.status_code == 200


def test_service_wide_routes_need_an_unrestricted_key(http: httpx.Client) -> None:
    for path in ("/status", "/sessions/count", "/metrics", "/metrics/prometheus", "/concurrency"):
        r = http.get(path, headers=bearer(TENANT))
        assert r.status_code == 403, path
        assert "service-wide" in r.json()["detail"]
        assert http.get(path, headers=bearer(ADMIN)).status_code == 200, path
    assert http.get("/metrics/prometheus").status_code == 401
    # The banner is allowed to every valid key.
    assert http.get("/", headers=bearer(TENANT)).status_code == 200


def test_cors_preflight_is_open_and_401_carries_cors(http: httpx.Client) -> None:
    origin = {"Origin": "https://app.example"}
    r = http.options(
        "/sessions",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = http.get("/status", headers=origin)
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == "https://app.example"


def ws_url(server: KatoServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws/events{query}"


def test_websocket_keys(server: KatoServer) -> None:
    for url, headers in [
        (ws_url(server, f"?token={ADMIN}"), {}),
        (ws_url(server), {"X-API-Key": ADMIN}),
        (ws_url(server), bearer(FILE_ADMIN)),
    ]:
        with connect(url, additional_headers=headers, open_timeout=10) as ws:
            first = json.loads(ws.recv(timeout=10))
            assert first["event_type"] == "state.snapshot"
            ws.send("ping")
            assert ws.recv(timeout=10) == "pong"
    refusals: list[tuple[str, dict[str, str], int, str]] = [
        (ws_url(server), {}, 401, "Missing API key"),
        (ws_url(server, "?token=nope-0123456789abcdef"), {}, 401, "Invalid API key"),
        (ws_url(server, f"?token={TENANT}"), {}, 403, "service-wide"),
    ]
    for url, headers, status, text in refusals:
        with pytest.raises(InvalidStatus) as failure:
            connect(url, additional_headers=headers, open_timeout=10)
        assert failure.value.response.status_code == status
        assert text in failure.value.response.body.decode()


def test_keys_never_logged(server: KatoServer, http: httpx.Client) -> None:
    with connect(ws_url(server, f"?token={ADMIN}"), open_timeout=10) as ws:
        ws.recv(timeout=10)
    http.get("/", headers=bearer("some-wrong-key-0123456789"))
    http.get("/status", headers=bearer(TENANT))
    log = server.log()
    assert "auth: 403 GET /status (KATO_API_KEYS entry 2)" in log
    for secret in (ADMIN, TENANT, FILE_KEY, FILE_ADMIN, "some-wrong-key-0123456789"):
        assert secret not in log


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KATO_API_KEYS": "short"}, "KATO_API_KEYS: entry 1: a key needs at least 16 characters"),
        (
            {"KATO_API_KEYS": f"{ADMIN}:node-a|"},
            "KATO_API_KEYS: entry 1: empty node id in the node list after ':'",
        ),
        ({"KATO_API_KEYS": f"{ADMIN},{ADMIN}"}, "KATO_API_KEYS: the same key is configured twice"),
        (
            {"KATO_API_KEYS_FILE": "/nonexistent/keys"},
            "KATO_API_KEYS_FILE: cannot read the key file",
        ),
    ],
)
def test_bad_key_configuration_refuses_to_start(env: dict[str, str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kato.cli", "serve", "--port", "1"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert ADMIN not in result.stderr


def test_public_prometheus_setting(tmp_path: Path, key_file: Path) -> None:
    env = {"KATO_API_KEYS_FILE": str(key_file), "KATO_AUTH_PUBLIC_METRICS": "true"}
    with KatoServer(tmp_path, env=env) as running, httpx.Client(base_url=running.base_url) as http:
        r = http.get("/metrics/prometheus")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert http.get("/metrics").status_code == 401  # only the exposition is opened


def test_authentication_is_off_by_default(tmp_path: Path) -> None:
    with KatoServer(tmp_path) as running, httpx.Client(base_url=running.base_url) as http:
        sid = http.post("/sessions", json={"node_id": "anything"}).json()["session_id"]
        assert http.post(f"/sessions/{sid}/observe", json={"strings": ["a"]}).status_code == 200
        assert http.get("/status").status_code == 200
        r = http.get("/", headers=bearer("whatever-0123456789abcdef"))  # a key is simply ignored
        assert r.status_code == 200
        with connect(f"ws://127.0.0.1:{running.port}/ws/events", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["event_type"] == "state.snapshot"
