"""The training benchmark on the distributed backend (docs/performance.md has the full run)."""

from __future__ import annotations

import uuid
from pathlib import Path

from bench import training
from kato.storage.distributed import build_distributed_backend
from kato.storage.keys import node_key
from tests.distributed import servers


def test_training_benchmark_learns_into_the_distributed_store(
    services: servers.Services, tmp_path: Path
) -> None:
    database = f"{servers.DATABASE}_training"
    node = f"training-{uuid.uuid4().hex[:8]}"
    env = {**services.env, "CLICKHOUSE_DB": database}
    result = training.run(observations=200, workers=2, clients=2, learn_every=5, env=env, node=node)
    assert result["observations"] == 200
    assert result["total_seconds"] > 0
    backend = build_distributed_backend(services.settings(database))
    try:
        stats = backend.node(node_key("kato", node)).kb.global_stats()
    finally:
        backend.close()
    # 2 clients x 100 observations, a learn every 5: 40 learns, duplicates merged; an
    # embedded server would have left this store empty
    assert 0 < stats.total_unique_patterns <= 40
