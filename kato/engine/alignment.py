"""Flat and event alignment of a pattern against the state (engine §6.5, §6.6, §6.8)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from kato.engine.matcher import Block, BlockMatcher


def matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[Block]:
    """The greedy matcher's merged matching blocks of ``a`` against ``b`` (§6.4)."""
    return BlockMatcher(b).blocks(a)


def flat_diff(a: Sequence[str], state: BlockMatcher) -> tuple[list[str], list[str]]:
    """Items of ``a`` and of the state outside the matching blocks of ``(a, state)``.

    For ``(present_flat, state)`` these are ``missing_flat`` and ``extras_flat``.
    """
    b = state.b
    covered_a = [False] * len(a)
    covered_b = [False] * len(b)
    for i, j, size in state.blocks(a):
        for k in range(size):
            covered_a[i + k] = True
            covered_b[j + k] = True
    return (
        [item for item, hit in zip(a, covered_a, strict=True) if not hit],
        [item for item, hit in zip(b, covered_b, strict=True) if not hit],
    )


@dataclass(slots=True)
class FlatAlignment:
    """Result of §6.5 for one candidate."""

    blocks: list[Block]
    matches: list[str]
    past_flat: list[str]
    present_flat: list[str]
    extras_flat: list[str]  # flat-diff extras (only their count and weights are used)
    anomalies: list[dict[str, object]] = field(default_factory=list)


def flat_alignment(pattern: Sequence[str], state: BlockMatcher) -> FlatAlignment | None:
    """Blocks, matches and the past/present split; None when there is no block."""
    blocks = state.blocks(pattern)
    if not blocks:
        return None
    matches = [s for _, j, size in blocks for s in state.b[j : j + size]]
    i0 = blocks[0][0]
    i1, _, k1 = blocks[-1]
    present_flat = list(pattern[i0 : i1 + k1])
    return FlatAlignment(
        blocks=blocks,
        matches=matches,
        past_flat=list(pattern[:i0]),
        present_flat=present_flat,
        extras_flat=flat_diff(present_flat, state)[1],
    )


def unaligned(pattern: Sequence[str], state: BlockMatcher) -> FlatAlignment:
    """The no-block case with threshold 0: nothing matched, the whole pattern is present."""
    return FlatAlignment(
        blocks=[],
        matches=[],
        past_flat=[],
        present_flat=list(pattern),
        extras_flat=flat_diff(pattern, state)[1],
    )


def apply_fuzzy_tokens(
    alignment: FlatAlignment, pattern: Sequence[str], state: Sequence[str], threshold: float
) -> None:
    """Rebuild matches with fuzzy tokens (§6.8); blocks and regions stay exact."""
    cutoff = 100.0 * threshold
    matches: list[str] = []
    anomalies: list[dict[str, object]] = []
    extras: list[str] = []
    for token in state:
        best: str | None = None
        best_ratio = -1.0
        for candidate in pattern:
            ratio = 100.0 if candidate == token else fuzz.ratio(token, candidate)
            if ratio >= cutoff and ratio > best_ratio:
                best, best_ratio = candidate, ratio
        if best is None:
            extras.append(token)
            continue
        matches.append(token)
        if token != best:
            anomalies.append(
                {"observed": token, "expected": best, "similarity": best_ratio / 100.0}
            )
    alignment.matches = matches
    alignment.anomalies = anomalies
    alignment.extras_flat = extras


@dataclass(slots=True)
class EventAlignment:
    past: list[list[str]]
    present: list[list[str]]
    future: list[list[str]]
    missing: list[list[str]]
    extras: list[list[str]]


def expand_events(
    sequence: list[list[str]],
    stm: list[list[str]],
    alignment: FlatAlignment,
) -> EventAlignment:
    """Event expansion with the by-value fix-up, then event-aligned missing/extras (§6.6)."""
    c1 = len(alignment.past_flat)
    c2 = 0
    k = 0
    while c2 < c1:
        c2 += len(sequence[k])
        k += 1
    past = sequence[:k]
    e1 = k
    c1 += len(alignment.present_flat)
    while c2 < c1:
        c2 += len(sequence[k])
        k += 1
    present = sequence[e1:k]
    future = sequence[k:]
    matches = alignment.matches
    if past and matches and matches[0] in past[-1]:
        present = [past[-1], *present]
        past = past[:-1]
    matched = set(matches)
    present_symbols = {s for event in present for s in event}
    return EventAlignment(
        past=[list(e) for e in past],
        present=[list(e) for e in present],
        future=[list(e) for e in future],
        missing=[[s for s in event if s not in matched] for event in present],
        extras=[[s for s in event if s not in present_symbols] for event in stm],
    )
