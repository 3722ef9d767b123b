"""The indexed candidate search returns exactly what evaluating every pattern returns."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kato.engine.config import RANK_SORT_ALGOS
from kato.engine.prediction import predict
from tests.engine import reference
from tests.engine.harness import Harness

SYMBOLS = st.sampled_from(["a", "b", "c", "d", "e", "ab", "it's", "ü"])
EVENT = st.lists(SYMBOLS, min_size=1, max_size=3)
PATTERN = st.lists(EVENT, min_size=1, max_size=4).filter(lambda p: sum(map(len, p)) >= 2)
THRESHOLD = st.one_of(
    st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 2 / 3, 0.6666666666666665, 0.8, 1.0]),
    st.floats(min_value=0.0, max_value=1.0),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patterns=st.lists(PATTERN, min_size=1, max_size=10),
    stm=st.lists(EVENT, min_size=1, max_size=4),
    threshold=THRESHOLD,
    token_mode=st.booleans(),
    max_predictions=st.integers(min_value=1, max_value=4),
    rank=st.sampled_from(RANK_SORT_ALGOS),
    fuzzy=st.sampled_from([None, 0.6]),
    affinity=st.sampled_from([None, "joy"]),
)
def test_indexed_engine_equals_brute_force(
    patterns: list[list[list[str]]],
    stm: list[list[str]],
    threshold: float,
    token_mode: bool,
    max_predictions: int,
    rank: str,
    fuzzy: float | None,
    affinity: str | None,
) -> None:
    h = Harness(
        recall_threshold=threshold,
        use_token_matching=token_mode,
        max_predictions=max_predictions,
        rank_sort_algo=rank,
        fuzzy_token_threshold=fuzzy,
        affinity_emotive=affinity,
    )
    learned: dict[str, list[list[str]]] = {}
    for i, pattern in enumerate(patterns):
        emotive = {"strings": pattern[0], "emotives": {"joy": float(i % 3) - 1.0}}
        h.observe(emotive, *pattern[1:])
        name = h.learn()
        learned[name.removeprefix("PTRN|")] = h.pattern(name).pattern_data
    indexed = h.engine.predict(stm, h.config)
    brute = predict(h.engine, stm, h.config, brute_force=True)
    assert indexed.predictions == brute.predictions
    assert indexed.future_potentials == brute.future_potentials()

    state = [s for event in stm for s in event]
    if len(state) >= 2:
        expected = reference.candidates(learned, state, threshold, token_mode)
        wide = h.config.with_overrides({"max_predictions": 10000})
        got = {p["name"]: p["similarity"] for p in h.engine.predict(stm, wide).predictions}
        assert got == expected
