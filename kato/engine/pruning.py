"""The pre-potential of a candidate computed without building its event lists (§6.11).

Pruning to 3K needs the pre-potential of every candidate that passed the
threshold; only the survivors need full alignment. These functions give exactly
:func:`kato.engine.metrics.pre_potential` of the fully aligned candidate (a
property test checks it), from block positions and event boundaries only.
"""

from __future__ import annotations

from collections.abc import Set

from kato.engine import metrics
from kato.engine.alignment import present_events
from kato.engine.index import IndexedPattern
from kato.engine.matcher import Block, BlockMatcher


def present_length(pattern: IndexedPattern, past_flat: int, present_flat: int) -> int:
    """Symbols in the present events after event expansion and the fix-up (§6.6)."""
    first, last = present_events(pattern, past_flat, present_flat, pattern.flat[past_flat])
    starts = pattern.event_starts
    return starts[last] - starts[first]


def candidate_blocks(
    pattern: IndexedPattern, lcs: int, matcher: BlockMatcher, state_symbols: Set[str]
) -> list[Block]:
    """The matcher's blocks, in closed form when the LCS is 1.

    With one symbol in common the single block is the first pattern position whose
    symbol occurs in the state, at that symbol's first position in the state.
    """
    if lcs == 0:
        return []
    if lcs == 1:
        i0 = next(i for i, s in enumerate(pattern.flat) if s in state_symbols)
        return [(i0, matcher.positions[pattern.flat[i0]][0], 1)]
    return matcher.blocks(pattern.flat)


def pre_potential(
    pattern: IndexedPattern, blocks: list[Block], state_length: int, keep_unaligned: bool
) -> float | None:
    """The candidate's pre-potential from its blocks.

    A candidate without any matching block is dropped (None) unless
    ``keep_unaligned`` (threshold 0), where nothing matched and no block exists.
    """
    if not blocks:
        if not keep_unaligned:
            return None
        return metrics.pre_potential(0.0, 0.0, metrics.snr(0, state_length), -1.0)
    i0 = blocks[0][0]
    i1, _, k1 = blocks[-1]
    matched = sum(k for _, _, k in blocks)
    return metrics.pre_potential(
        matched / pattern.length,
        metrics.ratio_or_zero(matched, present_length(pattern, i0, i1 + k1 - i0)),
        # the flat diff finds the same blocks (see alignment.flat_alignment)
        metrics.snr(matched, state_length - matched),
        float(len(blocks) - 1),
    )
