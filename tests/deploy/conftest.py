"""Shared fixtures: one gunicorn server running Dockerfile.production's CMD for the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import dockerfile
from tests.deploy.procs import REPO, Proc, app_importable, app_path, free_port, wait_http


@dataclass
class Server:
    proc: Proc
    port: int
    base_url: str
    metrics_dir: Path


def production_cmd() -> list[str]:
    stages = dockerfile.parse(REPO / "Dockerfile.production")
    cmd = dockerfile.exec_form(stages[-1].last("CMD"))
    # A local stand-in app may replace the real one while it is being built.
    return [app_path() if arg == "kato.service.app:app" else arg for arg in cmd]


@pytest.fixture(scope="session")
def service_app() -> str:
    if not app_importable():
        pytest.skip(f"{app_path()} is not importable yet (built by the service issue)")
    return app_path()


@pytest.fixture(scope="session")
def gunicorn_server(service_app: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Dockerfile.production's exact CMD, bound to a free loopback port via GUNICORN_BIND."""
    base = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    metrics_dir = base / "prometheus"
    proc = Proc(
        production_cmd(),
        base / "logs",
        "gunicorn",
        env={
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "KATO_DATA_DIR": str(base / "data"),
            "LOG_FORMAT": "json",
        },
    )
    try:
        wait_http(proc, f"http://127.0.0.1:{port}/health")
        yield Server(proc, port, f"http://127.0.0.1:{port}", metrics_dir)
    finally:
        proc.stop()
