"""docs/configuration.md lists every environment variable the code reads.

Sources of names: the service settings (kato/service/settings.py, limits and authentication
included), the storage settings (kato/storage/settings.py), gunicorn's list
(kato/gunicorn_conf.ENVIRONMENT_VARIABLES, itself checked against its source by
tests/deploy), and every literal ``os.environ`` / ``os.getenv`` read anywhere in ``kato/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel
from pydantic_settings import BaseSettings

from kato import gunicorn_conf
from kato.service.settings import Settings
from kato.storage.settings import StorageSettings

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"
ENV_READ = re.compile(
    r"""os\.(?:environ(?:\.get|\.setdefault|\.pop)?\(\s*|environ\[\s*|getenv\(\s*)["']([A-Za-z_][A-Za-z0-9_]*)["']"""
)


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            continue  # a nested settings object (Settings.storage) is not a variable
        alias = info.validation_alias
        names.add((alias if isinstance(alias, str) else name).upper())
    return names


def _documented() -> set[str]:
    """Every `UPPER_CASE` name in backticks on the page."""
    text = DOC.read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]*)`", text))


def _source_reads() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "kato").rglob("*.py"):
        names |= set(ENV_READ.findall(path.read_text()))
    return {name.upper() for name in names}


def _missing(names: set[str]) -> list[str]:
    return sorted(names - _documented())


def test_service_settings_are_documented() -> None:
    names = _field_names(Settings)
    assert "KATO_MAX_SESSIONS_PER_NODE" in names and "KATO_API_KEYS" in names
    assert "STORAGE" not in names
    assert _missing(names) == []


def test_storage_settings_are_documented() -> None:
    names = _field_names(StorageSettings)
    assert {"REDIS_HOST", "CONNECTION_POOL_SIZE", "REQUEST_TIMEOUT"} <= names
    assert _missing(names) == []


def test_gunicorn_variables_are_documented() -> None:
    names = set(gunicorn_conf.ENVIRONMENT_VARIABLES)
    assert "GUNICORN_WORKERS" in names
    assert _missing(names) == []


def test_direct_environment_reads_are_documented() -> None:
    names = _source_reads()
    assert {"PROMETHEUS_MULTIPROC_DIR", "KATO_DATA_DIR"} <= names  # the scan finds reads
    assert _missing(names) == []


def test_the_check_notices_a_missing_name() -> None:
    assert _missing({"KATO_SURELY_NOT_A_DOCUMENTED_VARIABLE"}) == [
        "KATO_SURELY_NOT_A_DOCUMENTED_VARIABLE"
    ]
