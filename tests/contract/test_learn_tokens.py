"""Exactly-once learns (LearnUpdate.token): every adapter applies a token at most once."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from kato.engine.ports import KnowledgeBase
from kato.engine.types import GlobalStats, PatternRecord
from kato.storage.ports import Backend
from tests.contract.helpers import make_update, merge_for


def tokened_learn(kb: KnowledgeBase, pattern: list[list[str]], token: str | None) -> bool:
    update = dataclasses.replace(make_update(pattern, [{"joy": 0.5}]), token=token)
    return kb.learn(update, merge_for(update))


def test_a_token_is_applied_once(backend: Backend) -> None:
    kb = backend.node("tokens").kb
    assert tokened_learn(kb, [["a"], ["b"]], "s1:key:r1/1") is True
    assert tokened_learn(kb, [["a"], ["b"]], "s1:key:r1/1") is False  # the retry
    update = make_update([["a"], ["b"]])
    assert kb.get_patterns([update.name])[update.name].frequency == 1
    assert kb.global_stats() == GlobalStats(1, 1, 2, 2)
    assert kb.symbol_frequencies(["a", "b"]) == {"a": 1, "b": 1}
    assert kb.affinities(["a"]) == {"a": {"joy": 0.5}}
    # Another token, or none, is a new learn of the same pattern.
    assert tokened_learn(kb, [["a"], ["b"]], "s1:key:r1/2") is False
    assert tokened_learn(kb, [["a"], ["b"]], None) is False
    assert kb.get_patterns([update.name])[update.name].frequency == 3
    assert kb.symbol_frequencies(["a", "b"]) == {"a": 3, "b": 3}
    assert kb.affinities(["a"]) == {"a": {"joy": 1.5}}


def test_a_skipped_learn_does_not_call_merge(backend: Backend) -> None:
    kb = backend.node("tokens").kb
    tokened_learn(kb, [["x"], ["y"]], "t/1")
    calls: list[PatternRecord | None] = []
    update = dataclasses.replace(make_update([["x"], ["y"]]), token="t/1")

    def merge(stored: PatternRecord | None) -> PatternRecord:
        calls.append(stored)
        return merge_for(update)(stored)

    assert kb.learn(update, merge) is False
    assert calls == []


def test_a_failed_learn_does_not_use_up_its_token(backend: Backend) -> None:
    kb = backend.node("tokens").kb
    update = dataclasses.replace(make_update([["p"], ["q"]]), token="fail/1")

    def broken(_stored: PatternRecord | None) -> PatternRecord:
        raise RuntimeError("merge failed")

    with pytest.raises(RuntimeError, match="merge failed"):
        kb.learn(update, broken)
    assert kb.global_stats() == GlobalStats()
    assert kb.learn(update, merge_for(update)) is True
    assert kb.global_stats().total_unique_patterns == 1


def test_tokens_are_per_node_and_survive_clear(backend: Backend) -> None:
    one, two = backend.node("tokens-1").kb, backend.node("tokens-2").kb
    assert tokened_learn(one, [["m"], ["n"]], "shared/1") is True
    assert tokened_learn(two, [["m"], ["n"]], "shared/1") is True  # another node
    one.clear()
    # A request retried after a clear-all counts its learn once: in the history where it
    # ran before the clear, so the pattern stays deleted.
    assert tokened_learn(one, [["m"], ["n"]], "shared/1") is False
    assert one.global_stats() == GlobalStats()
    assert tokened_learn(one, [["m"], ["n"]], "shared/2") is True


def test_concurrent_attempts_of_one_token_count_once(backend: Backend) -> None:
    kb = backend.node("tokens").kb
    results: list[bool] = []
    lock = threading.Lock()

    def attempt(token: str) -> None:
        new = tokened_learn(kb, [["c"], ["d"]], token)
        with lock:
            results.append(new)

    threads = [threading.Thread(target=attempt, args=(f"req-{i % 3}/1",)) for i in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    update = make_update([["c"], ["d"]])
    assert kb.get_patterns([update.name])[update.name].frequency == 3
    assert kb.symbol_frequencies(["c"]) == {"c": 3}
    assert sorted(results) == [False] * 8 + [True]
