"""A gunicorn-served KATO and a real Prometheus scraping it, for the observability tests."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.deploy.procs import REPO, VENV_BIN, Proc, free_port, wait_http

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERT_RULES = REPO / "deploy" / "prometheus" / "alerts.yml"


@dataclass
class Kato:
    proc: Proc
    base_url: str
    metrics_dir: Path

    def log_entries(self) -> list[dict[str, Any]]:
        """Every JSON line the service wrote to stdout (LOG_FORMAT=json)."""
        out, _ = self.proc.output()
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def start_kato(base: Path, workers: int = 4) -> Kato:
    """``gunicorn -c python:kato.gunicorn_conf kato.service.app:app`` on a free loopback port."""
    port = free_port()
    metrics_dir = base / "prometheus-multiproc"
    metrics_dir.mkdir(parents=True)
    proc = Proc(
        [str(VENV_BIN / "gunicorn"), "-c", "python:kato.gunicorn_conf", "kato.service.app:app"],
        base / "logs",
        "kato",
        env={
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_ACCESS_LOG": "off",  # the service writes its own access line
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "KATO_DATA_DIR": str(base / "data"),
            "LOG_FORMAT": "json",
            "LOG_OUTPUT": "stdout",
            "SESSION_COUNT_CACHE_TTL_SECONDS": "0",
        },
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(proc, f"{base_url}/health", timeout=90)
    except BaseException:
        proc.stop()
        raise
    return Kato(proc, base_url, metrics_dir)


@dataclass
class Prometheus:
    proc: Proc
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of a query (None when it returns no series)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for_scrape_after(self, moment: float, timeout: float = 30.0) -> None:
        """Wait until a successful scrape of the kato job started after ``moment`` (epoch s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = self.query('up{job="kato"}')
            if up and up[0]["value"][1] == "1":
                scraped = self.value('timestamp(up{job="kato"})')
                if scraped is not None and scraped > moment:
                    return
            time.sleep(0.25)
        raise AssertionError(f"no scrape after {moment}; targets: {self.targets()}")

    def targets(self) -> Any:
        return httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()

    def rules(self) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]


def start_prometheus(base: Path, target: str) -> Prometheus:
    """Prometheus scraping ``target`` every second, with the shipped alert rules loaded."""
    base.mkdir(parents=True, exist_ok=True)
    shutil.copy(ALERT_RULES, base / "alerts.yml")
    config = base / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "rule_files:\n"
        "  - alerts.yml\n"
        "scrape_configs:\n"
        "  - job_name: kato\n"
        "    metrics_path: /metrics/prometheus\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    proc = Proc(
        [
            PROMETHEUS_BIN,
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        base / "logs",
        "prometheus",
        cwd=base,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(proc, f"{url}/-/ready", timeout=60)
    except BaseException:
        proc.stop()
        raise
    return Prometheus(proc, url)
