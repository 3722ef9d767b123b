"""The single-symbol fast path (engine §6.19): its closed-form alignment is the matcher's, and
the K candidates it finds by length are those of evaluating every candidate."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine import EngineConfig, NodeEngine, prediction
from kato.engine.alignment import flat_diff
from kato.engine.matcher import BlockMatcher
from kato.engine.prediction import _FastPathAlignment
from kato.storage.memory import MemoryBackend
from tests.contract.helpers import learn

SYMBOLS = st.sampled_from(["x", "y", "z"])


@settings(max_examples=300, deadline=None)
@given(rest=st.lists(SYMBOLS, max_size=8))
def test_closed_form_equals_the_matcher_on_a_candidate(rest: list[str]) -> None:
    flat = ["x", *rest]  # candidates start with the state's one symbol
    matcher = BlockMatcher(["x"])
    blocks = matcher.blocks(flat)
    i0 = blocks[0][0]
    i1, _, k1 = blocks[-1]
    past, present = flat[:i0], flat[i0 : i1 + k1]
    missing, extras = flat_diff(present, matcher)
    expected = _FastPathAlignment(
        past=past,
        present=present,
        matches=[s for _, j, size in blocks for s in matcher.b[j : j + size]],
        missing=missing,
        extras=extras,
        blocks=len(blocks),
    )
    assert _FastPathAlignment.of(flat, "x") == expected


# -- the K returned candidates found by length (prediction._fast_path_best) --------------
# Symbols of different lengths, so that the character-mode similarity is not the length's;
# a pattern learned 1-3 times, so that frequencies differ.
OTHERS = st.sampled_from(["x", "yy", "zzz", "w"])
EVENT = st.lists(OTHERS, min_size=1, max_size=3)
PATTERN = st.tuples(
    st.lists(OTHERS, max_size=3), st.lists(EVENT, max_size=2), st.integers(min_value=1, max_value=3)
)


def _every_candidate_ranked(
    engine: NodeEngine, symbol: str, config: EngineConfig
) -> list[dict[str, object]]:
    """The fast path evaluating every candidate: its code before the selection by length."""
    index, kb = engine.index, engine.kb
    patterns = sorted(
        (index.pattern(pid) for pid in index.ids_with_first_symbol(symbol)), key=lambda p: p.name
    )
    summaries = index.summaries.get(kb, (p.name for p in patterns))
    by_name = {p.name: p for p in patterns}
    cores = [
        prediction._fast_path_core(p, summaries[p.name], symbol, config, None) for p in patterns
    ]
    field = config.rank_sort_algo
    rank_field = field if field in prediction.FAST_PATH_RANK_FIELDS else "potential"
    return [
        prediction._fast_path_object(core, by_name[core["name"]], summaries[core["name"]], symbol)
        for core in prediction.rank(cores, rank_field)[: config.max_predictions]
    ]


@pytest.mark.parametrize("token_mode", [True, False])
@pytest.mark.parametrize(
    "rank_sort_algo", [*sorted(prediction.FAST_PATH_RANK_FIELDS), "confluence"]
)
@settings(max_examples=40, deadline=None)
@given(
    patterns=st.lists(PATTERN, min_size=1, max_size=30),
    max_predictions=st.sampled_from([1, 2, 3, 7]),
)
def test_the_k_best_found_by_length_are_those_of_evaluating_every_candidate(
    patterns: list[tuple[list[str], list[list[str]], int]],
    max_predictions: int,
    rank_sort_algo: str,
    token_mode: bool,
) -> None:
    node = MemoryBackend().node("node")
    for first_event_rest, more_events, times in patterns:  # many of equal length: ties by name
        for _ in range(times):
            learn(node.kb, [["x", *first_event_rest], *more_events])
    engine = NodeEngine(node.kb, node.vectors, node.index)
    config = EngineConfig(
        max_predictions=max_predictions,
        rank_sort_algo=rank_sort_algo,
        use_token_matching=token_mode,
    )
    answer = prediction.predict(engine, [["x"]], config).predictions
    assert answer == _every_candidate_ranked(engine, "x", config)
    assert len(answer) == min(max_predictions, len(engine.index.ids_with_first_symbol("x")))


def test_the_selection_by_length_covers_the_default_and_leaves_the_rest_to_the_full_path() -> None:
    assert prediction._ranked_by_length("potential", EngineConfig())
    assert prediction._ranked_by_length("similarity", EngineConfig(use_token_matching=True))
    assert not prediction._ranked_by_length("similarity", EngineConfig(use_token_matching=False))
    assert not prediction._ranked_by_length("frequency", EngineConfig())
    assert not prediction._ranked_by_length("potential", EngineConfig(affinity_emotive="joy"))
