"""Start and stop a real KATO server process for tests (reusable for gunicorn/nginx setups).

``KatoServer(data_dir).start()`` runs ``python -m kato.cli serve`` (or any command
given) on a free 127.0.0.1 port, waits until ``/health`` answers, and ``stop()``
terminates the whole process group. Use it as a context manager.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kato_serve_command(port: int, workers: int = 1, data_dir: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "kato.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return command


class KatoServer:
    """One server process (and its workers) on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.port = port or free_port()
        self.extra_env = env or {}
        self.command = list(command) if command else None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> KatoServer:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "SESSION_COUNT_CACHE_TTL_SECONDS": "0",
            "METRICS_CACHE_TTL_SECONDS": "0",
            **self.extra_env,
        }
        if self.data_dir is not None:
            env.setdefault("KATO_STORAGE", "embedded")
        command = self.command or kato_serve_command(self.port, self.workers, self.data_dir)
        log_dir = self.data_dir if self.data_dir is not None else Path("/tmp")
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"server-{self.port}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                healthy = httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                healthy = False
            if healthy and self._owns_port():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def _owns_port(self) -> bool:
        """The listening socket belongs to our process tree, not to a server that won a port race."""
        assert self.process is not None
        try:
            root = psutil.Process(self.process.pid)
            ours = {root.pid, *(child.pid for child in root.children(recursive=True))}
            listeners = [
                conn.pid
                for conn in psutil.net_connections(kind="tcp")
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == self.port
            ]
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            return self.process.poll() is None
        if any(pid is not None and pid not in ours for pid in listeners):
            self.stop()
            raise RuntimeError(f"port {self.port} is served by another process")
        return bool(listeners) and self.process.poll() is None

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group (graceful), SIGKILL it if it does not finish."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> KatoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
