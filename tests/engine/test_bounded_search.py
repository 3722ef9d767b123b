"""The bounded candidate search skips candidates yet returns what brute force returns.

Knowledge bases with many candidates tied at the pruning cut (pre-potential exactly
1.0 when ``snr`` is 0) exercise the skip rules of ``prediction._scored_multi``:
below the cut, and at the cut with a larger name.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate import Generator
from kato.engine import EngineConfig, NodeEngine
from kato.engine.bulk import top_by_pre_potential
from kato.engine.index import PatternIndex, name_key
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
        brute = predict(engine, query, config, brute_force=True)
        assert indexed.predictions == brute.predictions
        assert indexed.future_potentials == brute.future_potentials()
    if max_predictions == 5:  # on this data the bounds skip candidates at K = 5
        assert sum(scored) < candidates


NAME_PREFIXES = ["0" * 16, "0" * 15 + "1", "8" * 16, "f" * 16]


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([0.5, 1.0, 1.5]),
            st.sampled_from(NAME_PREFIXES),
            st.text("0123456789abcdef", min_size=24, max_size=24),
        ),
        unique_by=lambda row: row[1] + row[2],
        max_size=30,
    ),
    keep=st.integers(1, 12),
)
def test_top_by_pre_potential_is_the_best_by_value_then_name(
    rows: list[tuple[float, str, str]], keep: int
) -> None:
    """Ties at the cut go to the smaller names, also when names share their 64-bit prefix."""
    names = [prefix + rest for _, prefix, rest in rows]
    pre = np.array([value for value, _, _ in rows], dtype=np.float64)
    keys = np.array([name_key(name) for name in names], dtype=np.uint64)
    chosen = top_by_pre_potential(pre, keys, keep, lambda position: names[position])
    expected = sorted(range(len(rows)), key=lambda p: (-rows[p][0], names[p]))[:keep]
    assert sorted(chosen.tolist()) == sorted(expected)
