"""Worker recycling (low GUNICORN_MAX_REQUESTS) and graceful reload (SIGHUP) under load,
through nginx: no request may fail."""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.deploy.conftest import production_cmd
from tests.deploy.edge import render_config, start_nginx
from tests.deploy.procs import Proc, free_port, wait_http
from tests.deploy.test_images import counter_values, wait_workers

pytestmark = pytest.mark.nginx


@dataclass
class Stack:
    gunicorn: Proc
    nginx: Proc
    https: str
    cert: Path
    metrics_dir: Path


@pytest.fixture(scope="module")
def stack(service_app: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("recycling")
    port = free_port()
    metrics_dir = base / "prometheus"
    gunicorn = Proc(
        production_cmd(),
        base,
        "gunicorn",
        env={
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_MAX_REQUESTS": "150",
            "GUNICORN_MAX_REQUESTS_JITTER": "30",
            "GUNICORN_GRACEFUL_TIMEOUT": "20",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "KATO_DATA_DIR": str(base / "data"),
        },
    )
    nginx_proc: Proc | None = None
    try:
        wait_http(gunicorn, f"http://127.0.0.1:{port}/health")
        https_port = free_port()
        conf = render_config(base, [port], https_port=https_port, rate="10000r/s")
        cert = base / "cert.pem"
        nginx_proc = start_nginx(conf, base)
        tls = ssl.create_default_context(cafile=str(cert))
        wait_http(nginx_proc, f"https://127.0.0.1:{https_port}/health", verify=tls)
        yield Stack(gunicorn, nginx_proc, f"https://127.0.0.1:{https_port}", cert, metrics_dir)
    finally:
        if nginx_proc is not None:
            nginx_proc.stop(timeout=15)
        gunicorn.stop()


def drive(stack: Stack, total: int, during: threading.Event | None = None) -> Counter[int]:
    """``total`` requests from 8 threads (POST /sessions and GET of the new session)."""
    import ssl

    tls = ssl.create_default_context(cafile=str(stack.cert))
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(base_url=stack.https, verify=tls, timeout=30) as client:
            for j in range(i, total, 8 * 2):
                created = client.post("/sessions", json={"node_id": f"recycle-{j % 7}"})
                got = (
                    client.get(f"/sessions/{created.json()['session_id']}")
                    if created.status_code == 200
                    else created
                )
                with lock:
                    statuses[created.status_code] += 1
                    statuses[got.status_code] += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(8 * 2)))
    if during is not None:
        during.set()
    return statuses


def test_recycling_under_load_loses_no_request(stack: Stack) -> None:
    before = counter_values(stack.metrics_dir).get("kato_worker_exits_total", 0)
    statuses = drive(stack, 1600)
    assert statuses == Counter({200: 2 * 1600}), statuses
    exits = counter_values(stack.metrics_dir)["kato_worker_exits_total"] - before
    # 1,600 requests over 4 workers recycling every 150-180 requests.
    assert exits >= 4
    wait_workers(stack.gunicorn.pid, 4)


def test_graceful_reload_under_load_loses_no_request(stack: Stack) -> None:
    master = stack.gunicorn.pid
    old = wait_workers(master, 4)
    done = threading.Event()
    result: list[Counter[int]] = []
    runner = threading.Thread(target=lambda: result.append(drive(stack, 1200, done)))
    runner.start()
    time.sleep(1.0)
    os.kill(master, signal.SIGHUP)
    time.sleep(1.5)
    os.kill(master, signal.SIGHUP)
    runner.join(timeout=240)
    assert not runner.is_alive()
    assert result[0] == Counter({200: 2 * 1200}), result[0]
    new = wait_workers(master, 4)
    assert not (old & new), "HUP replaced every worker"
    assert psutil.Process(master).is_running()


def test_conformance_transcript_over_https_through_nginx(stack: Stack) -> None:
    """api.md §10 end to end over TLS and HTTP/2 via nginx, while workers keep recycling."""
    import ssl

    from tests.service.test_conformance import test_conformance_transcript

    tls = ssl.create_default_context(cafile=str(stack.cert))
    with httpx.Client(base_url=stack.https, verify=tls, http2=True, timeout=30) as client:
        assert client.get("/health").http_version == "HTTP/2"
        test_conformance_transcript(client)
