"""Observation processing, STM, auto-learn and bad input (engine §3, §4, §5.1)."""

from __future__ import annotations

import copy
import math

import pytest

from kato.engine import EmptySTMError, InvalidObservationError, Observation, VectorDimensionError
from kato.engine.naming import pattern_name, vector_name
from kato.engine.types import SessionState
from tests.engine.harness import Harness


def _snapshot(h: Harness) -> tuple[object, ...]:
    return (
        copy.deepcopy(h.state.to_dict()),
        h.engine.vectors.pending(),
        h.engine.vectors.all_vectors(),
        h.engine.kb.global_stats(),
    )


@pytest.mark.parametrize(
    "observation",
    [
        Observation(vectors=[[1.0, math.nan]]),
        Observation(vectors=[[math.inf]]),
        Observation(vectors=[[]]),
        Observation(emotives={"joy": math.nan}),
        Observation(emotives={"joy": -math.inf}),
        Observation(strings=[1]),  # type: ignore[list-item]
        # Values of the wrong type where a compiled engine reads typed fields
        # (kato/engine/compiled.py): rejected, not a TypeError.
        Observation(vectors=[["1.0"]]),  # type: ignore[list-item]
        Observation(vectors=[[True]]),
        Observation(vectors="[[1.0]]"),  # type: ignore[arg-type]
        Observation(emotives={1: 0.5}),  # type: ignore[dict-item]
        Observation(emotives={"joy": "0.5"}),  # type: ignore[dict-item]
        Observation(emotives=[("joy", 0.5)]),  # type: ignore[arg-type]
        Observation(metadata=["k"]),  # type: ignore[arg-type]
    ],
)
def test_invalid_observation_raises_and_changes_nothing(observation: Observation) -> None:
    h = Harness()
    h.observe("a")
    before = _snapshot(h)
    with pytest.raises(InvalidObservationError):
        h.engine.observe(h.state, observation, h.config)
    assert _snapshot(h) == before


def test_vectors_of_different_lengths_in_one_observation() -> None:
    h = Harness()
    before = _snapshot(h)
    with pytest.raises(VectorDimensionError) as error:
        h.observe({"vectors": [[1, 2, 3], [1, 2]]})
    assert (error.value.expected_dimension, error.value.actual_dimension) == (3, 2)
    assert error.value.vector_name is None
    assert _snapshot(h) == before


def test_node_dimension_mismatch_is_rejected_before_any_change() -> None:
    h = Harness()
    h.observe({"strings": ["a"], "vectors": [[1, 0, 0]]}, "b")
    h.learn()
    before = _snapshot(h)
    with pytest.raises(VectorDimensionError) as error:
        h.observe({"strings": ["c"], "vectors": [[1, 2, 3, 4]]})
    assert str(error.value) == "Vector dimension mismatch: expected 3, got 4"
    assert error.value.vector_name == vector_name([1.0, 2.0, 3.0, 4.0])
    assert _snapshot(h) == before


def test_forced_dimension_rejects_the_first_vector() -> None:
    from kato.engine.node import EngineSettings, NodeEngine

    h = Harness()
    h.engine = NodeEngine(
        h.engine.kb, h.engine.vectors, h.engine.index, EngineSettings(forced_vector_dimension=2)
    )
    with pytest.raises(VectorDimensionError):
        h.observe({"vectors": [[1, 2, 3]]})


def test_pending_vector_of_another_dimension_is_dropped_at_flush() -> None:
    h = Harness()
    other = Harness(backend=h.backend)  # a second session of the same node
    h.observe({"strings": ["a"], "vectors": [[1, 0]]})
    other.observe({"strings": ["b"], "vectors": [[1, 0, 0]]})
    assert len(h.engine.vectors.pending()) == 2
    h.observe("c")
    h.learn()
    assert [len(v) for _, v in h.engine.vectors.all_vectors()] == [2]
    assert h.engine.vectors.pending() == []


def test_empty_observation_advances_time_only() -> None:
    h = Harness()
    h.observe("a")
    h.observe({"emotives": {"e": 1.0}, "metadata": {"k": "v"}})
    assert h.state.stm == [["a"]]
    assert h.state.time == 2
    assert h.state.predictions == []
    assert h.state.emotives_accumulator == [{"e": 1.0}]
    assert h.state.metadata_accumulator == [{"k": "v"}]


def test_empty_string_is_a_symbol_and_order_rules() -> None:
    h = Harness()
    h.observe([""])
    assert h.state.stm == [[""]]
    h.observe({"strings": ["b", "a"], "vectors": [[1.0]]})
    assert h.state.stm[-1][1:] == ["a", "b"]
    assert h.state.stm[-1][0].startswith("VCTR|")
    assert h.state.percept_data["strings"] == ["a", "b"]
    h.configure(sort_symbols=False)
    h.observe(["z", "A", "m"])
    assert h.state.stm[-1] == ["z", "A", "m"]
    assert h.state.percept_data["strings"] == ["A", "m", "z"]  # always shown sorted (quirk)


def test_learn_needs_two_symbols_but_always_clears_and_consumes() -> None:
    h = Harness()
    h.observe({"strings": ["single"], "emotives": {"e": 1.0}, "metadata": {"k": 1}})
    assert h.learn() == ""
    assert h.state.stm == []
    assert h.state.emotives_accumulator == []
    assert h.state.metadata_accumulator == []
    assert h.engine.kb.global_stats().total_unique_patterns == 0
    h.observe("x", "x")
    assert h.learn().startswith("PTRN|")
    with pytest.raises(EmptySTMError):
        h.learn()


def test_rolling_with_length_one_keeps_the_whole_stm() -> None:
    h = Harness()
    h.observe("a", "b")
    h.configure(max_pattern_length=1, stm_mode="ROLLING")
    h.observe("c")
    assert h.state.stm == [["a"], ["b"], ["c"]]  # w = 0 keeps everything (quirk)
    h.observe("d")
    assert h.state.stm == [["a"], ["b"], ["c"], ["d"]]
    assert h.engine.kb.global_stats().total_unique_patterns == 2


def test_lowering_the_limit_learns_the_whole_stm() -> None:
    h = Harness()
    h.observe("a", "b", "c", "d")
    h.configure(max_pattern_length=2, stm_mode="ROLLING")
    (name,) = h.observe("e")
    assert name is not None
    assert h.pattern(name).pattern_data == [["a"], ["b"], ["c"], ["d"], ["e"]]
    assert h.state.stm == [["e"]]


def test_length_one_clear_mode_learns_each_event() -> None:
    h = Harness(max_pattern_length=1)
    first, second = h.observe(["a", "b"], "c")
    assert first == pattern_name([["a", "b"]])
    assert second is None  # a single symbol is not learnable: null, not ""
    assert h.state.stm == []


def test_state_is_trimmed_to_1000_entries_when_saved() -> None:
    state = SessionState(stm=[["s"]] * 1005, emotives_accumulator=[{"e": 1.0}] * 1001, time=7)
    saved = state.trimmed()
    assert len(saved.stm) == 1000
    assert len(saved.emotives_accumulator) == 1000
    assert len(state.stm) == 1005


def test_clear_all_empties_the_node_and_the_calling_session_only() -> None:
    h = Harness()
    other = Harness(backend=h.backend)
    other.observe("keep")
    h.observe({"strings": ["a"], "vectors": [[1.0]]}, "b")
    h.learn()
    h.observe({"strings": ["c"], "vectors": [[2.0]]})  # stays pending
    assert len(h.engine.vectors.pending()) == 1
    h.engine.clear_all(h.state)
    assert h.engine.kb.global_stats().total_unique_patterns == 0
    assert h.engine.vectors.dimension() is None
    assert h.engine.vectors.pending() == []
    assert h.state.stm == [] and h.state.time == 0
    assert other.state.stm == [["keep"]]
    h.observe({"vectors": [[1.0, 2.0, 3.0]]})  # the dimension was released
