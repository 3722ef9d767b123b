"""nginx (Debian's package) in front of gunicorn with 4 uvicorn workers, over real TLS."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from websockets.sync.client import connect

from kato import gunicorn_conf
from tests.deploy.conftest import Server
from tests.deploy.edge import load_renderer, nginx_binary, render_config, start_nginx
from tests.deploy.procs import REPO, Proc, free_port, wait_http

pytestmark = pytest.mark.nginx

TEST_RATE_PER_SECOND = 10
TEST_BURST = 20
SECURITY_HEADERS = {
    "x-frame-options": "SAMEORIGIN",
    "x-content-type-options": "nosniff",
    "x-xss-protection": "1; mode=block",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}


@dataclass
class Edge:
    proc: Proc
    http_port: int
    https_port: int
    cert: Path
    tls: ssl.SSLContext

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"


@pytest.fixture(scope="module")
def edge(gunicorn_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    nginx = nginx_binary()
    base = tmp_path_factory.mktemp("nginx")
    http_port, https_port = free_port(), free_port()
    conf = render_config(
        base,
        [gunicorn_server.port],
        https_port=https_port,
        http_port=http_port,
        rate=f"{TEST_RATE_PER_SECOND}r/s",
        burst=TEST_BURST,
        server_name="localhost 127.0.0.1",
    )
    cert = base / "cert.pem"
    check = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", str(base), "-e", str(base / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    proc = start_nginx(conf, base)
    tls = ssl.create_default_context(cafile=str(cert))
    try:
        wait_http(proc, f"https://127.0.0.1:{https_port}/health", verify=tls)
        yield Edge(proc, http_port, https_port, cert, tls)
    finally:
        proc.stop(timeout=15)


def test_production_config_is_the_rendered_template() -> None:
    renderer = load_renderer()
    shipped = (REPO / "deploy" / "nginx" / "nginx.conf").read_text()
    assert shipped == renderer.render(renderer.PRODUCTION)
    assert "server kato:8000 max_fails=3 fail_timeout=30s;" in shipped
    assert "least_conn;" in shipped


def test_timeouts_and_limits_agree_with_gunicorn_and_the_service() -> None:
    conf = (REPO / "deploy" / "nginx" / "nginx.conf").read_text()

    def seconds(directive: str) -> int:
        match = re.search(rf"^\s*{directive} (\d+)s;", conf, re.M)
        assert match, directive
        return int(match.group(1))

    # nginx waits at least as long as gunicorn lets a worker live without a heartbeat and as
    # long as the service's REQUEST_TIMEOUT, so the backend, not the proxy, decides.
    assert seconds("proxy_read_timeout") >= gunicorn_conf.timeout
    assert seconds("proxy_send_timeout") >= gunicorn_conf.timeout
    # Upstream keep-alive connections are dropped by nginx before the backend drops them.
    assert seconds("keepalive_timeout") < gunicorn_conf.keepalive
    # The body limit is the one the service enforces in the production compose file.
    body = re.search(r"client_max_body_size (\d+)M;", conf)
    assert body
    compose = yaml.safe_load((REPO / "docker-compose.production.yml").read_text())
    kato_env = compose["services"]["kato"]["environment"]
    assert int(kato_env["KATO_MAX_BODY_BYTES"]) == int(body.group(1)) * 1024 * 1024


def test_https_with_http2_and_security_headers(edge: Edge) -> None:
    with httpx.Client(base_url=edge.https, verify=edge.tls, http2=True, timeout=10) as client:
        health = client.get("/health")
        assert health.status_code == 200
        assert health.http_version == "HTTP/2"
        assert health.json()["status"] in ("healthy", "degraded")
        missing = client.get("/no-such-route")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "Not Found"}
        for response in (health, missing):
            for name, value in SECURITY_HEADERS.items():
                assert response.headers[name] == value
            assert "server" not in response.headers or "/" not in response.headers["server"]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_versions(edge: Edge, version: ssl.TLSVersion) -> None:
    context = ssl.create_default_context(cafile=str(edge.cert))
    context.minimum_version = version
    context.maximum_version = version
    with httpx.Client(verify=context, timeout=10) as client:
        assert client.get(f"{edge.https}/health").status_code == 200


def test_http_redirects_to_https(edge: Edge) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{edge.http_port}/sessions/count?x=1", follow_redirects=False, timeout=10
    )
    assert response.status_code == 301
    assert response.headers["location"] == f"https://127.0.0.1:{edge.https_port}/sessions/count?x=1"
    followed = httpx.get(
        f"http://127.0.0.1:{edge.http_port}/health",
        follow_redirects=True,
        verify=edge.tls,
        timeout=10,
    )
    assert followed.status_code == 200
    assert str(followed.url) == f"{edge.https}/health"


def test_websocket_through_nginx(edge: Edge) -> None:
    time.sleep(TEST_BURST / TEST_RATE_PER_SECOND)  # the rate-limit bucket is full again
    with connect(
        f"wss://127.0.0.1:{edge.https_port}/ws/events", ssl=edge.tls, open_timeout=10
    ) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["event_type"] == "state.snapshot"
        assert snapshot["data"]["system_status"] == "healthy"
        assert isinstance(snapshot["data"]["active_sessions"], int)
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"


def burst(edge: Edge, path: str, count: int) -> tuple[list[httpx.Response], float]:
    with httpx.Client(
        base_url=edge.https, verify=edge.tls, timeout=30, limits=httpx.Limits(max_connections=20)
    ) as client:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(lambda _: client.get(path), range(count)))
        return responses, time.monotonic() - started


def test_rate_limit_rejects_bursts_with_429_but_never_health(edge: Edge) -> None:
    time.sleep(TEST_BURST / TEST_RATE_PER_SECOND)
    responses, elapsed = burst(edge, "/", 300)
    statuses = [r.status_code for r in responses]
    accepted = statuses.count(200)
    rejected = statuses.count(429)
    assert accepted + rejected == 300, sorted(set(statuses))
    assert rejected > 0
    # nodelay burst plus the refill during the burst (one more for the bucket's rounding).
    assert TEST_BURST <= accepted <= TEST_BURST + 1 + TEST_RATE_PER_SECOND * elapsed + 1
    limited = next(r for r in responses if r.status_code == 429)
    for name, value in SECURITY_HEADERS.items():
        assert limited.headers[name] == value

    health, _ = burst(edge, "/health", 300)
    assert [r.status_code for r in health] == [200] * 300
    log = (edge.proc.stdout_path.parent / "error.log").read_text()
    assert "limiting requests" in log
