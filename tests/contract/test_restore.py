"""KnowledgeBase.restore: one atomic bulk write with exact counters, on every adapter."""

from __future__ import annotations

import math

import pytest

from kato.engine.types import GlobalStats, PatternRecord, SymbolStats
from kato.storage.ports import Backend
from tests.contract.helpers import learn, make_update

P1 = PatternRecord("a" * 40, [["x", "y"], ["z"]], 3, [{"joy": 0.5}], {"src": ["doc"]})
P2 = PatternRecord("b" * 40, [["y"], ["\ud800"]], 1, [], {})
SYMBOLS = [
    SymbolStats("x", 3, 1),
    SymbolStats("y", 4, 2),
    SymbolStats("z", 3, 1),
    SymbolStats("\ud800", 1, 1),
]
AFFINITIES = {"y": {"joy": -0.0, "fear": 0.1 + 0.2}, "x": {"joy": 1e-300}}
STATS = GlobalStats(2, 2, 11, 4)


def test_restore_writes_exactly_what_it_is_given(backend: Backend) -> None:
    handle = backend.node("restore")
    kb = handle.kb
    version, generation = kb.version(), kb.generation()
    position, _ = kb.summary_changes(None)
    assert kb.restore([P1, P2], SYMBOLS, AFFINITIES, STATS) is True
    assert kb.version() != version and kb.generation() != generation
    assert kb.summary_changes(position) == (kb.summary_changes(None)[0], None)
    assert kb.summary_changes(None)[0] != position
    assert kb.global_stats() == STATS
    assert list(kb.iter_patterns()) == [P1, P2]
    assert kb.get_patterns([P2.name]) == {P2.name: P2}
    assert [(seq, name) for seq, name, _ in kb.patterns_since(0)] == [(1, P1.name), (2, P2.name)]
    assert kb.all_symbol_stats() == sorted(SYMBOLS, key=lambda s: s.name)
    assert kb.pattern_member_frequencies(["y", "\ud800"]) == {"y": 2, "\ud800": 1}
    affinities = kb.all_affinities()
    assert list(affinities) == ["x", "y"]
    assert list(affinities["y"]) == ["joy", "fear"]  # stored key order
    assert math.copysign(1.0, affinities["y"]["joy"]) == -1.0  # -0.0 stays negative
    assert affinities["y"]["fear"] == 0.30000000000000004
    assert affinities["x"] == {"joy": 1e-300}
    # Learning on top continues from the restored counters.
    update = make_update([["y"], ["\ud800"]])
    assert update.name != P2.name  # the helper names patterns its own way
    learn(kb, [["x", "y"], ["z"]])
    assert kb.global_stats() == GlobalStats(3, 3, 14, 4)
    assert kb.symbol_frequencies(["x"]) == {"x": 4}


def test_restore_refuses_a_non_empty_node_unless_replace(backend: Backend) -> None:
    kb = backend.node("restore").kb
    learn(kb, [["old"], ["stuff"]])
    before = list(kb.iter_patterns())
    assert kb.restore([P1, P2], SYMBOLS, AFFINITIES, STATS) is False
    assert list(kb.iter_patterns()) == before
    assert kb.restore([P1, P2], SYMBOLS, AFFINITIES, STATS, replace=True) is True
    assert list(kb.iter_patterns()) == [P1, P2]
    assert kb.symbol_frequencies(["old"]) == {}
    assert kb.global_stats() == STATS


def test_restore_of_nothing_empties_the_node(backend: Backend) -> None:
    kb = backend.node("restore").kb
    learn(kb, [["old"], ["stuff"]])
    assert kb.restore([], [], {}, GlobalStats(), replace=True) is True
    assert kb.global_stats() == GlobalStats()
    assert kb.all_symbol_stats() == [] and kb.all_affinities() == {}


@pytest.mark.parametrize(
    ("stats", "affinities", "message"),
    [
        (GlobalStats(3, 3, 11, 4), AFFINITIES, "patterns"),
        (GlobalStats(2, 2, 12, 4), AFFINITIES, "symbols in patterns"),
        (GlobalStats(2, 2, 11, 3), AFFINITIES, "distinct"),
        (STATS, {"nope": {"joy": 1.0}}, "unknown symbol"),
    ],
)
def test_inconsistent_input_changes_nothing(
    backend: Backend, stats: GlobalStats, affinities: dict[str, dict[str, float]], message: str
) -> None:
    kb = backend.node("restore").kb
    learn(kb, [["keep"], ["me"]])
    before = (list(kb.iter_patterns()), kb.all_symbol_stats(), kb.global_stats())
    with pytest.raises(ValueError, match=message):
        kb.restore([P1, P2], SYMBOLS, affinities, stats, replace=True)
    assert (list(kb.iter_patterns()), kb.all_symbol_stats(), kb.global_stats()) == before
