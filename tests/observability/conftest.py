"""One gunicorn KATO (4 workers) and one real Prometheus for the whole observability suite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.servers import (
    PROMETHEUS_BIN,
    Kato,
    Prometheus,
    start_kato,
    start_prometheus,
)


@pytest.fixture(scope="session")
def kato(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kato]:
    server = start_kato(tmp_path_factory.mktemp("kato"))
    try:
        yield server
    finally:
        server.proc.stop()


@pytest.fixture(scope="session")
def prometheus(kato: Kato, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if not Path(PROMETHEUS_BIN).exists():
        pytest.skip("the prometheus server is not installed (apt-get install prometheus)")
    server = start_prometheus(
        tmp_path_factory.mktemp("prometheus"), kato.base_url.removeprefix("http://")
    )
    try:
        yield server
    finally:
        server.proc.stop()


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found
