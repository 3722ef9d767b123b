"""Prometheus configuration, alert rules (promtool) and the provisioned Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.procs import REPO

PROMETHEUS = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
DOCS = REPO / "docs" / "deployment.md"
EXTERNAL_METRICS = {
    "up",
    "nginx_ingress_controller_requests",
    "kube_pod_container_status_restarts_total",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-deploy-deps.sh")], check=True, timeout=900
        )
        found = shutil.which("promtool")
    assert found is not None
    return found


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def documented_metrics() -> set[str]:
    text = DOCS.read_text()
    section = text.split("### Metric names the service must export", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(kato_[a-z_]+)`", section, re.M))


def documented_external_metrics() -> set[str]:
    text = DOCS.read_text()
    section = text.split("### Metrics from other exporters", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)`", section, re.M))


def metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression (label matchers, groupings and strings removed)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text))
    keywords = {"and", "or", "unless", "bool", "offset", "e"}
    return {n for n in names if n not in keywords and not n.startswith("$")}


def base_name(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name)


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "kato.json").read_text())


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def test_promtool_checks_config_and_rules(promtool: str, tmp_path: Path) -> None:
    # promtool reads the bearer credentials file, which the stack mounts as a secret.
    credentials = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"][0][
        "authorization"
    ]["credentials_file"]
    assert credentials == "/run/secrets/kato_metrics_key"
    shutil.copy(PROMETHEUS / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    key = tmp_path / "kato_metrics_key"
    key.write_text("production-admin-key-0001\n")
    text = (tmp_path / "prometheus.yml").read_text().replace(credentials, str(key))
    (tmp_path / "prometheus.yml").write_text(text)
    config = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS: 1 rule files found" in config.stdout + config.stderr
    rules = run([promtool, "check", "rules", "alerts.yml"])
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout + rules.stderr


def test_alert_rules_fire_on_synthetic_series(promtool: str) -> None:
    result = run([promtool, "test", "rules", "alerts.test.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(kato_x[5m])\n"
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0


def test_rules_and_dashboard_use_only_documented_metrics() -> None:
    documented = documented_metrics()
    assert len(documented) >= 14
    external = documented_external_metrics()
    assert external == EXTERNAL_METRICS
    used = {base_name(n) for e in rule_exprs() + dashboard_exprs() for n in metric_names(e)}
    assert used - documented - external == set()
    # Every documented metric is shown or alerted on somewhere.
    assert documented - used == set()
    for required in (
        "kato_http_requests_total",
        "kato_http_request_duration_seconds",
        "kato_dependency_up",
        "kato_worker_exits_total",
    ):
        assert required in used


def test_alert_coverage() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {
        "KatoHighErrorRate",
        "KatoHighP99Latency",
        "KatoDependencyDown",
        "KatoWorkerRestarts",
        "KatoRateLimitRejections",
    } <= names
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]


def test_scrape_config_matches_the_service_and_compose() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "kato")
    assert job["metrics_path"] == "/metrics/prometheus"
    host, port = job["static_configs"][0]["targets"][0].split(":")
    compose = yaml.safe_load((REPO / "docker-compose.production.yml").read_text())
    assert host in compose["services"]
    assert port in compose["services"][host]["expose"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert config["rule_files"] == ["alerts.yml"]


def test_grafana_provisioning_and_dashboard() -> None:
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    ds = datasource["datasources"][0]
    assert (ds["type"], ds["url"]) == ("prometheus", "http://prometheus:9090")
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "kato.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((REPO / "docker-compose.production.yml").read_text())
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]
    board = dashboard()
    assert board["uid"] == "kato-overview"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in board["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == ds["uid"]
            assert p["targets"]
            for t in p["targets"]:
                assert t["datasource"]["uid"] == ds["uid"]
                assert t["expr"].count("(") == t["expr"].count(")")
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, p["title"]
                cells.add((x, y))
