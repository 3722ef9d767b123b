"""Real redis-server and clickhouse-server processes for the distributed tests.

Started once per test process through scripts/services.sh (free 127.0.0.1
ports, a private run directory) and stopped at the end of the pytest session or,
at the latest, when the process exits. Nothing here fakes a server.
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

from kato.storage.ports import Backend
from kato.storage.settings import StorageSettings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services.sh"


def available() -> bool:
    """Whether the servers can be run here (installed, or installable by the script)."""
    if os.environ.get("KATO_SKIP_DISTRIBUTED"):
        return False
    installed = (
        Path("/usr/bin/redis-server").exists() and Path("/usr/sbin/clickhouse-server").exists()
    )
    return installed or shutil.which("apt-get") is not None


@dataclass
class Services:
    run_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    running: bool = False

    def _script(self, *args: str) -> str:
        done = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"services.sh {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self._start_reaper()
        self._script("start", str(self.run_dir))
        self.env = {}
        for line in (self.run_dir / "env.sh").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            self.env[key] = value
        self.running = True

    def _start_reaper(self) -> None:
        """A detached watcher that stops the servers if this process dies without cleanup."""
        watch = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{shlex.quote(str(SCRIPT))} stop {shlex.quote(str(self.run_dir))}; "
            f"rm -rf {shlex.quote(str(self.run_dir))}"
        )
        subprocess.Popen(
            ["bash", "-c", watch],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.running:
            self._script("stop", str(self.run_dir))
            self.running = False
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def stop_one(self, name: str) -> None:
        self._script("stop-one", str(self.run_dir), name)

    def start_one(self, name: str) -> None:
        self._script("start-one", str(self.run_dir), name)

    def pid(self, name: str) -> int:
        """Process id of ``redis`` or ``clickhouse`` (both started by services.sh)."""
        pidfile = {"redis": "redis/redis.pid", "clickhouse": "clickhouse/clickhouse.pid"}[name]
        return int((self.run_dir / pidfile).read_text().strip())

    def kill_one(self, name: str) -> None:
        """SIGKILL one server (a crash: no shutdown work) and wait until it is gone."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        for _ in range(500):
            if not _alive(pid):
                return
            time.sleep(0.02)
        raise RuntimeError(f"{name} (pid {pid}) did not exit")

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def settings(self, database: str, timeout: float = 5.0, **overrides: object) -> StorageSettings:
        values: dict[str, object] = {
            "kato_storage": "distributed",
            "redis_url": self.redis_url,
            "clickhouse_host": self.env["CLICKHOUSE_HOST"],
            "clickhouse_port": int(self.env["CLICKHOUSE_PORT"]),
            "clickhouse_db": database,
            "request_timeout": timeout,
            "connection_pool_size": 16,
        }
        values.update(overrides)
        return StorageSettings(**values)  # type: ignore[arg-type]

    def flush_redis(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for a non-reaping init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


_lock = threading.Lock()
_shared: Services | None = None


def shared() -> Services:
    """The servers of this test process, started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            run_dir = Path(tempfile.mkdtemp(prefix="kato-services-"))
            services = Services(run_dir)
            atexit.register(services.stop)
            services.start()
            _shared = services
        return _shared


def stop_shared() -> None:
    with _lock:
        if _shared is not None:
            _shared.stop()


# A ClickHouse database private to this test process.
DATABASE = f"kato_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def contract_backend(tmp_path: Path) -> Backend:
    """A fresh distributed backend for one contract test (empty Redis database)."""
    from kato.storage.distributed import build_distributed_backend

    services = shared()
    services.flush_redis()
    return build_distributed_backend(services.settings(DATABASE))
