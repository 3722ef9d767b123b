"""The worker-side summary cache follows learns made anywhere (kato.engine.summaries)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from kato.engine import summaries
from kato.engine.ports import KnowledgeBase, SummaryPosition
from kato.engine.summaries import SummaryCache
from kato.engine.types import PatternSummary
from kato.storage.embedded import EmbeddedBackend
from tests.contract.helpers import learn, make_update

FIRST, SECOND = [["a"], ["b"]], [["c"], ["d"]]


class CountingKnowledgeBase:
    """Counts the store reads the cache makes (delegates everything else)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.read: list[list[str]] = []

    def summary_changes(
        self, since: SummaryPosition | None
    ) -> tuple[SummaryPosition, list[str] | None]:
        return self.kb.summary_changes(since)

    def pattern_summaries(self, names: Iterable[str]) -> dict[str, PatternSummary]:
        self.read.append(list(names))
        return self.kb.pattern_summaries(names)


def test_cache_sees_learns_of_another_worker(tmp_path: Path) -> None:
    # Two backends on one data directory stand for two worker processes.
    here, there = EmbeddedBackend(tmp_path), EmbeddedBackend(tmp_path)
    learn(here.node("n").kb, FIRST)
    learn(here.node("n").kb, SECOND)
    first, second = make_update(FIRST).name, make_update(SECOND).name
    kb = CountingKnowledgeBase(here.node("n").kb)
    cache = SummaryCache()

    assert {n: s.frequency for n, s in cache.get(kb, [first, second]).items()} == {
        first: 1,
        second: 1,
    }
    assert cache.get(kb, [first, second, "f" * 40]) == cache.get(kb, [first, second])
    assert cache.get(kb, ["f" * 40]) == {}
    assert kb.read == [[first, second], ["f" * 40], ["f" * 40]]  # unknown names: read again

    learn(there.node("n").kb, FIRST, [{"joy": 1.0}])
    kb.read.clear()
    assert cache.get(kb, [first, second]) == {
        first: PatternSummary(2, [{"joy": 1.0}]),
        second: PatternSummary(1, []),
    }
    assert kb.read == [[first]]  # only the relearned pattern was read again

    there.node("n").kb.clear()
    assert cache.get(kb, [first, second]) == {}
    here.close()
    there.close()


def test_cache_starts_again_when_full(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path)
    node = backend.node("n").kb
    patterns = [[[f"s{i}"], ["t"]] for i in range(5)]
    for pattern in patterns:
        learn(node, pattern)
    names = [make_update(p).name for p in patterns]
    kb = CountingKnowledgeBase(node)
    cache = SummaryCache(max_cached=3)
    assert len(cache.get(kb, names[:3])) == 3
    assert len(cache.get(kb, names[3:])) == 2  # 3 + 2 > 3: dropped, then read
    assert kb.read == [names[:3], names[3:]]
    assert set(cache.get(kb, names[3:])) == set(names[3:])
    assert kb.read == [names[:3], names[3:]]  # the two are cached
    backend.close()


def test_preload_reads_in_bounded_batches_and_respects_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = EmbeddedBackend(tmp_path)
    events = [[[f"s{i}"], ["t"]] for i in range(5)]
    for pattern in events:
        learn(backend.node("n").kb, pattern)
    names = [make_update(pattern).name for pattern in events]
    kb = CountingKnowledgeBase(backend.node("n").kb)
    monkeypatch.setattr(summaries, "PRELOAD_BATCH", 2)

    assert SummaryCache(max_cached=4).preload(kb, names) == 0  # beyond the bound: nothing read
    assert kb.read == []
    cache = SummaryCache()
    assert cache.preload(kb, names) == 5
    assert kb.read == [names[0:2], names[2:4], names[4:5]]
    kb.read.clear()
    assert sorted(cache.get(kb, names)) == sorted(names)
    assert kb.read == []
    backend.close()


def test_cache_keys_are_the_callers_strings_not_the_stores_copies(tmp_path: Path) -> None:
    # A cache of a million summaries would otherwise hold a second copy of every name.
    backend = EmbeddedBackend(tmp_path)
    learn(backend.node("n").kb, FIRST)
    name = "".join(make_update(FIRST).name)  # a string object of the caller's own
    cache = SummaryCache()
    assert cache.get(backend.node("n").kb, [name])[name].frequency == 1
    assert [key is name for key in cache._summaries] == [True]
