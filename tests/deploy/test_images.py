"""The images' exact commands, run as processes (no Docker engine here)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from tests.deploy import dockerfile
from tests.deploy.conftest import Server, production_cmd
from tests.deploy.http1 import SlowPost, connect_refused
from tests.deploy.procs import REPO, Proc, child_env, free_port, wait_http

OCI_LABELS = {
    "org.opencontainers.image.version": "${VERSION}",
    "org.opencontainers.image.revision": "${GIT_COMMIT}",
    "org.opencontainers.image.created": "${BUILD_DATE}",
    "org.opencontainers.image.title": "KATO",
    "org.opencontainers.image.description": (
        "Knowledge Abstraction for Traceable Outcomes - Production"
    ),
    "org.opencontainers.image.vendor": "Intelligent Artifacts",
}


def workers_of(master_pid: int) -> set[int]:
    return {child.pid for child in psutil.Process(master_pid).children(recursive=False)}


def wait_workers(master_pid: int, count: int, timeout: float = 60.0) -> set[int]:
    deadline = time.monotonic() + timeout
    pids: set[int] = set()
    while time.monotonic() < deadline:
        pids = workers_of(master_pid)
        if len(pids) == count:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"expected {count} workers, have {sorted(pids)}")


def counter_values(directory: Path) -> dict[str, float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    values: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and not sample.labels:
                values[sample.name] = sample.value
    return values


def test_production_dockerfile_metadata() -> None:
    stages = dockerfile.parse(REPO / "Dockerfile.production")
    final = stages[-1]
    assert final.base == "python:3.11-slim"
    args = dict(a.partition("=")[::2] for a in final.all("ARG"))
    assert args == {"VERSION": "dev", "GIT_COMMIT": "unknown", "BUILD_DATE": "unknown"}
    labels = dockerfile.labels(final)
    for key, value in OCI_LABELS.items():
        assert labels[key] == value
    user = final.last("USER")
    assert user.split(":")[0] not in ("root", "0")
    options, health = dockerfile.healthcheck_command(final.last("HEALTHCHECK"))
    assert options == {"interval": "30s", "timeout": "10s", "start-period": "20s", "retries": "3"}
    assert health[:2] == ["python", "-c"] and "urllib.request" in health[2]
    assert "http://127.0.0.1:8000/health" in health[2]
    assert dockerfile.exec_form(final.last("CMD")) == [
        "gunicorn",
        "-c",
        "python:kato.gunicorn_conf",
        "kato.service.app:app",
    ]
    env = dockerfile.env(final)
    assert env["GUNICORN_BIND"] == "0.0.0.0:8000"
    assert final.last("EXPOSE") == "8000"
    assert final.last("STOPSIGNAL") == "SIGTERM"
    # The uvicorn-worker package provides the non-deprecated worker base class.
    assert any("uvicorn-worker" in run for run in final.all("RUN"))


def test_production_cmd_runs_four_uvicorn_workers(gunicorn_server: Server) -> None:
    workers = wait_workers(gunicorn_server.proc.pid, 4)
    assert len(workers) == 4
    for child in workers:
        cmdline = " ".join(psutil.Process(child).cmdline())
        assert "gunicorn" in cmdline
    with httpx.Client(base_url=gunicorn_server.base_url, timeout=10) as client:
        for _ in range(20):
            response = client.get("/health")
            assert response.status_code == 200
            assert response.json()["status"] in ("healthy", "degraded")
    time.sleep(0.5)
    out, err = gunicorn_server.proc.output()
    boots = [json.loads(line) for line in err.splitlines() if "Booting worker" in line]
    assert len(boots) >= 4
    access = [json.loads(line) for line in out.splitlines() if '"uvicorn.access"' in line]
    health_lines = [a for a in access if a["path"] == "/health"]
    assert len(health_lines) >= 20
    assert all(a["status"] == 200 and a["method"] == "GET" for a in health_lines)


def test_every_log_line_is_json(gunicorn_server: Server) -> None:
    httpx.get(f"{gunicorn_server.base_url}/health", timeout=10)
    time.sleep(0.3)
    out, err = gunicorn_server.proc.output()
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) > 10
    for line in lines:
        entry = json.loads(line)
        assert {"timestamp", "level", "logger", "message"} <= set(entry)


def test_healthcheck_command_passes_then_fails(gunicorn_server: Server) -> None:
    final = dockerfile.parse(REPO / "Dockerfile.production")[-1]
    _, health = dockerfile.healthcheck_command(final.last("HEALTHCHECK"))
    live = [a.replace(":8000/", f":{gunicorn_server.port}/") for a in health]
    run = subprocess.run(live, env=child_env({}), capture_output=True, timeout=20)
    assert run.returncode == 0, run.stderr
    dead = [a.replace(":8000/", f":{free_port()}/") for a in health]
    run = subprocess.run(dead, env=child_env({}), capture_output=True, timeout=20)
    assert run.returncode != 0


def test_killed_worker_is_replaced_and_counted(gunicorn_server: Server) -> None:
    master = gunicorn_server.proc.pid
    before = wait_workers(master, 4)
    counts_before = counter_values(gunicorn_server.metrics_dir)
    victim = min(before)
    psutil.Process(victim).send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 60
    after: set[int] = set()
    while time.monotonic() < deadline:
        after = workers_of(master)
        if len(after) == 4 and victim not in after:
            break
        time.sleep(0.2)
    assert victim not in after and len(after) == 4
    wait_http(gunicorn_server.proc, f"{gunicorn_server.base_url}/health")
    for _ in range(8):
        assert httpx.get(f"{gunicorn_server.base_url}/health", timeout=10).status_code == 200
    counts = counter_values(gunicorn_server.metrics_dir)
    assert counts["kato_worker_starts_total"] == counts_before["kato_worker_starts_total"] + 1
    assert counts["kato_worker_exits_total"] == counts_before.get("kato_worker_exits_total", 0) + 1
    # The dead worker's live-gauge files are marked dead (no file keeps its pid as live).
    assert not list(gunicorn_server.metrics_dir.glob(f"gauge_live*_{victim}.db"))


def test_sigterm_finishes_in_flight_request_then_exits(service_app: str, tmp_path: Path) -> None:
    port = free_port()
    proc = Proc(
        production_cmd(),
        tmp_path,
        "gunicorn-term",
        env={
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_GRACEFUL_TIMEOUT": "20",
            "KATO_DATA_DIR": str(tmp_path / "data"),
        },
    )
    try:
        wait_http(proc, f"http://127.0.0.1:{port}/health")
        in_flight = SlowPost(port, "/sessions", {"node_id": "graceful-shutdown"})
        time.sleep(0.3)
        started = time.monotonic()
        proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not connect_refused(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert connect_refused(port), "new connections still accepted after SIGTERM"
        status, body = in_flight.finish()
        assert status == 200, body
        assert json.loads(body)["node_id"] == "graceful-shutdown"
        code = proc.wait(25)
        assert code == 0, proc.describe()
        assert time.monotonic() - started < 22
    finally:
        proc.stop()


def test_development_dockerfile_cmd_serves(service_app: str, tmp_path: Path) -> None:
    final = dockerfile.parse(REPO / "Dockerfile")[-1]
    cmd = dockerfile.exec_form(final.last("CMD"))
    # PSMP phase 0: one process, recycled after 50,000 requests with 5,000 jitter.
    flags = dict(zip(cmd[2::2], cmd[3::2], strict=False))
    assert cmd[:2] == ["uvicorn", "kato.service.app:app"]
    assert flags["--workers"] == "1"
    assert flags["--limit-max-requests"] == "50000"
    assert flags["--limit-max-requests-jitter"] == "5000"
    assert flags["--limit-concurrency"] == "100"
    port = free_port()
    argv = [service_app if a == "kato.service.app:app" else a for a in cmd]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    proc = Proc(argv, tmp_path, "uvicorn-dev", env={"KATO_DATA_DIR": str(tmp_path / "data")})
    try:
        response = wait_http(proc, f"http://127.0.0.1:{port}/health")
        assert response.json()["status"] in ("healthy", "degraded")
        # uvicorn re-raises SIGTERM after its graceful shutdown (exit status 143 in Docker).
        assert proc.stop() in (0, -15)
        assert "Finished server process" in proc.output()[1]
    finally:
        proc.stop()


def test_python_is_the_venv_one() -> None:
    # The commands above run from the project's environment (gunicorn/uvicorn on PATH).
    assert Path(sys.executable).parent.joinpath("gunicorn").exists()


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.production"])
def test_build_context_keeps_what_the_image_copies(name: str) -> None:
    import fnmatch

    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for stage in dockerfile.parse(REPO / name):
        for copy in stage.all("COPY"):
            parts = copy.split()
            if any(p.startswith("--from") for p in parts):
                continue
            for source in parts[:-1]:
                pattern = source.rstrip("/")
                matches = [p for p in REPO.glob(pattern)] if "*" in pattern else [REPO / pattern]
                if pattern.endswith("*"):
                    continue  # optional files (README.md*)
                assert all(m.exists() for m in matches), source
                for rule in ignored:
                    assert not fnmatch.fnmatch(pattern, rule.rstrip("/")), (source, rule)
                    assert not pattern.startswith(rule.rstrip("/") + "/"), (source, rule)
    # The test suite and local state never enter the context.
    assert {"tests", ".venv", ".git", "kato-data"} <= set(ignored)
