"""Real serving stacks on loopback for the reliability tools and tests.

:func:`edge_stack` starts Dockerfile.production's gunicorn command (uvicorn workers, every
setting from ``GUNICORN_*``) behind Debian's nginx with a self-signed certificate made on the
spot, exactly as ``tests/deploy`` does (its helpers are reused); :func:`quiet_server` starts the
same command with one worker and no recycling, the reference for byte-for-byte comparisons.
Every process is stopped (process group SIGTERM, then SIGKILL) when the context exits.
"""

from __future__ import annotations

import os
import random
import signal
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from kato.storage.keys import node_key
from kato.storage.transfer import export_lines
from tests.deploy.conftest import production_cmd
from tests.deploy.edge import render_config, start_nginx
from tests.deploy.procs import Proc, free_port, wait_http

SERVICE_NAME = "kato"


@dataclass
class Stack:
    """A running server: ``url`` is what clients use (HTTPS through nginx when ``nginx``)."""

    gunicorn: Proc
    nginx: Proc | None
    url: str
    verify: ssl.SSLContext | bool
    data_dir: Path
    env: dict[str, str]

    @property
    def master_pid(self) -> int:
        return self.gunicorn.pid

    def workers(self) -> set[int]:
        try:
            children = psutil.Process(self.master_pid).children(recursive=False)
        except psutil.NoSuchProcess:
            return set()
        return {child.pid for child in children if child.status() != psutil.STATUS_ZOMBIE}

    def kill_random_worker(self, rng: random.Random) -> int | None:
        """SIGKILL one worker chosen by ``rng``; its pid, or None when none is running."""
        workers = sorted(self.workers())
        if not workers:
            return None
        victim = rng.choice(workers)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def reload(self) -> None:
        """Graceful reload: gunicorn replaces every worker after SIGHUP."""
        self.gunicorn.signal(signal.SIGHUP)


def _gunicorn_env(
    port: int, base: Path, workers: int, max_requests: int, jitter: int, extra: Mapping[str, str]
) -> dict[str, str]:
    env = {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_MAX_REQUESTS": str(max_requests),
        "GUNICORN_MAX_REQUESTS_JITTER": str(jitter),
        "GUNICORN_GRACEFUL_TIMEOUT": "20",
        "GUNICORN_ACCESS_LOG": "off",
        "PROMETHEUS_MULTIPROC_DIR": str(base / "prometheus"),
        "KATO_STORAGE": "embedded",
        "KATO_DATA_DIR": str(base / "data"),
        "SESSION_TTL": "7200",
    }
    env.update(extra)
    return env


def _start_nginx(base: Path, upstream_port: int) -> tuple[Proc, str, ssl.SSLContext]:
    https_port = free_port()
    conf = render_config(
        base, [upstream_port], https_port=https_port, rate="100000r/s", log_prefix="nginx-"
    )
    cert = base / "cert.pem"
    proc = start_nginx(conf, base, log_prefix="nginx-")
    tls = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{https_port}"
    try:
        wait_http(proc, f"{url}/health", verify=tls)
    except BaseException:
        proc.stop(timeout=10)
        raise
    return proc, url, tls


@contextmanager
def edge_stack(
    base: Path,
    *,
    workers: int = 4,
    max_requests: int = 0,
    jitter: int = 0,
    env: Mapping[str, str] | None = None,
    nginx: bool = True,
) -> Iterator[Stack]:
    """gunicorn (``workers`` uvicorn workers) behind nginx with TLS, on loopback."""
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    gunicorn_env = _gunicorn_env(port, base, workers, max_requests, jitter, env or {})
    gunicorn = Proc(production_cmd(), base, "gunicorn", env=gunicorn_env)
    nginx_proc: Proc | None = None
    try:
        wait_http(gunicorn, f"http://127.0.0.1:{port}/health")
        url: str = f"http://127.0.0.1:{port}"
        verify: ssl.SSLContext | bool = True
        if nginx:
            nginx_proc, url, verify = _start_nginx(base, port)
        yield Stack(gunicorn, nginx_proc, url, verify, base / "data", gunicorn_env)
    finally:
        if nginx_proc is not None:
            nginx_proc.stop(timeout=15)
        gunicorn.stop(timeout=40)


@contextmanager
def quiet_server(base: Path, env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """The reference: one worker, no recycling, no proxy, nothing killed."""
    with edge_stack(base, workers=1, max_requests=0, env=env, nginx=False) as stack:
        yield stack


def export_text(stack_env: Mapping[str, str], node_id: str, label: str = "training") -> str:
    """The node's export (kato.storage.transfer), read from the stack's storage.

    ``label`` is written as the header's node id, so runs that used different node ids (two
    runs sharing one Redis/ClickHouse) export comparable text."""
    from kato.storage.factory import build_backend
    from kato.storage.settings import StorageSettings

    # strings, as the environment would give them: the settings validate and convert them
    fields: dict[str, Any] = {
        k.lower(): v for k, v in stack_env.items() if k.startswith(("KATO_", "REDIS_", "CLICK"))
    }
    settings = StorageSettings(**fields)
    backend = build_backend(settings)
    try:
        handle = backend.node(node_key(SERVICE_NAME, node_id))
        return "".join(
            export_lines(handle.kb, handle.vectors, service_name=SERVICE_NAME, node_id=label)
        )
    finally:
        backend.close()
