"""Gunicorn configuration for KATO (PSMP phase 1): ``gunicorn -c python:kato.gunicorn_conf``.

Every parameter of the PSMP table is read from the environment; the defaults are the PSMP
values. Command-line flags given to gunicorn still override this module.

=================================  ===============================  ==========================
Variable                           gunicorn setting                 Default
=================================  ===============================  ==========================
``GUNICORN_BIND``                  ``bind`` (comma-separated)       ``0.0.0.0:8000``
``GUNICORN_WORKERS``               ``workers``                      ``KATO_WORKERS``, else 4;
                                                                    ``auto`` = 2 x cores + 1
``GUNICORN_WORKER_CONNECTIONS``    ``worker_connections``           ``KATO_LIMIT_CONCURRENCY``,
                                   (uvicorn ``limit_concurrency``)  else 1000
``GUNICORN_MAX_REQUESTS``          ``max_requests`` (0 = never)     50000
``GUNICORN_MAX_REQUESTS_JITTER``   ``max_requests_jitter``          5000
``GUNICORN_TIMEOUT``               ``timeout`` (s)                  120
``GUNICORN_GRACEFUL_TIMEOUT``      ``graceful_timeout`` (s)         30
``GUNICORN_KEEPALIVE``             ``keepalive`` (s)                5
``GUNICORN_BACKLOG``               ``backlog``                      ``UVICORN_BACKLOG``, 2048
``GUNICORN_LOG_LEVEL``             ``loglevel``                     ``LOG_LEVEL``, else info
``GUNICORN_ACCESS_LOG``            access log (``-`` = stdout,      ``-``
                                   a path, or ``off``)
``GUNICORN_ERROR_LOG``             error log (``-`` = stderr,       ``-``
                                   or a path)
``GUNICORN_WORKER_TMP_DIR``        ``worker_tmp_dir``               ``/dev/shm`` if writable
``FORWARDED_ALLOW_IPS``            ``forwarded_allow_ips``          gunicorn's (127.0.0.1,::1)
``GUNICORN_CONTROL_SOCKET``        ``control_socket`` (gunicornc)   disabled
=================================  ===============================  ==========================

Worker count rule: the default is the PSMP's 4 (also the api spec's ``KATO_WORKERS`` default),
because every worker holds its own connection pools and per-node caches and prediction is
CPU-bound: more workers than cores only adds memory. ``GUNICORN_WORKERS=auto`` applies the usual
``2 x cores + 1`` rule for I/O-heavy hosts, counting the cores the process may really use (CPU
affinity and the cgroup CPU quota of a container), capped at 16.

Workers are uvicorn workers (``uvicorn-worker`` package when installed; uvicorn's own
deprecated ``uvicorn.workers`` module otherwise) extended so that ``worker_connections`` becomes
uvicorn's ``limit_concurrency`` (excess requests get 503 instead of queueing without bound), and
so that a stopping worker (recycled after ``max_requests``, replaced by a HUP reload, or shut
down) drains its keep-alive connections instead of closing them under a proxy's feet
(:class:`DrainingHTTPProtocol`): recycling and reloads behind nginx lose no request.

Logs are one JSON object per line (:class:`JsonFormatter`): access lines on stdout, error and
lifecycle lines on stderr.

Hooks: the master clears stale multiprocess metric files at start (``PROMETHEUS_MULTIPROC_DIR``;
when unset, the master creates a private directory, exports the variable to its workers and
removes the directory at exit),
logs every worker start and exit, marks dead workers' metric files dead
(``prometheus_client.multiprocess.mark_process_dead``) and counts worker starts and exits in
``kato_worker_starts_total`` and ``kato_worker_exits_total`` (the master owns these two
counters; the service must not increment them).

The per-pod command used on Kubernetes (one process, Kubernetes does the scaling) is
:data:`UVICORN_POD_COMMAND`; it is what ``deploy/kubernetes/base/kato-deployment.yaml`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from uvicorn.protocols.http.auto import AutoHTTPProtocol as _AutoHTTPProtocol

try:
    from uvicorn_worker import UvicornWorker as _UvicornWorker  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - exercised only without the uvicorn-worker package
    from uvicorn.workers import UvicornWorker as _UvicornWorker

APP = "kato.service.app:app"

# The single-process command for a Kubernetes pod: SIGTERM makes uvicorn stop accepting
# connections (readiness fails from then on) and finish in-flight requests for up to
# --timeout-graceful-shutdown seconds; terminationGracePeriodSeconds must exceed the preStop
# sleep plus this value.
POD_GRACEFUL_SHUTDOWN_SECONDS = 30
UVICORN_POD_COMMAND: tuple[str, ...] = (
    "uvicorn",
    APP,
    "--host=0.0.0.0",
    "--port=8000",
    "--workers=1",
    "--limit-concurrency=1000",
    "--timeout-keep-alive=5",
    f"--timeout-graceful-shutdown={POD_GRACEFUL_SHUTDOWN_SECONDS}",
    "--proxy-headers",
    "--forwarded-allow-ips=*",
    "--log-config=/app/deploy/uvicorn/logging.json",
)

# Every environment variable this module reads (deployment files may set only these, the
# service's settings fields, and the libraries' own PROMETHEUS_MULTIPROC_DIR).
ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "GUNICORN_BIND",
    "GUNICORN_WORKERS",
    "KATO_WORKERS",
    "GUNICORN_WORKER_CONNECTIONS",
    "KATO_LIMIT_CONCURRENCY",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_BACKLOG",
    "UVICORN_BACKLOG",
    "GUNICORN_LOG_LEVEL",
    "LOG_LEVEL",
    "GUNICORN_ACCESS_LOG",
    "GUNICORN_ERROR_LOG",
    "GUNICORN_WORKER_TMP_DIR",
    "GUNICORN_CONTROL_SOCKET",
    "FORWARDED_ALLOW_IPS",
    "PROMETHEUS_MULTIPROC_DIR",
)

_MAX_AUTO_WORKERS = 16
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(ValueError):
    """An environment variable has a value gunicorn cannot use."""


def _env(name: str) -> str | None:
    """Value of ``name`` (case-insensitive, as api.md §8), ``None`` when unset or blank."""
    value = os.environ.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in os.environ.items():
            if key.lower() == lowered:
                value = candidate
                break
    if value is None or not value.strip():
        return None
    return value.strip()


def _int_env(names: tuple[str, ...], default: int, minimum: int) -> int:
    for name in names:
        raw = _env(name)
        if raw is None:
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")
        return value
    return default


def available_cpus() -> int:
    """Cores this process may use: CPU affinity, reduced by a cgroup v2/v1 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, int(quota + 0.999)))
    return max(1, cores)


def _cgroup_cpu_quota() -> float | None:
    v2 = Path("/sys/fs/cgroup/cpu.max")
    with contextlib.suppress(OSError, ValueError):
        quota, period = v2.read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    v1_quota = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    v1_period = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    with contextlib.suppress(OSError, ValueError):
        quota_us = int(v1_quota.read_text())
        if quota_us > 0:
            return quota_us / int(v1_period.read_text())
    return None


def worker_count() -> int:
    """``GUNICORN_WORKERS`` (or ``KATO_WORKERS``): a number, or ``auto``; default 4."""
    for name in ("GUNICORN_WORKERS", "KATO_WORKERS"):
        raw = _env(name)
        if raw is not None and raw.lower() == "auto":
            return min(2 * available_cpus() + 1, _MAX_AUTO_WORKERS)
        if raw is not None:
            return _int_env((name,), 4, 1)
    return 4


def _log_level() -> str:
    for name in ("GUNICORN_LOG_LEVEL", "LOG_LEVEL"):
        raw = _env(name)
        if raw is None:
            continue
        level = raw.lower()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"{name} must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
        return level
    return "info"


def _worker_tmp_dir() -> str | None:
    configured = _env("GUNICORN_WORKER_TMP_DIR")
    if configured is not None:
        return configured
    # Heartbeat files on a tmpfs: a container's overlay /tmp can stall workers (gunicorn docs).
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


_STANDARD_RECORD_KEYS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, __file__, 0, "", None, None))
) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp``, ``level``, ``logger``, ``pid``, ``message``, extras.

    uvicorn access records (``uvicorn.access``) are split into ``client``, ``method``,
    ``path``, ``http_version`` and ``status``; ``extra=`` fields of any record are kept.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _dt.datetime.fromtimestamp(record.created, tz=_dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            entry.update(
                {
                    "message": "request",
                    "client": client,
                    "method": method,
                    "path": path,
                    "http_version": http_version,
                    "status": status,
                }
            )
        else:
            entry["message"] = record.getMessage()
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_KEYS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _handler(target: str, default_stream: str) -> dict[str, Any]:
    if target == "-":
        return {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": f"ext://sys.{default_stream}",
        }
    return {"class": "logging.FileHandler", "formatter": "json", "filename": target}


def build_logconfig(level: str, access_log: str | None, error_log: str) -> dict[str, Any]:
    """``logging.config.dictConfig`` document for gunicorn (and uvicorn, which reuses it)."""
    handlers = {"error": _handler(error_log, "stderr")}
    access_handlers: list[str] = []
    if access_log is not None:
        handlers["access"] = _handler(access_log, "stdout")
        access_handlers = ["access"]
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": handlers,
        "root": {"level": upper, "handlers": ["error"]},
        "loggers": {
            "gunicorn.error": {"level": upper, "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": access_handlers, "propagate": False},
            "uvicorn.error": {"level": upper, "handlers": ["error"], "propagate": False},
            "uvicorn.access": {"level": "INFO", "handlers": access_handlers, "propagate": False},
        },
    }


# --------------------------------------------------------------------------- worker class


class DrainingHTTPProtocol(_AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol, with a shutdown that never closes an idle connection.

    uvicorn closes idle keep-alive connections at once when a worker stops (recycling after
    ``max_requests``, SIGHUP reload, SIGTERM). A proxy that keeps upstream connections alive
    (nginx ``keepalive``) may be sending a request on such a connection at that very moment; it
    then gets a reset and answers 502, and never retries a POST. Here a stopping worker keeps
    idle connections open: a request that still arrives on one is served with
    ``Connection: close``; connections nobody uses close by the keep-alive timeout, which is
    longer than the proxy's own idle timeout (nginx closes them first, see deploy/nginx).
    """

    _kato_draining = False
    timeout_keep_alive_task: asyncio.TimerHandle | None  # uvicorn's; its base is untyped here

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            return
        self._kato_draining = True
        if self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:  # httptools implementation
        if self._kato_draining:
            cycle.keep_alive = False
        super()._start_asgi_task(cycle, app)

    def handle_events(self) -> None:  # h11 implementation
        super().handle_events()
        cycle = self.cycle
        if self._kato_draining and cycle is not None and not cycle.response_started:
            cycle.keep_alive = False


class KatoUvicornWorker(_UvicornWorker):  # type: ignore[misc,valid-type]
    """uvicorn worker: ``limit_concurrency`` is gunicorn's ``worker_connections``, and
    stopping (recycling, reload, shutdown) drains keep-alive connections
    (:class:`DrainingHTTPProtocol`)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": DrainingHTTPProtocol,
        "lifespan": "auto",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.limit_concurrency = self.cfg.worker_connections


# --------------------------------------------------------------------------- settings

wsgi_app = APP
bind = [part.strip() for part in (_env("GUNICORN_BIND") or "0.0.0.0:8000").split(",")]
workers = worker_count()
worker_class = f"{__name__}.KatoUvicornWorker"
worker_connections = _int_env(("GUNICORN_WORKER_CONNECTIONS", "KATO_LIMIT_CONCURRENCY"), 1000, 1)
max_requests = _int_env(("GUNICORN_MAX_REQUESTS",), 50000, 0)
max_requests_jitter = _int_env(("GUNICORN_MAX_REQUESTS_JITTER",), 5000, 0)
timeout = _int_env(("GUNICORN_TIMEOUT",), 120, 0)
graceful_timeout = _int_env(("GUNICORN_GRACEFUL_TIMEOUT",), 30, 0)
keepalive = _int_env(("GUNICORN_KEEPALIVE",), 5, 0)
backlog = _int_env(("GUNICORN_BACKLOG", "UVICORN_BACKLOG"), 2048, 1)
loglevel = _log_level()
_access_target = _env("GUNICORN_ACCESS_LOG") or "-"
accesslog: str | None = None if _access_target.lower() in ("off", "none", "false") else "-"
errorlog = "-"
logconfig_dict = build_logconfig(
    loglevel,
    None if accesslog is None else _access_target,
    _env("GUNICORN_ERROR_LOG") or "-",
)
worker_tmp_dir = _worker_tmp_dir()
preload_app = False  # each worker opens its own connection pools after fork
proc_name = "kato"
# gunicorn >= 25 opens a control socket in $HOME by default; a container or a host running
# several instances does not want a shared path: enabled only when a path is given.
_control_socket = _env("GUNICORN_CONTROL_SOCKET")
if _control_socket is None:
    control_socket_disable = True
else:
    control_socket = _control_socket
_forwarded = _env("FORWARDED_ALLOW_IPS")
if _forwarded is not None:
    forwarded_allow_ips = _forwarded


# --------------------------------------------------------------------------- hooks

_log = logging.getLogger("gunicorn.error")


def _multiproc_dir() -> Path | None:
    raw = _env("PROMETHEUS_MULTIPROC_DIR")
    return Path(raw) if raw else None


_worker_counters: dict[str, Any] = {}
_created_dirs: list[Path] = []


def _count(name: str, documentation: str, **labels: str) -> None:
    """Increment a master-owned counter in multiprocess mode (files shared with workers).

    The counters are not registered in any registry of the master: the service's
    ``MultiProcessCollector`` reads them from the shared directory.
    """
    if _multiproc_dir() is None:
        return
    from prometheus_client import Counter

    counter = _worker_counters.get(name)
    if counter is None:
        counter = Counter(name, documentation, labelnames=sorted(labels), registry=None)
        _worker_counters[name] = counter
    (counter.labels(**labels) if labels else counter).inc()


def on_starting(server: Any) -> None:
    """Master start: clear stale metric files and publish the effective settings to workers."""
    directory = _multiproc_dir()
    if directory is None:
        # Several worker processes always serve one gunicorn: without a shared directory each
        # scrape would see one worker's numbers. Workers inherit the variable at fork.
        directory = Path(tempfile.mkdtemp(prefix="kato-prometheus-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
        _created_dirs.append(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    cfg = server.cfg
    # Reported by GET /concurrency (api.md §8.4): the values this master really applies.
    os.environ["UVICORN_WORKERS"] = str(cfg.workers)
    os.environ["UVICORN_LIMIT_CONCURRENCY"] = str(cfg.worker_connections)
    os.environ["UVICORN_BACKLOG"] = str(cfg.backlog)
    os.environ["UVICORN_LIMIT_MAX_REQUESTS"] = (
        str(cfg.max_requests) if cfg.max_requests > 0 else "unlimited"
    )
    _log.info(
        "gunicorn master starting",
        extra={
            "event": "master_starting",
            "workers": cfg.workers,
            "worker_class": cfg.worker_class_str,
            "bind": cfg.bind,
            "max_requests": cfg.max_requests,
            "max_requests_jitter": cfg.max_requests_jitter,
            "timeout": cfg.timeout,
            "graceful_timeout": cfg.graceful_timeout,
            "keepalive": cfg.keepalive,
            "worker_connections": cfg.worker_connections,
            "prometheus_multiproc_dir": str(directory) if directory else None,
        },
    )


def when_ready(server: Any) -> None:
    _log.info("gunicorn master ready", extra={"event": "master_ready"})


def pre_fork(server: Any, worker: Any) -> None:
    _count("kato_worker_starts_total", "Worker processes started by the gunicorn master")


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker: default SIGPIPE handling is not wanted; log the start."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    _log.info("worker started", extra={"event": "worker_started", "worker_pid": worker.pid})


def worker_int(worker: Any) -> None:
    _log.info("worker interrupted", extra={"event": "worker_int", "worker_pid": worker.pid})


def worker_abort(worker: Any) -> None:
    """SIGABRT from the master: the worker missed its heartbeat for ``timeout`` seconds."""
    import faulthandler

    _log.error(
        "worker timed out and is being aborted",
        extra={"event": "worker_abort", "worker_pid": worker.pid},
    )
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


def worker_exit(server: Any, worker: Any) -> None:
    """In the exiting worker, after its server stopped: flush logs."""
    _log.info("worker exiting", extra={"event": "worker_exit", "worker_pid": worker.pid})
    for handler in logging.getLogger().handlers:
        handler.flush()


def child_exit(server: Any, worker: Any) -> None:
    """In the master, for every worker that exited (recycled, crashed, killed or stopped)."""
    directory = _multiproc_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, str(directory))
    _count("kato_worker_exits_total", "Worker processes that exited (any cause)")
    _log.info("worker exited", extra={"event": "child_exit", "worker_pid": worker.pid})


def on_exit(server: Any) -> None:
    """Master exit: remove the metrics directory this master created itself."""
    for directory in _created_dirs:
        shutil.rmtree(directory, ignore_errors=True)
    _log.info("gunicorn master stopped", extra={"event": "master_exit"})
