"""The pre-potential from block positions equals that of the fully aligned candidate."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine import EngineConfig
from kato.engine.index import IndexedPattern
from kato.engine.matcher import BlockMatcher
from kato.engine.prediction import _evaluate, _Scored
from kato.engine.pruning import candidate_blocks, pre_potential
from kato.engine.similarity import state_ids, token_lcs

SYMBOLS = st.sampled_from(["a", "b", "c", "d", "e"])
EVENT = st.lists(SYMBOLS, min_size=1, max_size=3)


@settings(max_examples=1000, deadline=None)
@given(
    data=st.lists(EVENT, min_size=1, max_size=5),
    stm=st.lists(EVENT, min_size=1, max_size=4),
    threshold=st.sampled_from([0.0, 0.1]),
)
def test_fast_pre_potential_equals_full_alignment(
    data: list[list[str]], stm: list[list[str]], threshold: float
) -> None:
    pattern = IndexedPattern("p", data)
    state = [s for event in stm for s in event]
    matcher = BlockMatcher(state)
    lcs = token_lcs(pattern.flat, state, state_ids(state))
    config = EngineConfig(recall_threshold=threshold)
    full = _evaluate(_Scored(pattern, 100.0, lcs), stm, matcher, config)
    blocks = candidate_blocks(pattern, lcs, matcher, set(state))
    assert blocks == matcher.blocks(pattern.flat)
    fast = pre_potential(pattern, blocks, len(state), keep_unaligned=threshold <= 0)
    if full is None:
        assert fast is None
    else:
        assert fast == full.pre_potential
