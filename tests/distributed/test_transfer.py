"""kato-kb export/import across backends: byte-identical exports, identical predictions."""

from __future__ import annotations

import io
import random
from pathlib import Path

import orjson
import pytest

from kato.engine.config import EngineConfig
from kato.engine.node import NodeEngine
from kato.engine.types import Observation, SessionState
from kato.storage.embedded import EmbeddedBackend
from kato.storage.memory import MemoryBackend
from kato.storage.ports import Backend, NodeHandle
from kato.storage.transfer import TransferError, export_lines, export_node, import_node
from tests.contract.helpers import learn
from tests.distributed.conftest import BackendMaker

CONFIG = EngineConfig(recall_threshold=0.1)
QUERIES = [
    [["alpha"], ["beta"]],
    [["beta", "gamma"]],
    [["école"], ["it's"]],
    [["delta"], ["alpha"], ["zeta"]],
    [["b3"], ["b4"], ["b5"]],
]


def train(handle: NodeHandle) -> None:
    """Real engine training: strings, emotives, metadata, vectors (stored and pending)."""
    engine = NodeEngine(handle.kb, handle.vectors, handle.index)
    rng = random.Random(7)
    state = SessionState()
    words = ["alpha", "beta", "gamma", "delta", "école", "it's", "zeta", 'q"uote']
    for round_number in range(40):
        for step in range(rng.randint(2, 4)):
            strings = [*rng.sample(words, rng.randint(1, 2)), f"b{(round_number + step) % 9}"]
            vectors = [[rng.choice([0.0, 0.5, 1.0]), rng.random()]] if step == 0 else []
            engine.observe(
                state,
                Observation(
                    strings=strings,
                    vectors=vectors,
                    emotives={"joy": rng.choice([0.1, 0.25, 1.0 / 3.0]), "fear": -0.5}
                    if step % 2
                    else {},
                    metadata={"source": f"doc{round_number % 3}", "n": step},
                ),
                CONFIG,
            )
        engine.learn(state, CONFIG)
    engine.observe(state, Observation(strings=["tail"], vectors=[[0.25, 0.75]]), CONFIG)


def export_text(handle: NodeHandle) -> str:
    return "".join(export_lines(handle.kb, handle.vectors, service_name="kato", node_id="n"))


def predictions(handle: NodeHandle) -> bytes:
    engine = NodeEngine(handle.kb, handle.vectors, handle.index)
    results = []
    for config in (CONFIG, EngineConfig(recall_threshold=0.1, affinity_emotive="joy")):
        for query in QUERIES:
            result = engine.predict(query, config)
            results.append([result.predictions, result.future_potentials])
    return orjson.dumps(results)


def copy_into(source: NodeHandle, target: NodeHandle) -> None:
    buffer = io.StringIO()
    export_node(source, buffer, service_name="kato", node_id="n")
    buffer.seek(0)
    import_node(target, buffer)


def test_memory_to_distributed_to_embedded_is_identical(
    make_backend: BackendMaker, tmp_path: Path
) -> None:
    memory = MemoryBackend()
    train(memory.node("n"))
    original = export_text(memory.node("n"))
    assert original.count('"type":"pattern"') == 40
    assert '"type":"pending"' in original and '"type":"affinity"' in original

    distributed = make_backend()
    copy_into(memory.node("n"), distributed.node("n"))
    assert export_text(distributed.node("n")) == original
    reread = make_backend()  # another worker, empty caches
    assert export_text(reread.node("n")) == original

    embedded = EmbeddedBackend(tmp_path / "kato-data")
    try:
        copy_into(reread.node("n"), embedded.node("n"))
        assert export_text(embedded.node("n")) == original
        expected = predictions(memory.node("n"))
        assert b'"name"' in expected
        assert predictions(distributed.node("n")) == expected
        assert predictions(embedded.node("n")) == expected
    finally:
        embedded.close()


def test_port_level_round_trip_with_awkward_values(make_backend: BackendMaker) -> None:
    memory = MemoryBackend()
    kb = memory.node("n").kb
    learn(kb, [["\ud800", "é"], ["x"]], [{"joy": 0.1}, {"joy": 0.2}, {"fear": 1e-300}])
    learn(kb, [["\ud800", "é"], ["x"]], [{"z": 2.0**60}])
    learn(kb, [["a"], ["a"]])
    original = export_text(memory.node("n"))
    assert original.isascii()
    distributed = make_backend()
    copy_into(memory.node("n"), distributed.node("n"))
    assert export_text(distributed.node("n")) == original
    back = MemoryBackend()
    copy_into(distributed.node("n"), back.node("n"))
    assert export_text(back.node("n")) == original
    assert back.node("n").kb.affinities(["x"]) == {
        "x": {"joy": (0.1 + 0.2) / 2, "fear": 1e-300, "z": 2.0**60}
    }


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda lines: lines[:-1], "no end record"),
        (lambda lines: [lines[0].replace('"version":1', '"version":2'), *lines[1:]], "version"),
        (lambda lines: [lines[0], *lines[2:]], "records"),
        (lambda lines: ['{"format":"other"}\n', *lines[1:]], "not a kato-kb"),
    ],
)
def test_damaged_files_are_refused(make_backend: BackendMaker, mutate, message) -> None:  # type: ignore[no-untyped-def]
    memory = MemoryBackend()
    learn(memory.node("n").kb, [["a"], ["b"]])
    lines = list(export_lines(memory.node("n").kb, memory.node("n").vectors))
    target: Backend = make_backend()
    with pytest.raises(TransferError, match=message):
        import_node(target.node("n"), mutate(lines))
    assert export_text(target.node("n")) == export_text(MemoryBackend().node("n"))


def test_import_into_a_non_empty_node_needs_replace(make_backend: BackendMaker) -> None:
    memory = MemoryBackend()
    learn(memory.node("n").kb, [["a"], ["b"]])
    lines = list(export_lines(memory.node("n").kb, memory.node("n").vectors))
    target = make_backend()
    learn(target.node("n").kb, [["c"], ["d"]])
    with pytest.raises(TransferError, match="not empty"):
        import_node(target.node("n"), lines)
    import_node(target.node("n"), lines, replace=True)
    assert list(export_lines(target.node("n").kb, target.node("n").vectors)) == lines
