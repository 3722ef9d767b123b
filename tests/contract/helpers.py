"""Test-side stand-ins for what the engine computes before calling the storage ports."""

from __future__ import annotations

import hashlib
from collections import Counter

from kato.engine.ports import KnowledgeBase, PatternMerge
from kato.engine.types import Emotives, LearnUpdate, PatternData, PatternRecord


def average(emotives: list[Emotives]) -> Emotives:
    """Per key: left-to-right sum over the dicts holding the key, divided by their count."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for entry in emotives:
        for key, value in entry.items():
            sums[key] = sums.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
    return {key: sums[key] / counts[key] for key in sums}


def make_update(
    pattern: PatternData,
    emotives: list[Emotives] | None = None,
    metadata: dict[str, list[str]] | None = None,
    persistence: int = 5,
) -> LearnUpdate:
    flat = [symbol for event in pattern for symbol in event]
    emotives = emotives or []
    return LearnUpdate(
        name=hashlib.sha1(repr(pattern).encode("utf-8", "surrogatepass")).hexdigest(),
        pattern_data=pattern,
        emotives=emotives,
        metadata=metadata or {},
        persistence=persistence,
        symbol_counts=tuple(Counter(flat).items()),
        affinity_delta=average(emotives),
    )


def merge_for(update: LearnUpdate) -> PatternMerge:
    """A simple version of the engine's merge (§5.3/§5.4) for the contract tests."""

    def merge(stored: PatternRecord | None) -> PatternRecord:
        window = update.persistence
        if stored is None:
            return PatternRecord(
                name=update.name,
                pattern_data=update.pattern_data,
                frequency=1,
                emotives=update.emotives[-window:],
                metadata={k: sorted(set(v)) for k, v in update.metadata.items()},
            )
        stored.frequency += 1
        if update.emotives:
            stored.emotives = (stored.emotives + update.emotives)[-window:]
        for key, values in update.metadata.items():
            stored.metadata[key] = sorted(set(stored.metadata.get(key, [])) | set(values))
        return stored

    return merge


def learn(kb: KnowledgeBase, pattern: PatternData, emotives: list[Emotives] | None = None) -> bool:
    """Learn ``pattern`` into ``kb`` with the test merge; True when it was new."""
    update = make_update(pattern, emotives)
    return kb.learn(update, merge_for(update))
