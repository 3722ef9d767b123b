"""docker-compose files: services, ports, environment names and values, health, dependencies."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kato import gunicorn_conf
from kato.storage.settings import StorageSettings
from tests.deploy import dockerfile
from tests.deploy.procs import REPO
from tests.deploy.settings_names import (
    gunicorn_names,
    gunicorn_names_in_source,
    readable_names,
    service_settings_names,
)

PRODUCTION = REPO / "docker-compose.production.yml"
DEVELOPMENT = REPO / "docker-compose.yml"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, dict):
        return {k: None if v is None else str(v) for k, v in env.items()}
    result: dict[str, str | None] = {}
    for item in env:
        key, sep, value = item.partition("=")
        result[key] = value if sep else None
    return result


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR:?error}: defaults, and a sample for required ones."""

    def one(match: re.Match[str]) -> str:
        op, arg = match.group(2), match.group(3)
        return arg if op == ":-" else "sample-secret"

    return re.sub(r"\$\{([A-Z_]+)(:-|:\?)([^}]*)\}", one, value)


def test_gunicorn_names_list_is_complete() -> None:
    in_source = gunicorn_names_in_source()
    assert gunicorn_names() <= in_source
    assert in_source - service_settings_names() <= gunicorn_names()


def test_production_services_and_published_ports() -> None:
    compose = load(PRODUCTION)
    services = compose["services"]
    assert set(services) == {
        "nginx",
        "kato",
        "redis",
        "clickhouse",
        "qdrant",
        "prometheus",
        "grafana",
    }
    assert services["nginx"]["ports"] == ["80:80", "443:443"]
    # Monitoring UIs only on the host's loopback; state services and kato not published.
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    for name in ("kato", "redis", "clickhouse", "qdrant"):
        assert "ports" not in services[name], name
    assert services["kato"]["expose"] == ["8000"]
    assert services["clickhouse"]["expose"][0] == "9000"  # native protocol: clickhouse-driver


def test_production_kato_environment_is_read_by_the_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kato = load(PRODUCTION)["services"]["kato"]
    assert kato["secrets"] == ["kato_api_keys"]
    assert environment(kato)["KATO_API_KEYS_FILE"] == "/run/secrets/kato_api_keys"
    env = environment(kato)
    unknown = set(env) - readable_names() - {"PROMETHEUS_MULTIPROC_DIR"}
    assert not unknown, f"variables nothing reads: {sorted(unknown)}"
    values = {k: interpolate(v or "") for k, v in env.items()}
    assert values["KATO_STORAGE"] == "distributed"
    assert values["CLICKHOUSE_PORT"] == "9000"
    assert values["GUNICORN_WORKERS"] == "4"
    # The secret as docker compose mounts it: a key file the operator created.
    key_file = tmp_path / "kato_api_keys"
    key_file.write_text("production-admin-key-0001\nreader-key-for-node-a:nodeA\n")
    values["KATO_API_KEYS_FILE"] = str(key_file)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    storage = StorageSettings()
    assert storage.backend == "distributed"
    assert storage.effective_redis_url() == "redis://redis:6379/0"
    assert (storage.clickhouse_host, storage.clickhouse_port) == ("clickhouse", 9000)
    assert (storage.qdrant_host, storage.qdrant_port) == ("qdrant", 6333)
    assert storage.clickhouse_password is not None
    from kato.service.settings import load_settings

    settings = load_settings()
    assert settings.log_format == "json"
    assert settings.session_ttl == 3600
    assert settings.kato_max_body_bytes == 100 * 1024 * 1024


def test_production_gunicorn_values_match_the_conf_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    env = environment(load(PRODUCTION)["services"]["kato"])
    for key, value in env.items():
        if key.startswith("GUNICORN_"):
            monkeypatch.setenv(key, interpolate(value or ""))
    conf = importlib.reload(gunicorn_conf)
    try:
        assert (conf.workers, conf.worker_connections) == (4, 1000)
        assert (conf.max_requests, conf.max_requests_jitter) == (50000, 5000)
        assert (conf.timeout, conf.graceful_timeout, conf.keepalive) == (120, 30, 5)
        grace = load(PRODUCTION)["services"]["kato"]["stop_grace_period"]
        assert int(grace.rstrip("s")) > conf.graceful_timeout
    finally:
        monkeypatch.undo()
        importlib.reload(gunicorn_conf)


def test_production_health_checks_and_dependencies() -> None:
    services = load(PRODUCTION)["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["restart"] == "unless-stopped"
    assert services["kato"]["depends_on"] == {
        "clickhouse": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "qdrant": {"condition": "service_healthy"},
    }
    assert services["nginx"]["depends_on"] == {"kato": {"condition": "service_healthy"}}
    for service in services.values():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule["condition"] == "service_healthy"
            assert "healthcheck" in services[dependency]
    # The kato container's health check is the image's HEALTHCHECK command.
    final = dockerfile.parse(REPO / "Dockerfile.production")[-1]
    _, image_check = dockerfile.healthcheck_command(final.last("HEALTHCHECK"))
    assert services["kato"]["healthcheck"]["test"] == ["CMD", *image_check]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "SELECT 1" in services["clickhouse"]["healthcheck"]["test"][1]


def test_production_redis_persists_and_volumes_exist() -> None:
    compose = load(PRODUCTION)
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in redis["volumes"]
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
    assert compose["services"]["kato"]["build"]["dockerfile"] == "Dockerfile.production"
    assert set(compose["services"]["kato"]["build"]["args"]) == {
        "VERSION",
        "GIT_COMMIT",
        "BUILD_DATE",
    }


def test_development_compose_runs_the_development_image() -> None:
    compose = load(DEVELOPMENT)
    kato = compose["services"]["kato"]
    assert kato["build"]["dockerfile"] == "Dockerfile"
    assert kato["ports"] == ["8000:8000"]
    env = environment(kato)
    assert not set(env) - readable_names()
    assert interpolate(env["KATO_STORAGE"] or "") == "embedded"
    # Backend addresses pass through only when set by the caller.
    assert env["REDIS_URL"] is None
    for name in ("redis", "clickhouse", "qdrant"):
        assert compose["services"][name]["profiles"] == ["distributed"]
        for port in compose["services"][name].get("ports", []):
            assert port.startswith("127.0.0.1:")
