"""Every route of api.md §4 and the global rules of §2, over real HTTP."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from websockets.sync.client import connect

from tests.service.server import KatoServer


def new_session(http: httpx.Client, node_id: str = "routes", **extra: object) -> str:
    response = http.post("/sessions", json={"node_id": node_id, **extra})
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def test_banner(http: httpx.Client) -> None:
    body = http.get("/").json()
    assert list(body) == [
        "service",
        "version",
        "description",
        "docs",
        "health",
        "status",
        "uptime_seconds",
        "architecture",
        "session_support",
    ]
    assert (body["service"], body["version"], body["session_support"]) == (
        "KATO API",
        "3.10.1",
        True,
    )


def test_create_session_options_and_info(http: httpx.Client) -> None:
    r = http.post(
        "/sessions",
        json={
            "node_id": "",
            "metadata": {"a": 1},
            "ttl_seconds": "120",
            "config": {"persistence": 7},
        },
    )
    body = r.json()
    assert (body["node_id"], body["metadata"], body["ttl_seconds"]) == ("", {"a": 1}, 120)
    assert body["session_config"]["persistence"] == 7
    info = http.get(f"/sessions/{body['session_id']}")
    assert info.json()["ttl_seconds"] in (119, 120)
    assert "x-session-id" not in info.headers
    # ttl 0 / null -> SESSION_TTL; metadata null -> {}
    body = http.post("/sessions", json={"node_id": "n", "ttl_seconds": 0, "metadata": None}).json()
    assert (body["ttl_seconds"], body["metadata"]) == (3600, {})


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {},
            [{"type": "missing", "loc": ["body", "node_id"], "msg": "Field required", "input": {}}],
        ),
        (
            {"node_id": 5},
            [
                {
                    "type": "string_type",
                    "loc": ["body", "node_id"],
                    "msg": "Input should be a valid string",
                    "input": 5,
                }
            ],
        ),
        (
            {"node_id": "n", "ttl_seconds": -1},
            [
                {
                    "type": "greater_than_equal",
                    "loc": ["body", "ttl_seconds"],
                    "msg": "Input should be greater than or equal to 0",
                    "input": -1,
                    "ctx": {"ge": 0},
                }
            ],
        ),
    ],
)
def test_create_session_validation(http: httpx.Client, payload: dict, expected: list) -> None:
    r = http.post("/sessions", json=payload)
    assert r.status_code == 422
    assert r.json() == {"detail": expected}


def test_create_rejects_fractional_ttl_and_non_object_config(http: httpx.Client) -> None:
    assert http.post("/sessions", json={"node_id": "n", "ttl_seconds": 1.5}).status_code == 422
    assert http.post("/sessions", json={"node_id": "n", "config": [1]}).status_code == 422
    assert http.post("/sessions", json={"node_id": "n", "metadata": "x"}).status_code == 422


def test_count_exists_delete(http: httpx.Client) -> None:
    sid = new_session(http)
    count = http.get("/sessions/count").json()["active_session_count"]
    assert count >= 1
    assert http.get(f"/sessions/{sid}/exists").text == (
        f'{{"exists":true,"expired":false,"session_id":"{sid}"}}'
    )
    assert http.delete(f"/sessions/{sid}").status_code == 200
    assert http.get("/sessions/count").json()["active_session_count"] == count - 1
    assert http.get(f"/sessions/{sid}/exists").json()["exists"] is False


def test_extend_to_zero_expires_and_non_integer_is_422(http: httpx.Client) -> None:
    sid = new_session(http)
    r = http.post(f"/sessions/{sid}/extend", params={"ttl_seconds": "abc"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "ttl_seconds"]
    assert http.post(f"/sessions/{sid}/extend", params={"ttl_seconds": 0}).status_code == 200
    assert http.get(f"/sessions/{sid}/stm").status_code == 404
    assert http.get(f"/sessions/{sid}/exists").json()["exists"] is False


def test_config_flat_null_and_invalid_wrappers(http: httpx.Client) -> None:
    sid = new_session(http)
    assert http.post(f"/sessions/{sid}/config", json={"recall_threshold": 1}).status_code == 200
    config = http.get(f"/sessions/{sid}/config").json()["config"]
    assert config["recall_threshold"] == 1.0
    assert http.get(f"/sessions/{sid}/config").text.count('"recall_threshold":1.0') == 1
    http.post(
        f"/sessions/{sid}/config", json={"affinity_emotive": "joy", "fuzzy_token_threshold": 0.5}
    )
    config = http.get(f"/sessions/{sid}/config").json()["config"]
    assert list(config).index("fuzzy_token_threshold") == 8
    assert config["affinity_emotive"] == "joy"
    http.post(f"/sessions/{sid}/config", json={"config": {"affinity_emotive": None, "sort": True}})
    config = http.get(f"/sessions/{sid}/config").json()["config"]
    assert "affinity_emotive" not in config and "sort" not in config
    for bad in ({"config": None}, {"config": 3}, {"config": "x"}):
        r = http.post(f"/sessions/{sid}/config", json=bad)
        assert (r.status_code, r.json()) == (
            400,
            {
                "detail": {
                    "error": "Configuration validation failed",
                    "validation_errors": {"config": "Must be an object"},
                }
            },
        )
    assert http.post(f"/sessions/{sid}/config", json=[1, 2]).status_code == 422
    r = http.post(f"/sessions/{sid}/config", json={"persistence": True, "max_predictions": 0})
    assert list(r.json()["detail"]["validation_errors"]) == ["persistence", "max_predictions"]


def test_observe_vectors_and_dimension_error(http: httpx.Client) -> None:
    sid = new_session(http, "vectors-node")
    r = http.post(f"/sessions/{sid}/observe", json={"vectors": [[1, 2, 3]]})
    assert r.status_code == 200
    assert http.get(f"/sessions/{sid}/stm").json()["stm"] == [
        ["VCTR|fe5de4472f7e4d5c9cdd19cadebfa06fe3da8e43"]
    ]
    http.post(f"/sessions/{sid}/observe", json={"strings": ["x"]})
    http.post(f"/sessions/{sid}/learn")  # flushes the vector: the node dimension is now 3
    r = http.post(f"/sessions/{sid}/observe", json={"vectors": [[1, 0, 0, 0]]})
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert list(detail) == [
        "error",
        "message",
        "expected_dimension",
        "actual_dimension",
        "vector_name",
    ]
    assert detail["message"] == "Vector dimension mismatch: expected 3, got 4"
    assert detail["vector_name"].startswith("VCTR|")
    r = http.post(f"/sessions/{sid}/observe", json={"vectors": [[1, 0], [1, 0, 0]]})
    assert r.status_code == 400
    assert r.json()["detail"]["vector_name"] is None
    assert http.get(f"/sessions/{sid}/stm").json()["stm"] == []
    assert http.get(f"/sessions/{sid}/cognition-data").json()["cognition_data"]["time"] == 2


def test_observe_sequence_learning_flags(http: httpx.Client) -> None:
    sid = new_session(http, "sequence-node")
    r = http.post(
        f"/sessions/{sid}/observe-sequence",
        json={
            "observations": [
                {"strings": ["a"], "unique_id": "obs_1"},
                {"strings": ["b"]},
                {"strings": ["c"]},
            ],
            "learn_at_end": True,
        },
    )
    body = r.json()
    assert list(body) == [
        "status",
        "processor_id",
        "observations_processed",
        "initial_stm_length",
        "final_stm_length",
        "results",
        "auto_learned_patterns",
        "final_learned_pattern",
        "isolated",
    ]
    assert body["results"][0] == {
        "status": "okay",
        "sequence_position": 0,
        "stm_length": 1,
        "time": 1,
        "unique_id": "obs_1",
        "auto_learned_pattern": None,
    }
    assert re.fullmatch(r"seq-obs-[0-9a-f]{32}", body["results"][1]["unique_id"])
    assert body["final_learned_pattern"] == "PTRN|" + "b98534b32c1d7489d4ce1a48724aa65aeecbdba9"
    assert body["auto_learned_patterns"] == [body["final_learned_pattern"]]
    assert (body["final_stm_length"], body["isolated"]) == (0, False)
    # learn_after_each with one symbol per STM learns "" (quirk), clear_stm_between isolates
    body = http.post(
        f"/sessions/{sid}/observe-sequence",
        json={
            "observations": [{"strings": ["a"]}, {"strings": ["b"]}],
            "learn_after_each": True,
            "clear_stm_between": True,
        },
    ).json()
    assert body["auto_learned_patterns"] == ["", ""]
    assert body["isolated"] is True
    empty = http.post(f"/sessions/{sid}/observe-sequence", json={"observations": []}).json()
    assert (empty["results"], empty["auto_learned_patterns"], empty["final_learned_pattern"]) == (
        [],
        [],
        None,
    )


def test_observe_sequence_failure_saves_nothing(http: httpx.Client) -> None:
    sid = new_session(http, "rollback-node")
    http.post(f"/sessions/{sid}/observe", json={"vectors": [[1.0, 0.0]]})
    http.post(f"/sessions/{sid}/observe", json={"strings": ["z"]})
    http.post(f"/sessions/{sid}/learn")
    http.post(f"/sessions/{sid}/observe", json={"strings": ["before"]})
    r = http.post(
        f"/sessions/{sid}/observe-sequence",
        json={
            "observations": [{"strings": ["p"]}, {"strings": ["q"]}, {"vectors": [[1, 2, 3]]}],
            "learn_after_each": False,
        },
    )
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert list(detail)[:3] == ["error", "message", "observation_index"]
    assert detail["observation_index"] == 2
    assert http.get(f"/sessions/{sid}/stm").json()["stm"] == [["before"]]


def test_clear_all_and_finalize(http: httpx.Client) -> None:
    sid = new_session(http, "finalize-node")
    for word in ("a", "b"):
        http.post(f"/sessions/{sid}/observe", json={"strings": [word]})
    http.post(f"/sessions/{sid}/learn")
    body = http.post(f"/sessions/{sid}/finalize-training").json()
    assert list(body) == [
        "status",
        "patterns_processed",
        "time_ms",
        "session_id",
        "node_id",
        "message",
    ]
    assert body["patterns_processed"] == 1
    assert body["message"] == (
        f"Computed Shannon entropy and TF vectors for 1 patterns in {body['time_ms']}ms"
    )
    http.post(f"/sessions/{sid}/clear-all")
    assert http.get("/symbols/stats", params={"node_id": "finalize-node"}).json()["symbols"] == {}


def test_cognition_data_shape(http: httpx.Client) -> None:
    sid = new_session(http, "cognition-node")
    http.post(f"/sessions/{sid}/observe", json={"strings": ["b", "a"], "emotives": {"joy": "1.5"}})
    data = http.get(f"/sessions/{sid}/cognition-data").json()["cognition_data"]
    assert data == {
        "predictions": [],
        "emotives": {"joy": 1.5},
        "symbols": ["a", "b"],
        "command": "",
        "metadata": {},
        "path": [],
        "strings": [],
        "vectors": [],
        "short_term_memory": [["a", "b"]],
        "time": 1,
    }


def test_node_resolution_and_deprecated_routes(http: httpx.Client) -> None:
    r = http.get("/percept-data", headers={"x-test-id": "abc", "x-node-id": "ignored"})
    assert r.json() == {
        "percept_data": {},
        "node_id": "test_abc_kato",
        "warning": "This endpoint is deprecated. Use /sessions/{session_id}/percept-data for session-aware data.",
    }
    r = http.get("/cognition-data", params={"node_id": "a.b"}, headers={"x-test-id": "test_x"})
    assert r.json()["node_id"] == "a_b_kato"
    assert r.json()["cognition_data"]["short_term_memory"] == []
    assert (
        http.get("/symbols/stats", headers={"x-test-id": "test_x"}).json()["node_id"]
        == "test_x_kato"
    )
    assert http.get("/symbols/stats").json()["node_id"] == "default_node_kato"
    assert http.get("/symbols/q/affinity").json() == {
        "symbol": "q",
        "affinity": {},
        "node_id": "default_node_kato",
    }
    long_id = http.get("/symbols/affinity", params={"node_id": "x" * 70}).json()["node_id"]
    assert long_id == "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_7d56c0f8_kato"


def test_health_and_status(http: httpx.Client) -> None:
    health = http.get("/health").json()
    assert list(health) == [
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
    ]
    assert health["service_name"] == "kato"
    assert health["metrics_collected"] == 16
    assert health["timestamp"].endswith("+00:00")
    new_session(http, "status-node")
    status = http.get("/status").json()
    assert list(status) == [
        "status",
        "base_processor_id",
        "uptime_seconds",
        "sessions",
        "processors",
        "version",
    ]
    assert status["base_processor_id"] == "kato"
    assert status["sessions"]["backend"] == "memory"
    assert "redis_url" not in status["sessions"]
    assert set(status["processors"]) == {
        "total_processors",
        "max_processors",
        "eviction_ttl_seconds",
        "processors",
    }


def test_monitoring_shapes(http: httpx.Client) -> None:
    concurrency = http.get("/concurrency").json()
    assert list(concurrency) == [
        "status",
        "current",
        "peak",
        "limits",
        "configuration",
        "recommendations",
        "timestamp",
    ]
    assert concurrency["limits"] == {
        "per_worker": 100,
        "warning_threshold": 80,
        "critical_threshold": 95,
        "total_capacity": 100,
    }
    assert concurrency["configuration"] == {
        "workers": 1,
        "backlog": 2048,
        "max_requests": "unlimited",
    }
    cache = http.get("/cache/stats").json()
    assert cache["cache_performance"] == {
        "status": "disabled",
        "reason": "Cache manager not available",
    }
    invalidated = http.post("/cache/invalidate", params={"session_id": "x"}).json()
    assert list(invalidated) == [
        "status",
        "patterns_invalidated",
        "symbols_invalidated",
        "session_id",
        "reason",
        "timestamp",
    ]
    assert http.get("/distributed-stm/stats").json()["status"] == "disabled"
    metrics = http.get("/metrics").json()
    assert list(metrics)[:6] == [
        "timestamp",
        "sessions",
        "performance",
        "resources",
        "databases",
        "rates",
    ]
    assert metrics["error"] is None and metrics["performance"]["total_requests"] > 0
    stats = http.get("/stats", params={"minutes": 5}).json()
    assert stats["time_range_minutes"] == 5
    assert len(stats["time_series"]) == 16
    series = http.get("/metrics/kato_requests_total", params={"minutes": 1}).json()
    assert list(series) == [
        "metric_name",
        "time_range_minutes",
        "timestamp",
        "statistics",
        "data_points",
    ]
    assert series["statistics"]["count"] == len(series["data_points"]) > 0
    r = http.get("/metrics/kato_circuit_breaker_opens", params={"minutes": 3})
    assert (r.status_code, r.json()) == (
        404,
        {
            "detail": "No data available for metric 'kato_circuit_breaker_opens' in the last 3 minutes"
        },
    )
    pools = http.get("/connection-pools").json()
    assert pools["status"] == "healthy" and pools["error"] is None


def test_prometheus_exposition(http: httpx.Client) -> None:
    r = http.get("/metrics/prometheus")
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    for name in (
        "kato_requests_total",
        "kato_sessions_active",
        "kato_errors_total",
        "kato_cpu_usage_percent",
    ):
        assert re.search(rf"^{name} ", r.text, re.MULTILINE), name


def test_routing_rules(http: httpx.Client) -> None:
    r = http.post("/sessions/", json={"node_id": "x"})
    assert (r.status_code, r.headers["location"].endswith("/sessions")) == (307, True)
    assert "x-trace-id" in r.headers
    r = http.get("/nope")
    assert (r.status_code, r.text) == (404, '{"detail":"Not Found"}')
    r = http.put("/health")
    assert (r.status_code, r.text) == (405, '{"detail":"Method Not Allowed"}')
    for old in (
        "/observe",
        "/stm",
        "/learn",
        "/predictions",
        "/clear-all",
        "/genes/update",
        "/sessions/create",
    ):
        method = (
            "POST" if old in ("/observe", "/learn", "/genes/update", "/sessions/create") else "GET"
        )
        assert http.request(method, old).status_code in (404, 405), old


def test_trace_and_session_headers(http: httpx.Client) -> None:
    r = http.get("/health", headers={"X-Trace-ID": "my-trace", "X-Session-ID": "whatever"})
    assert (r.headers["x-trace-id"], r.headers["x-session-id"]) == ("my-trace", "whatever")
    r = http.get("/health", headers={"Cookie": "session_id=from-cookie"})
    assert r.headers["x-session-id"] == "from-cookie"
    r = http.post("/sessions", json={"node_id": "h"}, headers={"X-Session-ID": "nope"})
    assert "x-session-id" not in r.headers
    sid = r.json()["session_id"]
    r = http.post(f"/sessions/{sid}/observe", json={"strings": 1})
    assert (r.status_code, r.headers["x-session-id"]) == (422, sid)


def test_cors_everywhere_including_guard_404(http: httpx.Client) -> None:
    origin = {"Origin": "http://example.com"}
    r = http.get("/sessions/bogus/stm", headers=origin)
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] == "http://example.com"
    assert r.headers["access-control-allow-credentials"] == "true"
    ok = http.get("/health", headers=origin)
    cors = [key for key in ok.headers if key.startswith("access-control")]
    assert {key: r.headers[key] for key in cors} == {key: ok.headers[key] for key in cors}
    preflight = {**origin, "Access-Control-Request-Method": "POST"}
    r = http.options("/sessions/bogus/observe", headers=preflight)
    assert r.status_code == 404 and r.json()["error"]["code"] == "SESSION_NOT_FOUND"
    assert r.headers["access-control-allow-origin"] == "http://example.com"
    r = http.options("/sessions", headers=preflight)
    assert r.status_code == 200
    assert "POST" in r.headers["access-control-allow-methods"]


def test_openapi_and_docs(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/sessions",
        "/sessions/{session_id}/observe",
        "/sessions/{session_id}/observe-sequence",
        "/pattern/{pattern_id}",
        "/metrics/prometheus",
        "/metrics/{metric_name}",
        "/connection-pools",
    ):
        assert path in paths, path
    assert paths["/percept-data"]["get"]["deprecated"] is True
    assert paths["/cognition-data"]["get"]["deprecated"] is True
    observe = paths["/sessions/{session_id}/observe"]["post"]
    assert "ObservationInput" in json.dumps(observe["requestBody"])
    assert "ObservationInput" in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["ObservationInput"]["examples"]
    assert "swagger-ui" in http.get("/docs").text
    assert http.get("/redoc").status_code == 200


def test_websocket_snapshot_ping_and_events(server: KatoServer, http: httpx.Client) -> None:
    url = server.base_url.replace("http://", "ws://") + "/ws/events?token=ignored"
    with connect(url, open_timeout=10) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["event_type"] == "state.snapshot"
        assert set(snapshot["data"]) == {"active_sessions", "system_status"}
        assert "+" not in snapshot["timestamp"]
        ws.send('{"type":"ping"}')
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
        sid = new_session(http, "ws-node")
        created = json.loads(ws.recv(timeout=10))
        assert created["event_type"] == "session.created"
        assert created["data"]["session_id"] == sid and created["data"]["node_id"] == "ws-node"
        http.delete(f"/sessions/{sid}")
        destroyed = json.loads(ws.recv(timeout=10))
        assert destroyed["event_type"] == "session.destroyed"
        assert destroyed["data"]["reason"] == "explicit_delete"
        assert destroyed["timestamp"].endswith("+00:00")
