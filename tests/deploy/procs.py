"""Small process helpers for the deploy tests: free ports, start, wait, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DEFAULT_APP = "kato.service.app:app"


def app_path() -> str:
    """ASGI app under test (``KATO_DEPLOY_APP`` overrides, e.g. for a local stand-in)."""
    return os.environ.get("KATO_DEPLOY_APP", DEFAULT_APP)


def app_importable() -> bool:
    module = app_path().split(":", 1)[0]
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=REPO,
        env=child_env({}),
        capture_output=True,
        timeout=120,
    )
    return result.returncode == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
    )
    env.update(extra)
    return env


class Proc:
    """A child process in its own process group, with output files in ``log_dir``."""

    def __init__(
        self,
        argv: Sequence[str],
        log_dir: Path,
        name: str,
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        self.argv = list(argv)
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=child_env(env or {}),
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> tuple[str, str]:
        for handle in (self._out, self._err):
            if not handle.closed:
                handle.flush()
        return (
            self.stdout_path.read_text(errors="replace"),
            self.stderr_path.read_text(errors="replace"),
        )

    def describe(self) -> str:
        out, err = self.output()
        return f"{self.argv}\n--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}"

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM, then SIGKILL of the whole process group after ``timeout``."""
        code: int | None = None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGTERM)
            code = self.wait(timeout)
        else:
            code = self.popen.returncode
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)
        self._out.close()
        self._err.close()
        return code


def wait_http(
    proc: Proc,
    url: str,
    timeout: float = 90.0,
    verify: ssl.SSLContext | bool | str = True,
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"process exited with {proc.popen.returncode}\n{proc.describe()}")
        try:
            response = httpx.get(url, timeout=5.0, verify=verify)
            if response.status_code == 200:
                return response
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout}s ({last})\n{proc.describe()}")


def wait_port_closed(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.05)
    return False
