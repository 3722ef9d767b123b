"""A real Prometheus scrapes 4 gunicorn workers and finds exactly the traffic that was sent."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.observability.servers import Kato, Prometheus
from tests.observability.traffic import Traffic, drive

OBSERVE = 'route="/sessions/{session_id}/observe"'
LEARN = 'route="/sessions/{session_id}/learn"'
PREDICT = 'route="/sessions/{session_id}/predictions"'

# PromQL -> what the traffic of traffic.drive() adds to it.
EXPECTED_INCREASE = {
    "sum(kato_observations_total)": 37,
    "sum(kato_learns_total)": 5,
    "sum(kato_predictions_total)": 11,
    f'sum(kato_http_requests_total{{{OBSERVE},method="POST",status="200"}})': 37,
    f'sum(kato_http_requests_total{{{LEARN},method="POST",status="200"}})': 5,
    f'sum(kato_http_requests_total{{{PREDICT},method="GET",status="200"}})': 11,
    'sum(kato_http_requests_total{route="/sessions",method="POST",status="200"})': 5,
    'sum(kato_http_requests_total{status="404"})': 3,
    'sum(kato_http_requests_total{route="unmatched"})': 3,
    f"sum(kato_http_request_duration_seconds_count{{{OBSERVE}}})": 37,
    f"sum(kato_http_request_duration_seconds_count{{{PREDICT}}})": 11,
    "sum(kato_prediction_duration_seconds_count)": 11,
    "sum(kato_prediction_candidates_count)": 11,
    "sum(kato_sessions_created_total)": 5,
    'sum(kato_storage_operation_duration_seconds_count{operation="kb.learn"})': 5,
    "sum(kato_storage_errors_total)": 0,
}


def values(prometheus: Prometheus) -> dict[str, float]:
    return {expr: prometheus.value(expr) or 0.0 for expr in EXPECTED_INCREASE}


@pytest.fixture(scope="module")
def driven(kato: Kato, prometheus: Prometheus) -> tuple[Traffic, dict[str, float]]:
    """Baseline after a scrape, then the traffic, then a scrape that saw all of it."""
    prometheus.wait_for_scrape_after(time.time())
    before = values(prometheus)
    traffic = drive(kato.base_url, "counts")
    prometheus.wait_for_scrape_after(time.time())
    return traffic, before


def test_prometheus_sees_exactly_the_requests_sent(
    kato: Kato, prometheus: Prometheus, driven: tuple[Traffic, dict[str, float]]
) -> None:
    traffic, before = driven
    after = values(prometheus)
    increase = {expr: after[expr] - before[expr] for expr in EXPECTED_INCREASE}
    assert increase == {expr: float(n) for expr, n in EXPECTED_INCREASE.items()}
    # The 4 workers shared the traffic, so the sums above really add up several processes.
    pids = {
        entry["pid"]
        for entry in kato.log_entries()
        if entry.get("trace_id") in set(traffic.trace_ids) and entry["logger"] == "kato.access"
    }
    assert len(pids) >= 2, pids


def test_gauges_and_worker_counters(prometheus: Prometheus, driven: object) -> None:
    assert prometheus.value("sum(kato_worker_starts_total)") == 4.0
    assert prometheus.value("sum(kato_worker_exits_total)") in (None, 0.0)
    # The scrape itself is the one request in flight while the values are read.
    assert prometheus.value("sum(kato_http_requests_in_flight)") == 1.0
    assert (prometheus.value("kato_sessions_active") or 0) >= 5
    up = prometheus.query("kato_dependency_up")
    assert up and all(series["value"][1] == "1" for series in up), up
    assert prometheus.value("sum(kato_prediction_candidates_sum)") > 0  # type: ignore[operator]
    # Route labels are templates: no session id, no unknown raw path ever becomes a label.
    assert (
        prometheus.value('count(kato_http_requests_total{route=~".*(session-|no-such).*"})') is None
    )
    assert prometheus.value("kato_knowledge_bases") >= 1  # type: ignore[operator]
    nodes = prometheus.query("kato_knowledge_base_patterns")
    assert 1 <= len(nodes) <= 11
    assert all(len(series["metric"]["node"]) in (16, len("_other")) for series in nodes)


def test_shipped_alert_rules_evaluate_on_the_real_series(prometheus: Prometheus) -> None:
    rules = prometheus.rules()
    assert len(rules) == 9
    deadline = time.monotonic() + 10
    while any(rule["health"] == "unknown" for rule in rules) and time.monotonic() < deadline:
        time.sleep(0.5)
        rules = prometheus.rules()
    assert {rule["name"]: rule["health"] for rule in rules} == {
        rule["name"]: "ok" for rule in rules
    }
    firing = {rule["name"] for rule in rules if rule["state"] == "firing"}
    assert not firing & {"KatoHighErrorRate", "KatoDependencyDown", "KatoTargetDown"}


def test_a_killed_worker_keeps_its_counts_and_loses_its_live_gauge(
    kato: Kato, prometheus: Prometheus, driven: object
) -> None:
    before = values(prometheus)
    master = psutil.Process(kato.proc.pid)
    victim = master.children()[0].pid
    live_file = kato.metrics_dir / f"gauge_livesum_{victim}.db"
    assert live_file.exists()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = master.children()
        if (
            not live_file.exists()
            and len(children) == 4
            and victim not in {c.pid for c in children}
        ):
            break
        time.sleep(0.2)
    assert not live_file.exists(), "the master did not mark the dead worker (child_exit)"
    prometheus.wait_for_scrape_after(time.time())
    assert prometheus.value("sum(kato_worker_exits_total)") == 1.0
    assert prometheus.value("sum(kato_worker_starts_total)") == 5.0
    # Counters of the dead worker are still part of the sums.
    assert values(prometheus) == before
