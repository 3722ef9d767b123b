"""kato/gunicorn_conf.py: every PSMP parameter from the environment, as gunicorn sees it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from kato import gunicorn_conf
from tests.deploy.procs import REPO, child_env


def effective_config(env: dict[str, str]) -> dict[str, str]:
    """``gunicorn --print-config`` with the conf module, parsed into name -> value text."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:kato.gunicorn_conf",
            "--print-config",
            "kato.service.app:app",
        ],
        cwd=REPO,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            config[name.strip()] = value.strip()
    return config


def test_defaults_are_the_psmp_values() -> None:
    config = effective_config({})
    assert config["workers"] == "4"
    assert config["worker_class"] == "kato.gunicorn_conf.KatoUvicornWorker"
    assert config["worker_connections"] == "1000"
    assert config["max_requests"] == "50000"
    assert config["max_requests_jitter"] == "5000"
    assert config["timeout"] == "120"
    assert config["graceful_timeout"] == "30"
    assert config["keepalive"] == "5"
    assert config["bind"] == "['0.0.0.0:8000']"
    assert config["loglevel"] == "info"
    assert config["preload_app"] == "False"
    assert config["control_socket_disable"] == "True"


def test_every_parameter_comes_from_the_environment() -> None:
    config = effective_config(
        {
            "GUNICORN_WORKERS": "7",
            "GUNICORN_WORKER_CONNECTIONS": "321",
            "GUNICORN_MAX_REQUESTS": "200",
            "GUNICORN_MAX_REQUESTS_JITTER": "20",
            "GUNICORN_TIMEOUT": "90",
            "GUNICORN_GRACEFUL_TIMEOUT": "12",
            "GUNICORN_KEEPALIVE": "3",
            "GUNICORN_BIND": "127.0.0.1:9001,127.0.0.1:9002",
            "GUNICORN_LOG_LEVEL": "WARNING",
            "GUNICORN_BACKLOG": "512",
        }
    )
    assert config["workers"] == "7"
    assert config["worker_connections"] == "321"
    assert config["max_requests"] == "200"
    assert config["max_requests_jitter"] == "20"
    assert config["timeout"] == "90"
    assert config["graceful_timeout"] == "12"
    assert config["keepalive"] == "3"
    assert config["bind"] == "['127.0.0.1:9001', '127.0.0.1:9002']"
    assert config["loglevel"] == "warning"
    assert config["backlog"] == "512"


def test_spec_names_are_fallbacks() -> None:
    config = effective_config(
        {"KATO_WORKERS": "3", "KATO_LIMIT_CONCURRENCY": "150", "LOG_LEVEL": "debug"}
    )
    assert (config["workers"], config["worker_connections"], config["loglevel"]) == (
        "3",
        "150",
        "debug",
    )
    # The gunicorn-specific name wins over the spec's container name.
    assert effective_config({"KATO_WORKERS": "3", "GUNICORN_WORKERS": "5"})["workers"] == "5"


def test_auto_worker_count_uses_available_cores() -> None:
    expected = min(2 * gunicorn_conf.available_cpus() + 1, 16)
    assert effective_config({"GUNICORN_WORKERS": "auto"})["workers"] == str(expected)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GUNICORN_WORKERS", "zero", "GUNICORN_WORKERS must be an integer"),
        ("GUNICORN_WORKERS", "0", "GUNICORN_WORKERS must be >= 1"),
        ("GUNICORN_TIMEOUT", "-1", "GUNICORN_TIMEOUT must be >= 0"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of"),
    ],
)
def test_invalid_values_refuse_to_start_naming_the_variable(
    name: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:kato.gunicorn_conf",
            "--print-config",
            "kato.service.app:app",
        ],
        cwd=REPO,
        env=child_env({name: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_access_log_off_removes_access_handlers() -> None:
    config = gunicorn_conf.build_logconfig("info", None, "-")
    assert config["loggers"]["uvicorn.access"]["handlers"] == []
    assert config["loggers"]["gunicorn.error"]["level"] == "INFO"
    with_file = gunicorn_conf.build_logconfig("debug", "/var/log/kato/access.log", "-")
    assert with_file["handlers"]["access"]["filename"] == "/var/log/kato/access.log"
    assert with_file["loggers"]["uvicorn.error"]["level"] == "DEBUG"


def test_json_formatter_splits_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.7:5123", "POST", "/sessions?x=1", "1.1", 201),
        None,
    )
    record.trace_id = "abc-123"
    entry = json.loads(gunicorn_conf.JsonFormatter().format(record))
    assert entry["logger"] == "uvicorn.access"
    assert entry["method"] == "POST"
    assert entry["path"] == "/sessions?x=1"
    assert entry["status"] == 201
    assert entry["client"] == "10.0.0.7:5123"
    assert entry["trace_id"] == "abc-123"
    assert entry["level"] == "INFO"
    assert entry["timestamp"].endswith("+00:00")


def test_json_formatter_keeps_exceptions_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "kato", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    line = gunicorn_conf.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed x"
    assert "RuntimeError: boom" in entry["exception"]


def test_pod_command_graceful_timeout_is_explicit() -> None:
    command = gunicorn_conf.UVICORN_POD_COMMAND
    assert command[:2] == ("uvicorn", "kato.service.app:app")
    assert "--workers=1" in command
    assert f"--timeout-graceful-shutdown={gunicorn_conf.POD_GRACEFUL_SHUTDOWN_SECONDS}" in command
