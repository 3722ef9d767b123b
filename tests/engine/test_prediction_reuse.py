"""GET /predictions answers from an observe's predictions only when they are exactly what it
would compute (kato/engine/prediction_basis.py)."""

from __future__ import annotations

import random

import pytest

from kato.engine import Observation, SessionState
from kato.engine.prediction_basis import decode_rows, encode_rows
from kato.engine.types import GlobalStats
from tests.engine.harness import Harness

SYMBOLS = [*"abcdefgh", "é", "\ud800"]


def _event(rng: random.Random) -> list[str]:
    return rng.sample(SYMBOLS, rng.randint(1, 3))


def _operate(rng: random.Random, h: Harness, other: SessionState) -> str:
    """One random step on the node: mostly observes of the session under test."""
    engine, state = h.engine, h.state
    roll = rng.random()
    if roll < 0.55:
        h.observe(_event(rng))
        return "observe"
    if roll < 0.60:
        h.observe({"emotives": {"joy": 1.0}})  # forms no event: predictions become []
        return "empty observe"
    if roll < 0.68 and state.stm:
        h.learn()
        return "learn"
    if roll < 0.76:  # another session of the node learns
        for _ in range(2):
            engine.observe(other, Observation(strings=_event(rng)), h.config)
        engine.learn(other, h.config)
        return "other learns"
    if roll < 0.80:
        h.clear()
        return "clear stm"
    if roll < 0.85:
        engine.finalize_training()
        return "finalize"
    if roll < 0.93:
        h.configure(
            max_predictions=rng.choice([1, 3, 100]),
            recall_threshold=rng.choice([0.1, 0.5]),
            stm_mode=rng.choice(["CLEAR", "ROLLING"]),
            max_pattern_length=rng.choice([0, 3]),
            rank_sort_algo=rng.choice(["potential", "confluence"]),
        )
        return "configure"
    if roll < 0.95:
        engine.clear_all(other)
        return "clear all"
    engine.kb.restore([], [], {}, GlobalStats(0, 0, 0, 0), replace=True)  # an empty import
    return "restore"


@pytest.mark.parametrize("seed", range(12))
def test_reused_predictions_equal_computed_ones(seed: int) -> None:
    rng = random.Random(seed)
    h = Harness()
    other = SessionState()
    for pattern in ([["a"], ["b", "c"], ["d"]], [["b"], ["c"]], [["a", "e"], ["f"]]):
        for event in pattern:
            h.observe(event)
        h.learn()
    reused = stale = 0
    for _ in range(250):
        operation = _operate(rng, h, other)
        answer = h.engine.reused_predictions(h.state, h.config)
        computed = h.engine.predict(h.state.stm, h.config)
        if answer is None:
            stale += 1
            continue
        reused += 1
        assert answer.predictions == computed.predictions, operation
        assert answer.future_potentials == computed.future_potentials, operation
    assert reused > 50 and stale > 20  # both paths were exercised


def test_an_observe_is_reused_until_the_node_changes() -> None:
    h = Harness()
    h.observe(["a"], ["b"], ["c"])
    h.learn()
    h.observe(["a"], ["b"])
    first = h.engine.session_predictions(h.state, h.config)
    assert h.engine.reused_predictions(h.state, h.config) == first
    assert first.predictions and len(first.future_potentials) == 1

    other = SessionState()
    h.engine.observe(other, Observation(strings=["a"]), h.config)
    h.engine.observe(other, Observation(strings=["z"]), h.config)
    h.engine.learn(other, h.config)  # a second pattern starting with "a"
    assert h.engine.reused_predictions(h.state, h.config) is None
    after = h.engine.session_predictions(h.state, h.config)
    assert len(after.predictions) == 2

    h.configure(max_predictions=1)  # the session's configuration is part of the basis
    h.observe(["a"])
    assert h.engine.reused_predictions(h.state, h.config) is not None
    h.configure(max_predictions=2)
    assert h.engine.reused_predictions(h.state, h.config) is None


def test_processing_off_or_no_event_keeps_no_basis() -> None:
    h = Harness(process_predictions=False)
    h.observe(["a"], ["b"])
    h.learn()
    h.observe(["a"], ["b"])
    assert (
        h.state.predictions_basis == "" and h.engine.reused_predictions(h.state, h.config) is None
    )
    h.configure(process_predictions=True)
    h.observe(["a"])
    assert h.state.predictions_basis
    h.observe({"emotives": {"joy": 1.0}})
    assert h.state.predictions_basis == "" and h.state.future_rows == ""


def test_future_rows_round_trip_exactly() -> None:
    rows = [["f" * 40, 2, 0.1 + 0.2, 3, 1e-300], ["0" * 40, 0, 5e-324, 1, -0.0]]
    assert decode_rows(encode_rows(rows)) == rows


def test_the_stm_is_part_of_the_basis() -> None:
    h = Harness()
    h.observe(["a"], ["b"], ["c"])
    h.learn()
    h.observe(["a"], ["b"])
    assert h.engine.reused_predictions(h.state, h.config) is not None
    h.state.stm = h.state.stm[1:]  # as saving trims a long STM to its last events
    assert h.engine.reused_predictions(h.state, h.config) is None
