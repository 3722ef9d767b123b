"""Backends under contract test.

``BACKEND_FACTORIES`` maps a backend name to a callable building a fresh backend
in a temporary directory; another adapter joins the suite by appending to it
(for example from its own conftest, before collection).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kato.storage.embedded import EmbeddedBackend
from kato.storage.memory import MemoryBackend
from kato.storage.ports import Backend
from tests.distributed import servers as distributed_servers

BackendFactory = Callable[[Path], Backend]

BACKEND_FACTORIES: list[tuple[str, BackendFactory]] = [
    ("memory", lambda tmp_path: MemoryBackend()),
    ("embedded", lambda tmp_path: EmbeddedBackend(tmp_path / "kato-data")),
]

# The distributed backend runs against real redis-server and clickhouse-server
# processes started on first use by scripts/services.sh (tests/distributed/servers.py).
if distributed_servers.available():
    BACKEND_FACTORIES.append(("distributed", distributed_servers.contract_backend))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_factory" in metafunc.fixturenames:
        metafunc.parametrize(
            "backend_factory",
            [factory for _, factory in BACKEND_FACTORIES],
            ids=[name for name, _ in BACKEND_FACTORIES],
        )


@pytest.fixture
def backend(backend_factory: BackendFactory, tmp_path: Path) -> Iterator[Backend]:
    built = backend_factory(tmp_path)
    try:
        yield built
    finally:
        built.close()
