"""KnowledgeBase contract (engine §2.1, §5): every adapter behaves the same."""

from __future__ import annotations

import threading

import pytest

from kato.engine.ports import KnowledgeBase
from kato.engine.types import (
    GlobalStats,
    PatternRecord,
    PatternSummary,
    PrecomputedMetrics,
    SymbolStats,
)
from kato.storage.ports import Backend
from tests.contract.helpers import learn, make_update, merge_for


@pytest.fixture
def kb(backend: Backend) -> KnowledgeBase:
    return backend.node("node-a").kb


def metrics(value: float) -> PrecomputedMetrics:
    return PrecomputedMetrics(value, value / 2, value / 3, (("a", 0.5), ("b", 0.25)))


def test_ports_are_implemented(backend: Backend) -> None:
    handle = backend.node("node-a")
    assert isinstance(handle.kb, KnowledgeBase)
    assert backend.node("node-a") is handle  # cached per process


def test_empty_node(kb: KnowledgeBase) -> None:
    assert kb.global_stats() == GlobalStats(0, 0, 0, 0)
    assert kb.patterns_since(0) == []
    assert list(kb.iter_patterns()) == []
    assert kb.get_patterns(["0" * 40]) == {}
    assert kb.pattern_summaries(["0" * 40]) == {}
    assert kb.all_symbol_stats() == []
    assert kb.all_affinities() == {}
    assert kb.pattern_member_frequencies(["a"]) == {}


def test_new_pattern_counters(kb: KnowledgeBase) -> None:
    update = make_update([["a", "b"], ["a"]], [{"joy": 0.8}, {"joy": 0.4}], {"src": ["x"]})
    seen: list[PatternRecord | None] = []

    def merge(stored: PatternRecord | None) -> PatternRecord:
        seen.append(stored)
        return merge_for(update)(stored)

    assert kb.learn(update, merge) is True
    assert seen == [None]
    record = kb.get_patterns([update.name])[update.name]
    assert record == PatternRecord(
        update.name, [["a", "b"], ["a"]], 1, update.emotives, {"src": ["x"]}
    )
    assert kb.global_stats() == GlobalStats(1, 1, 3, 2)
    assert kb.symbol_frequencies(["a", "b", "zz"]) == {"a": 2, "b": 1}
    assert kb.pattern_member_frequencies(["a", "b", "zz"]) == {"a": 1, "b": 1}
    assert kb.affinities(["a", "b"]) == {
        "a": {"joy": 0.6000000000000001},
        "b": {"joy": 0.6000000000000001},
    }


def test_relearn_counts_frequency_not_membership(kb: KnowledgeBase) -> None:
    pattern = [["a", "b"], ["a"]]
    assert learn(kb, pattern, [{"v": 0.0}, {"v": 1.0}, {"v": 2.0}]) is True
    version = kb.version()
    update = make_update(pattern, [{"v": 3.0}, {"v": 4.0}, {"v": 5.0}])
    seen: list[int | None] = []

    def merge(stored: PatternRecord | None) -> PatternRecord:
        seen.append(None if stored is None else stored.frequency)
        return merge_for(update)(stored)

    assert kb.learn(update, merge) is False
    assert seen == [1]
    record = kb.get_patterns([update.name])[update.name]
    assert record.frequency == 2
    assert record.emotives == [{"v": x} for x in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert kb.pattern_summaries(["f" * 40, update.name]) == {
        update.name: PatternSummary(2, record.emotives)
    }
    assert kb.global_stats() == GlobalStats(1, 1, 6, 2)
    assert kb.symbol_frequencies(["a", "b"]) == {"a": 4, "b": 2}
    assert kb.pattern_member_frequencies(["a", "b"]) == {"a": 1, "b": 1}
    assert kb.affinities(["a"]) == {"a": {"v": 1.0 + 4.0}}
    assert kb.version() == version  # re-learn creates nothing


def test_symbol_statistics_example_e13(kb: KnowledgeBase) -> None:
    for pattern in (
        ["k", "l", "m"],
        ["k", "l", "m"],
        ["k", "l", "n"],
        ["k", "l", "o", "p"],
        ["k", "q"],
    ):
        learn(kb, [[s] for s in pattern])
    assert kb.global_stats() == GlobalStats(4, 4, 15, 7)
    stats = {s.name: (s.frequency, s.pattern_member_frequency) for s in kb.all_symbol_stats()}
    assert stats == {
        "k": (5, 4),
        "l": (4, 3),
        "m": (2, 1),
        "n": (1, 1),
        "o": (1, 1),
        "p": (1, 1),
        "q": (1, 1),
    }


def test_version_and_generation(kb: KnowledgeBase) -> None:
    v0, g0 = kb.version(), kb.generation()
    learn(kb, [["a"], ["b"]])
    v1 = kb.version()
    assert v1 > v0 and kb.generation() == g0
    learn(kb, [["a"], ["b"]])
    assert kb.version() == v1
    learn(kb, [["c"], ["d"]])
    v2 = kb.version()
    assert v2 > v1
    kb.clear()
    v3, g1 = kb.version(), kb.generation()
    assert v3 > v2 and g1 != g0
    learn(kb, [["a"], ["b"]])
    assert kb.version() > v3  # never goes back, not even after clear
    assert kb.generation() == g1


def test_patterns_since_follows_creation_order(kb: KnowledgeBase) -> None:
    patterns = [[["z"], ["y"]], [["a"], ["b"]], [["m", "n"]]]
    for pattern in patterns:
        learn(kb, pattern)
    learn(kb, patterns[0])  # re-learn: no new sequence number
    feed = kb.patterns_since(0)
    assert [seq for seq, _, _ in feed] == [1, 2, 3]
    assert [data for _, _, data in feed] == patterns
    assert [name for _, name, _ in feed] == [make_update(p).name for p in patterns]
    assert kb.patterns_since(2) == feed[2:]
    assert kb.patterns_since(3) == []
    kb.clear()
    learn(kb, [["q"], ["r"]])
    assert kb.patterns_since(0) == [(1, make_update([["q"], ["r"]]).name, [["q"], ["r"]])]


def test_iteration_and_lookup_in_name_order(kb: KnowledgeBase) -> None:
    names = [make_update(p).name for p in ([["a"], ["b"]], [["c"], ["d"]], [["e", "f"]])]
    for pattern in ([["a"], ["b"]], [["c"], ["d"]], [["e", "f"]]):
        learn(kb, pattern)
    assert [r.name for r in kb.iter_patterns()] == sorted(names)
    found = kb.get_patterns([names[2], "f" * 40, names[0]])
    assert set(found) == {names[0], names[2]}
    assert found[names[0]].pattern_data == [["a"], ["b"]]


def test_precomputed_metrics_valid_only_for_their_version(kb: KnowledgeBase) -> None:
    learn(kb, [["a"], ["b"]])
    name = make_update([["a"], ["b"]]).name
    version = kb.version()
    assert kb.precomputed_metrics([name]) == {}
    assert kb.store_precomputed({name: metrics(1.0)}, version) is True
    assert kb.precomputed_metrics([name, "x" * 40]) == {name: metrics(1.0)}
    learn(kb, [["a"], ["b"]])  # re-learn keeps them
    assert kb.precomputed_metrics([name]) == {name: metrics(1.0)}
    learn(kb, [["c"], ["d"]])  # a new pattern discards them
    assert kb.precomputed_metrics([name]) == {}
    assert kb.store_precomputed({name: metrics(2.0)}, version) is False
    assert kb.precomputed_metrics([name]) == {}
    assert kb.store_precomputed({name: metrics(3.0)}, kb.version()) is True
    assert kb.precomputed_metrics([name]) == {name: metrics(3.0)}
    kb.clear()
    assert kb.precomputed_metrics([name]) == {}


def test_affinity_keeps_first_seen_key_order(kb: KnowledgeBase) -> None:
    learn(kb, [["b"], ["a"]], [{"joy": 1.0, "anger": 2.0}])
    learn(kb, [["b"], ["c"]], [{"calm": 0.5, "joy": 2.0}])
    learn(kb, [["x"], ["y"]])  # no emotives: no affinity entries
    affinities = kb.all_affinities()
    assert list(affinities) == ["a", "b", "c"]
    assert list(affinities["b"].items()) == [("joy", 3.0), ("anger", 2.0), ("calm", 0.5)]
    assert affinities["a"] == {"joy": 1.0, "anger": 2.0}
    assert list(affinities["c"]) == ["calm", "joy"]
    assert kb.affinities(["x", "c"]) == {"c": {"calm": 0.5, "joy": 2.0}}


def test_symbol_stats_in_code_point_order(kb: KnowledgeBase) -> None:
    symbols = ["é", "b", "B", "😀", "a", "\uffff", "Z", "VCTR|1", "\ud800"]
    learn(kb, [[s] for s in symbols])
    stats = kb.all_symbol_stats()
    assert [s.name for s in stats] == sorted(symbols)
    assert stats[0] == SymbolStats("B", 1, 1)
    assert kb.symbol_frequencies(["\ud800"]) == {"\ud800": 1}
    record = kb.get_patterns([make_update([[s] for s in symbols]).name])
    assert next(iter(record.values())).pattern_data == [[s] for s in symbols]


def test_clear_deletes_everything(kb: KnowledgeBase) -> None:
    learn(kb, [["a"], ["b"]], [{"joy": 1.0}])
    kb.store_precomputed({make_update([["a"], ["b"]]).name: metrics(1.0)}, kb.version())
    kb.clear()
    assert kb.global_stats() == GlobalStats(0, 0, 0, 0)
    assert kb.all_symbol_stats() == []
    assert kb.all_affinities() == {}
    assert list(kb.iter_patterns()) == []
    assert kb.patterns_since(0) == []
    assert learn(kb, [["a"], ["b"]]) is True


def test_failed_merge_changes_nothing(kb: KnowledgeBase) -> None:
    learn(kb, [["a"], ["b"]])
    version, stats = kb.version(), kb.global_stats()
    update = make_update([["c"], ["d"]], [{"joy": 1.0}])

    def broken(stored: PatternRecord | None) -> PatternRecord:
        raise ValueError("merge failed")

    with pytest.raises(ValueError, match="merge failed"):
        kb.learn(update, broken)
    assert kb.version() == version
    assert kb.global_stats() == stats
    assert kb.get_patterns([update.name]) == {}
    assert kb.symbol_frequencies(["c", "d"]) == {}


def test_nodes_are_isolated(backend: Backend) -> None:
    first, second = backend.node("node-a").kb, backend.node("node-b").kb
    learn(first, [["a"], ["b"]])
    assert second.global_stats() == GlobalStats()
    assert second.all_symbol_stats() == []
    assert list(backend.nodes()) == ["node-a"]


def test_concurrent_learns_of_one_pattern_count_once(kb: KnowledgeBase) -> None:
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        for _ in range(5):
            learn(kb, [["a", "b"], ["c"]], [{"joy": 1.0}])

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    name = make_update([["a", "b"], ["c"]]).name
    assert kb.get_patterns([name])[name].frequency == 30
    assert kb.global_stats() == GlobalStats(1, 1, 90, 3)
    assert kb.pattern_member_frequencies(["a"]) == {"a": 1}
    assert kb.affinities(["a"]) == {"a": {"joy": 30.0}}
    assert len(kb.patterns_since(0)) == 1


def test_summary_change_log(kb: KnowledgeBase) -> None:
    start, names = kb.summary_changes(None)
    assert names is None  # no position yet: the reader must drop what it cached
    assert kb.summary_changes(start) == (start, [])
    first, second = [["a"], ["b"]], [["c"], ["d"]]
    learn(kb, first)
    after_one, names = kb.summary_changes(start)
    assert after_one != start
    # Every backend names what changed (a reader far behind may get None instead).
    assert names == [make_update(first).name]
    learn(kb, second)
    learn(kb, first)  # a re-learn changes the frequency: logged too
    now, names = kb.summary_changes(after_one)
    assert names is not None
    assert sorted(set(names)) == sorted({make_update(first).name, make_update(second).name})
    assert kb.summary_changes(now) == (now, [])
    kb.clear()
    cleared, names = kb.summary_changes(now)
    assert names is None and cleared != now


def test_change_log_moves_with_stored_metrics(kb: KnowledgeBase) -> None:
    """Predictions read precomputed metrics: storing them moves the position (no names)."""
    learn(kb, [["a"], ["b"]])
    name = make_update([["a"], ["b"]]).name
    before, _ = kb.summary_changes(None)
    assert kb.store_precomputed({name: metrics(1.0)}, kb.version()) is True
    after, names = kb.summary_changes(before)
    assert after != before
    assert names == [] or names == [""]  # no pattern's summary changed
    assert kb.store_precomputed({name: metrics(2.0)}, kb.version() + 1) is False
    assert kb.summary_changes(after)[0] == after  # nothing stored, nothing moved


def test_failed_learn_logs_no_change(kb: KnowledgeBase) -> None:
    learn(kb, [["a"], ["b"]])
    position, _ = kb.summary_changes(None)

    def broken(stored: PatternRecord | None) -> PatternRecord:
        raise ValueError("merge failed")

    with pytest.raises(ValueError, match="merge failed"):
        kb.learn(make_update([["a"], ["b"]]), broken)
    assert kb.summary_changes(position) == (position, [])
