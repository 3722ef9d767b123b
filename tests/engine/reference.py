"""A straightforward evaluation of the spec's candidate definition, for property tests.

It shares no code with the engine's candidate search: LCS by dynamic
programming, every pattern evaluated, the threshold tests written out.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher


def lcs_length(a: Sequence[object], b: Sequence[object]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def similarity(pattern: list[str], state: list[str], token_mode: bool) -> tuple[float, float]:
    """(score, similarity) exactly as §6.3 writes them."""
    if token_mode:
        score = ((2.0 * lcs_length(pattern, state)) / (len(pattern) + len(state))) * 100.0
    else:
        a, b = " ".join(state), " ".join(pattern)
        n = len(a) + len(b)
        score = 100.0 if n == 0 else (1.0 - (n - 2 * lcs_length(a, b)) / n) * 100.0
    return score, score / 100.0


def candidates(
    patterns: dict[str, list[list[str]]], state: list[str], threshold: float, token_mode: bool
) -> dict[str, float]:
    """Name -> similarity of every pattern that survives §6.3 and §6.5."""
    kept: dict[str, float] = {}
    for name, data in patterns.items():
        flat = [s for event in data for s in event]
        score, value = similarity(flat, state, token_mode)
        if not (score >= threshold * 100.0 - 1e-6 and value >= threshold):
            continue
        blocks = [
            m
            for m in SequenceMatcher(None, flat, state, autojunk=False).get_matching_blocks()
            if m.size
        ]
        if not blocks and threshold > 0:
            continue
        kept[name] = value
    return kept
