"""In-process checks: route labels, bounded node labels, session ages, pools, log formats."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from kato.service import monitoring
from kato.service.access_log import route_template
from kato.service.app import create_app
from kato.service.logging_setup import HumanFormatter, JsonFormatter, configure_logging
from kato.service.metrics import process_metrics
from kato.service.prometheus import OTHER_NODES, bounded
from kato.service.settings import load_settings
from kato.service.storage_metrics import pool_readings, session_age_seconds
from kato.storage.memory import MemoryBackend


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("SESSION_COUNT_CACHE_TTL_SECONDS", "0")
    return TestClient(create_app(load_settings(), backend=MemoryBackend()))


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics/prometheus").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


@pytest.mark.parametrize(
    ("method", "path", "label"),
    [
        ("POST", "/sessions/abc/observe", "/sessions/{session_id}/observe"),
        ("GET", "/sessions/count", "/sessions/count"),
        ("GET", "/sessions/abc", "/sessions/{session_id}"),
        ("DELETE", "/health", "/health"),  # 405: the path is known
        ("GET", "/nothing/here", "unmatched"),
        ("GET", "/sessions/abc/../../etc/passwd", "unmatched"),
    ],
)
def test_route_label_is_a_template(client: TestClient, method: str, path: str, label: str) -> None:
    scope = {"type": "http", "method": method, "path": path, "app": client.app}
    assert route_template(scope) == label


def test_plain_registry_counts_one_process(client: TestClient) -> None:
    with client:
        before = scrape(client)
        session_id = client.post("/sessions", json={"node_id": "unit"}).json()["session_id"]
        client.post(f"/sessions/{session_id}/observe", json={"strings": ["a", "b"]})
        client.post(f"/sessions/{session_id}/observe", json={"strings": ["c"]})
        client.post(f"/sessions/{session_id}/learn")
        client.get(f"/sessions/{session_id}/predictions")
        client.post("/sessions/session-0-1/observe", json={"strings": ["a"]})  # guard 404
        client.delete(f"/sessions/{session_id}")
        after = scrape(client)
    observe = (
        "kato_http_requests_total",
        (("method", "POST"), ("route", "/sessions/{session_id}/observe"), ("status", "200")),
    )
    guarded = (observe[0], (*observe[1][:2], ("status", "404")))
    expected = {
        observe: 2.0,
        guarded: 1.0,
        ("kato_observations_total", ()): 2.0,
        ("kato_learns_total", ()): 1.0,
        ("kato_predictions_total", ()): 1.0,
        ("kato_prediction_candidates_count", ()): 1.0,
        ("kato_sessions_created_total", ()): 1.0,
        ("kato_sessions_deleted_total", ()): 1.0,
        ("kato_session_duration_seconds_count", ()): 1.0,
    }
    assert {key: after.get(key, 0.0) - before.get(key, 0.0) for key in expected} == expected
    assert after[("kato_http_requests_in_flight", ())] == 1.0  # the scrape
    assert after[("kato_dependency_up", (("dependency", "memory"),))] == 1.0
    assert ("kato_worker_exits_total", ()) not in after  # no gunicorn master here
    assert after[("kato_requests_total", ())] >= 7  # api.md §5.9 name, same counter


def test_node_labels_are_bounded() -> None:
    sizes = [(f"{i:016x}", 100 - i) for i in range(25)]
    labelled = bounded(sizes)
    assert len(labelled) == 11
    assert labelled[:10] == sizes[:10]
    assert labelled[10] == (OTHER_NODES, sum(n for _, n in sizes[10:]))
    assert bounded(sizes[:3]) == sizes[:3]


def test_session_age_from_the_id() -> None:
    assert session_age_seconds(f"session-{'a' * 32}-1000000", 1060.5) == 60.5
    assert session_age_seconds("custom-id", 1.0) is None
    assert session_age_seconds(f"session-{'a' * 32}-9999999999999", 1.0) is None


def test_pool_readings_of_a_distributed_like_backend() -> None:
    import redis

    pool = redis.BlockingConnectionPool(max_connections=7)
    idle = SimpleNamespace(qsize=lambda: 2)
    backend = SimpleNamespace(
        redis=SimpleNamespace(connection_pool=pool),
        clickhouse=SimpleNamespace(_created=5, _idle=idle, _size=8),
    )
    assert pool_readings(backend) == {"redis": (0, 0, 7), "clickhouse": (3, 2, 8)}  # type: ignore[arg-type]
    assert pool_readings(SimpleNamespace()) == {}  # type: ignore[arg-type]


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("kato.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_and_human_formats_redact_credentials() -> None:
    record = _record(trace_id="t-9", route="/x", api_key="k-123", node_id="a b")
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["message"], entry["trace_id"], entry["api_key"]) == ("GET /x", "t-9", "***")
    url = logging.LogRecord("kato", logging.WARNING, __file__, 1, "%s", ("redis://u:pw@h:1",), None)
    assert "pw" not in JsonFormatter().format(url)
    human = HumanFormatter().format(record)
    assert human.endswith('GET /x trace_id=t-9 route=/x node_id="a b"')
    assert "k-123" not in human


def test_log_output_file_and_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "kato.log"
    monkeypatch.setenv("LOG_OUTPUT", str(target))
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    configure_logging(load_settings())
    try:
        logging.getLogger("kato.access").info("dropped")
        logging.getLogger("kato.service").warning("kept")
        for handler in logging.getLogger("kato").handlers:
            handler.flush()
        lines = target.read_text().splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["kept"]
    finally:
        monkeypatch.setenv("LOG_OUTPUT", "stderr")
        monkeypatch.setenv("LOG_LEVEL", "INFO")
        configure_logging(load_settings())


def test_one_metrics_object_per_process() -> None:
    assert process_metrics() is process_metrics()


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock(1_000_000.0)
    monkeypatch.setattr(monitoring, "time", clock)
    return clock


def test_rate_windows_stay_bounded_when_nobody_reads_them(clock: _Clock) -> None:
    recorder = monitoring.Monitoring(process_metrics())
    for _ in range(500):
        recorder.request_finished("POST", 500, 0.001)
        recorder.observed(3)
        recorder.predicted()
    clock.now += 61.0  # past the 60 s window: the next record drops everything older
    recorder.request_finished("POST", 500, 0.001)
    recorder.observed(3)
    recorder.predicted()
    windows = (
        recorder._recent_requests,
        recorder._recent_errors,
        recorder._recent_observations,
        recorder._recent_predictions,
    )
    assert [len(window) for window in windows] == [1, 1, 3, 1]
    assert recorder.rates()["requests_per_minute"] == 1.0


def test_stm_summary_counts_live_sessions_and_forgets_expired_ones(clock: _Clock) -> None:
    recorder = monitoring.Monitoring(process_metrics())
    recorder.session_saved("old", "node-a", 4, expires_at=clock.now + 10)
    recorder.session_saved("live", "node-b", 2, expires_at=clock.now + 3600)
    clock.now += 20.0
    assert recorder.stm_summary() == {
        "nodes_with_sessions": 1,
        "average_stm_size": 2.0,
        "total_stm_events": 2,
    }
    # Without a summary read, saving past the prune floor drops the expired entries.
    for number in range(monitoring._STM_SIZES_PRUNE_FLOOR + 10):
        recorder.session_saved(f"s{number}", "node-c", 1, expires_at=clock.now + 1)
        clock.now += 2.0
    assert len(recorder._stm_sizes) < monitoring._STM_SIZES_PRUNE_FLOOR


def test_stm_summary_follows_extended_and_slid_expiries(client: TestClient) -> None:
    monitoring_of_app = client.app.state.kato.monitoring  # type: ignore[attr-defined]
    session_id = client.post("/sessions", json={"node_id": "summary", "ttl_seconds": 60}).json()[
        "session_id"
    ]
    assert (
        client.post(f"/sessions/{session_id}/observe", json={"strings": ["a"]}).status_code == 200
    )
    observed_expiry = monitoring_of_app._stm_sizes[session_id][2]
    assert client.post(f"/sessions/{session_id}/extend?ttl_seconds=7200").status_code == 200
    extended_expiry = monitoring_of_app._stm_sizes[session_id][2]
    assert extended_expiry - observed_expiry > 7000  # remembered without another observe
    time.sleep(0.01)
    assert client.get(f"/sessions/{session_id}/stm").status_code == 200  # slid by the guard
    assert monitoring_of_app._stm_sizes[session_id][2] > extended_expiry
    assert monitoring_of_app.stm_summary()["total_stm_events"] == 1
