"""A worker builds every stored node's index before it serves (KATO_WARM_INDEXES)."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kato.engine.types import PatternSummary
from kato.service.app import create_app
from kato.service.settings import load_settings
from kato.storage.embedded import EmbeddedBackend
from kato.storage.keys import node_key
from kato.storage.memory import MemoryBackend
from tests.contract.helpers import learn
from tests.service.server import KatoServer


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    backend = EmbeddedBackend(tmp_path / "data")
    for node, patterns in (("alpha", 3), ("beta", 2)):
        kb = backend.node(node_key("kato", node)).kb
        for i in range(patterns):
            learn(kb, [[f"{node}-{i}"], ["x"]])
    backend.close()
    return tmp_path / "data"


def _log(server: KatoServer) -> str:
    assert server.log_path is not None
    return server.log_path.read_text()


def test_indexes_are_built_before_the_first_request(data_dir: Path) -> None:
    with KatoServer(data_dir) as server:
        assert "warmed 2 node index(es), 5 patterns" in _log(server)


def test_warm_up_can_be_turned_off(data_dir: Path) -> None:
    with KatoServer(data_dir, env={"KATO_WARM_INDEXES": "false"}) as server:
        assert "warmed" not in _log(server)


def test_a_worker_says_when_the_engine_runs_interpreted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from kato.engine import compiled
    from kato.service import warmup

    warmup.warm_up(None, indexes=False)
    assert "interpreted" not in caplog.text  # this installation is compiled
    monkeypatch.setattr(compiled, "running_compiled", lambda: ["metrics"])
    warmup.warm_up(None, indexes=False)
    assert f"engine interpreted: 1 of {len(compiled.COMPILED_MODULES)} modules" in caplog.text


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_collector")
@pytest.mark.parametrize("threshold", [0, 12_345])
def test_a_worker_paces_the_collector_before_it_serves(threshold: int) -> None:
    gc.set_threshold(700, 10, 10)
    app = create_app(load_settings(kato_gc_threshold=threshold), backend=MemoryBackend())
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        # 0 keeps Python's pace; the older generations keep their ratios either way
        assert gc.get_threshold() == (threshold or 700, 10, 10)


def test_warm_up_caches_every_node_summaries(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kato.service import warmup

    backend = EmbeddedBackend(data_dir)
    warmup.warm_up(backend, indexes=True)
    for node, patterns in (("alpha", 3), ("beta", 2)):
        handle = backend.node(node_key("kato", node))
        names = handle.index.names()
        assert len(names) == patterns
        monkeypatch.setattr(handle.kb, "pattern_summaries", _no_store_reads)
        cached = handle.index.summaries.get(handle.kb, names)
        assert sorted(cached) == sorted(names)
        assert all(summary.frequency == 1 for summary in cached.values())
    backend.close()


def test_warm_up_leaves_summaries_beyond_the_cache_bound_to_the_first_predictions(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kato.service import warmup

    monkeypatch.setattr(warmup, "MAX_CACHED", 4)  # alpha's 3 fit, beta's 2 more do not
    backend = EmbeddedBackend(data_dir)
    warmup.warm_up(backend, indexes=True)
    alpha, beta = (backend.node(node_key("kato", node)) for node in ("alpha", "beta"))
    monkeypatch.setattr(alpha.kb, "pattern_summaries", _no_store_reads)
    assert len(alpha.index.summaries.get(alpha.kb, alpha.index.names())) == 3
    reads: list[list[str]] = []
    original = beta.kb.pattern_summaries

    def counted(names: Iterable[str]) -> dict[str, PatternSummary]:
        reads.append(list(names))
        return original(reads[-1])

    monkeypatch.setattr(beta.kb, "pattern_summaries", counted)
    assert len(beta.index.summaries.get(beta.kb, beta.index.names())) == 2
    assert [sorted(names) for names in reads] == [sorted(beta.index.names())]
    backend.close()


def _no_store_reads(names: Iterable[str]) -> dict[str, PatternSummary]:
    raise AssertionError(f"summaries read from the store: {list(names)}")
