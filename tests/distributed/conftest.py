"""Fixtures of the distributed-backend tests: real servers, fresh state, several 'workers'."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kato.storage.distributed import DistributedBackend, build_distributed_backend
from tests.distributed import servers

pytestmark = pytest.mark.distributed

if not servers.available():  # pragma: no cover - depends on the machine
    pytest.skip("redis-server/clickhouse-server cannot be run here", allow_module_level=True)


@pytest.fixture(scope="session")
def services() -> Iterator[servers.Services]:
    started = servers.shared()
    yield started
    servers.stop_shared()


BackendMaker = Callable[..., DistributedBackend]


@pytest.fixture
def make_backend(services: servers.Services) -> Iterator[BackendMaker]:
    """Build backends sharing one emptied Redis database (each one is like a worker)."""
    services.flush_redis()
    built: list[DistributedBackend] = []

    def make(timeout: float = 5.0) -> DistributedBackend:
        backend = build_distributed_backend(services.settings(servers.DATABASE, timeout=timeout))
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()
