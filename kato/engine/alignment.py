"""Flat and event alignment of a pattern against the state (engine §6.5, §6.6, §6.8)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from rapidfuzz import fuzz

from kato.engine.index import IndexedPattern
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


@dataclass(slots=True, init=False)
class FlatAlignment:
    """Result of §6.5 for one candidate."""

    blocks: list[Block]
    matches: list[str]
    past_length: int  # len(past_flat)
    present_length: int  # len(present_flat)
    extras_count: int  # len(extras_flat) of the flat diff: only the count is ever used
    anomalies: list[dict[str, object]]

    # Written out because mypyc compiles an explicit __init__, while a dataclass's
    # generated one stays interpreted Python (several hundred are built per prediction).
    def __init__(
        self,
        blocks: list[Block],
        matches: list[str],
        past_length: int,
        present_length: int,
        extras_count: int,
        anomalies: list[dict[str, object]] | None = None,
    ) -> None:
        self.blocks = blocks
        self.matches = matches
        self.past_length = past_length
        self.present_length = present_length
        self.extras_count = extras_count
        self.anomalies = [] if anomalies is None else anomalies


def flat_alignment(
    pattern: Sequence[str], state: BlockMatcher, blocks: list[Block] | None = None
) -> FlatAlignment | None:
    """Blocks, matches and the past/present split; None when there is no block.

    The flat diff of ``(present_flat, state)`` finds exactly the blocks of
    ``(pattern, state)`` (they all lie in the present region, and the matcher's
    choices inside it are the same), so its extras are the state items outside
    those blocks and their count is ``S - matched``; no second matcher run is
    needed (property-tested). ``blocks`` may be given when the caller already ran
    the matcher.
    """
    if blocks is None:
        blocks = state.blocks(pattern)
    if not blocks:
        return None
    b = state.b
    matches = [s for _, j, size in blocks for s in b[j : j + size]]
    i0 = blocks[0][0]
    i1, _, k1 = blocks[-1]
    return FlatAlignment(
        blocks=blocks,
        matches=matches,
        past_length=i0,
        present_length=i1 + k1 - i0,
        extras_count=len(b) - len(matches),
    )


def unaligned(pattern: Sequence[str], state: BlockMatcher) -> FlatAlignment:
    """The no-block case with threshold 0: nothing matched, the whole pattern is present."""
    return FlatAlignment(
        blocks=[],
        matches=[],
        past_length=0,
        present_length=len(pattern),
        extras_count=len(state.b),  # no block: nothing of the state is matched
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
    alignment.extras_count = len(extras)


class EventAlignment:
    """The event lists of §6.6 for one returned prediction.

    Ensemble members that are not returned never need them: the ensemble works
    from the present range alone (see ``kato.engine.prediction``).
    """

    __slots__ = ("extras", "future", "missing", "past", "present")

    def __init__(
        self,
        pattern: IndexedPattern,
        stm: list[list[str]],
        first: int,
        last: int,
        matched: set[str],
    ) -> None:
        flat, starts = pattern.flat, pattern.event_starts
        events = [list(flat[start:end]) for start, end in pairwise(starts)]
        self.past = events[:first]
        self.present = events[first:last]
        self.future = events[last:]
        self.missing = [[s for s in event if s not in matched] for event in self.present]
        present_symbols = set(flat[starts[first] : starts[last]])
        self.extras = [[s for s in event if s not in present_symbols] for event in stm]


def present_events(
    pattern: IndexedPattern, past_flat: int, present_flat: int, first_match: str | None
) -> tuple[int, int]:
    """The present events ``[first, last)`` of §6.6's expansion, fix-up included.

    ``first`` is the smallest event index whose start is at or after the flat past,
    ``last`` the smallest whose start is at or after the end of the flat present;
    then the by-value fix-up moves the last past event into the present when it
    holds (another copy of) the first matched symbol.
    """
    starts = pattern.event_starts
    first = bisect_left(starts, past_flat)
    last = bisect_left(starts, past_flat + present_flat, lo=first)
    if first > 0 and first_match is not None and first_match in pattern.event(first - 1):
        first -= 1
    return first, last


def present_range(pattern: IndexedPattern, alignment: FlatAlignment) -> tuple[int, int]:
    """The present events ``[first, last)`` of a flat alignment (§6.6), fix-up included."""
    matches = alignment.matches
    return present_events(
        pattern,
        alignment.past_length,
        alignment.present_length,
        matches[0] if matches else None,
    )
