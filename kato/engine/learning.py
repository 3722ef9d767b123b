"""Learning a pattern from the STM (engine §5)."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import TYPE_CHECKING

from kato.engine.config import EngineConfig
from kato.engine.emotives import (
    accumulate_metadata,
    average_emotives,
    emotive_window,
    merge_metadata,
)
from kato.engine.naming import PATTERN_PREFIX, pattern_hash
from kato.engine.types import LearnUpdate, PatternData, PatternRecord, SessionState

if TYPE_CHECKING:
    from kato.engine.node import NodeEngine

MIN_PATTERN_SYMBOLS = 2


def merge_pattern(update: LearnUpdate, stored: PatternRecord | None) -> PatternRecord:
    """The pattern record after this learn: new (§5.3) or re-learned (§5.4)."""
    if stored is None:
        return PatternRecord(
            name=update.name,
            pattern_data=[list(event) for event in update.pattern_data],
            frequency=1,
            emotives=emotive_window([], update.emotives, update.persistence),
            metadata=dict(update.metadata),
        )
    return PatternRecord(
        name=stored.name,
        pattern_data=stored.pattern_data,
        frequency=stored.frequency + 1,
        emotives=(
            emotive_window(stored.emotives, update.emotives, update.persistence)
            if update.emotives
            else stored.emotives
        ),
        metadata=merge_metadata(stored.metadata, update.metadata)
        if update.metadata
        else stored.metadata,
    )


def build_update(
    pattern_data: PatternData,
    emotives: list[dict[str, float]],
    metadata: list[dict[str, object]],
    persistence: int,
    token: str | None = None,
) -> LearnUpdate:
    flat = [symbol for event in pattern_data for symbol in event]
    return LearnUpdate(
        name=pattern_hash(pattern_data),
        pattern_data=[list(event) for event in pattern_data],
        emotives=list(emotives),
        metadata=accumulate_metadata(metadata),
        persistence=persistence,
        symbol_counts=tuple(Counter(flat).items()),
        affinity_delta=average_emotives(emotives) if emotives else {},
        token=token,
    )


def learn(engine: NodeEngine, state: SessionState, config: EngineConfig) -> str:
    """Learn the whole STM, clear it and consume the accumulators.

    Returns ``"PTRN|<hash>"``, or ``""`` when the STM holds fewer than two symbols
    (then nothing is written, but vectors are flushed and accumulators consumed).
    """
    engine.vectors.flush_pending(engine.settings.forced_vector_dimension)
    pattern_data = state.stm
    emotives = state.emotives_accumulator
    metadata = state.metadata_accumulator
    state.stm = []
    state.emotives_accumulator = []
    state.metadata_accumulator = []
    if sum(len(event) for event in pattern_data) < MIN_PATTERN_SYMBOLS:
        return ""
    token = engine.next_learn_token()
    update = build_update(pattern_data, emotives, metadata, config.persistence, token)
    engine.kb.learn(update, partial(merge_pattern, update))
    return PATTERN_PREFIX + update.name
