"""The bounded candidate search skips candidates yet returns what brute force returns.

Knowledge bases with many candidates tied at the pruning cut (pre-potential exactly
1.0 when ``snr`` is 0) exercise the skip rules of ``prediction._scored_multi``:
below the cut, and at the cut with a larger name.
"""

from __future__ import annotations

import random

import pytest

from bench.generate import Generator
from kato.engine import EngineConfig, NodeEngine
from kato.engine.index import PatternIndex
from kato.engine.kernels import CandidateScores
from kato.engine.prediction import predict
from kato.storage.memory import MemoryBackend
from tests.contract.helpers import learn


@pytest.fixture(scope="module")
def engine() -> NodeEngine:
    node = MemoryBackend().node("node")
    for pattern in Generator(3000, seed=5).patterns():
        learn(node.kb, pattern)
    node.index.sync(node.kb)
    return NodeEngine(node.kb, node.vectors, node.index)


@pytest.mark.parametrize("max_predictions", [1, 5, 20])
def test_bounded_search_equals_brute_force(
    engine: NodeEngine, max_predictions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored: list[int] = []
    original = PatternIndex.score_candidates

    def counting(self: PatternIndex, *args: object, **kwargs: object) -> CandidateScores:
        out: CandidateScores = original(self, *args, **kwargs)  # type: ignore[arg-type]
        scored.append(int((out.lcs > 0).sum()))  # the candidates whose LCS it computed
        return out

    monkeypatch.setattr(PatternIndex, "score_candidates", counting)
    config = EngineConfig(max_predictions=max_predictions)
    rng = random.Random(max_predictions)
    queries = Generator(3000, seed=5).queries(12, seed=rng.randint(0, 1000))
    candidates = 0
    for query in queries:
        state = [s for event in query for s in event]
        overlaps = engine.index.overlap_arrays(state)
        candidates += int((overlaps.overlap > 1).sum())
        indexed = engine.predict(query, config)
        assert (indexed.predictions, indexed.future_potentials) == predict(
            engine, query, config, brute_force=True
        )
    if max_predictions == 5:  # on this data the bounds skip candidates at K = 5
        assert sum(scored) < candidates
