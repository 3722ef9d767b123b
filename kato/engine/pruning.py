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
from kato.engine.matcher import BlockMatcher


def present_length(pattern: IndexedPattern, past_flat: int, present_flat: int) -> int:
    """Symbols in the present events after event expansion and the fix-up (§6.6)."""
    first, last = present_events(pattern, past_flat, present_flat, pattern.flat[past_flat])
    starts = pattern.event_starts
    return starts[last] - starts[first]


def pre_potential(
    pattern: IndexedPattern,
    lcs: int,
    matcher: BlockMatcher,
    state_symbols: Set[str],
    keep_unaligned: bool,
) -> float | None:
    """The candidate's pre-potential.

    A candidate without any matching block is dropped (None) unless
    ``keep_unaligned`` (threshold 0), where nothing matched and no block exists.
    """
    size = len(matcher.b)
    if lcs == 0:
        if not keep_unaligned:
            return None
        return metrics.pre_potential(0.0, 0.0, metrics.snr(0, size), -1.0)
    if lcs == 1:
        # One matched symbol: the single block is the first pattern symbol found in the state.
        i0 = next(i for i, s in enumerate(pattern.flat) if s in state_symbols)
        matched, blocks, span, extras = 1, 1, 1, size - 1
    else:
        found = matcher.blocks(pattern.flat)
        i0 = found[0][0]
        i1, _, k1 = found[-1]
        span = i1 + k1 - i0
        matched = sum(k for _, _, k in found)
        blocks = len(found)
        extras = size - matched  # the flat diff finds the same blocks (see flat_alignment)
    return metrics.pre_potential(
        matched / pattern.length,
        metrics.ratio_or_zero(matched, present_length(pattern, i0, span)),
        metrics.snr(matched, extras),
        float(blocks - 1),
    )
