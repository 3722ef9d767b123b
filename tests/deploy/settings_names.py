"""The environment variable names the code really reads."""

from __future__ import annotations

import re
from pathlib import Path

from kato import gunicorn_conf
from kato.storage.settings import StorageSettings

REPO = Path(__file__).resolve().parents[2]


def _fields(model: type) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        alias = info.validation_alias
        names.add((alias if isinstance(alias, str) else name).upper())
    return names


def service_settings_names() -> set[str]:
    names = _fields(StorageSettings)
    try:
        from kato.service.settings import Settings
    except ImportError:
        return names
    return names | (_fields(Settings) - {"STORAGE"})


def gunicorn_names() -> set[str]:
    return set(gunicorn_conf.ENVIRONMENT_VARIABLES)


def gunicorn_names_in_source() -> set[str]:
    """Quoted variable names in kato/gunicorn_conf.py outside its ENVIRONMENT_VARIABLES list."""
    source = (REPO / "kato" / "gunicorn_conf.py").read_text()
    head, _, rest = source.partition("ENVIRONMENT_VARIABLES: tuple[str, ...] = (")
    code = head + rest.partition("\n)\n")[2]
    prefixes = "GUNICORN|KATO|UVICORN|LOG|FORWARDED|PROMETHEUS"
    return set(re.findall(rf'"((?:{prefixes})_[A-Z_]+)"', code))


def readable_names() -> set[str]:
    """Names a deployment may set for the kato container."""
    return service_settings_names() | gunicorn_names()
