"""Every metric the dashboard and the alert rules query is one the service really serves."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.test_monitoring import (
    EXTERNAL_METRICS,
    dashboard_exprs,
    documented_metrics,
    metric_names,
    rule_exprs,
)
from tests.observability.servers import Kato
from tests.observability.traffic import drive

# Served only where the backend has pools (distributed); this suite runs the embedded backend.
POOL_ONLY = {"kato_connection_pool_connections", "kato_connection_pool_max_connections"}
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def scrape(kato: Kato) -> tuple[str, set[str]]:
    response = httpx.get(f"{kato.base_url}/metrics/prometheus", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == PROMETHEUS_TEXT
    samples = {
        sample.name
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, samples


def base(name: str) -> str:
    return re.sub(r"_(bucket|sum|count|total)$", "", name)


def test_dashboard_and_rule_metrics_are_exported(kato: Kato) -> None:
    drive(kato.base_url, "names")
    _, exported = scrape(kato)
    used = {n for e in rule_exprs() + dashboard_exprs() for n in metric_names(e)} - EXTERNAL_METRICS
    assert used, "no metric names found in the dashboard and rules"
    missing = {name for name in used if name not in exported and base(name) not in POOL_ONLY}
    assert missing == set()
    # Histograms are queried through their series; the bare histogram name is not a series.
    assert {"kato_http_request_duration_seconds_bucket", "kato_worker_starts_total"} <= exported


def test_every_documented_metric_is_exported(kato: Kato) -> None:
    _, exported = scrape(kato)
    exported_bases = {base(name) for name in exported}
    missing = {base(name) for name in documented_metrics()} - exported_bases - POOL_ONLY
    assert missing == set()


def test_exposition_is_bounded_and_typed(kato: Kato) -> None:
    text, exported = scrape(kato)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["kato_http_request_duration_seconds"].type == "histogram"
    assert families["kato_http_requests_in_flight"].type == "gauge"
    assert families["kato_http_requests"].type == "counter"
    routes = {
        s.labels["route"] for s in families["kato_http_requests"].samples if "route" in s.labels
    }
    assert "unmatched" in routes
    assert all(r == "unmatched" or (r.startswith("/") and "session-" not in r) for r in routes)
    # api.md §5.9 names stay for existing consumers.
    for name in ("kato_requests_total", "kato_errors_total", "kato_cpu_usage_percent"):
        assert re.search(rf"^{name} ", text, re.MULTILINE), name
    assert "kato_sessions_active" in exported
