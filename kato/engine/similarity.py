"""Similarity of a pattern to the state (engine §6.3, §6.8, §6.19).

The LCS lengths come from rapidfuzz; the formulas around them are evaluated here,
in exactly the order the contract writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rapidfuzz.distance import LCSseq

_ABSENT = -1  # id of pattern symbols that do not occur in the state


def state_ids(state: Sequence[str]) -> dict[str, int]:
    """Integer ids of the distinct state symbols, for exact LCS on integer lists."""
    ids: dict[str, int] = {}
    for symbol in state:
        ids.setdefault(symbol, len(ids))
    return ids


def token_lcs(pattern: Sequence[str], state: Sequence[str], ids: Mapping[str, int]) -> int:
    """Longest common subsequence of whole symbols (exact equality).

    Symbols are mapped to small integers first, so no hash of a string (which
    could collide) decides equality.
    """
    return int(LCSseq.similarity([ids.get(s, _ABSENT) for s in pattern], [ids[s] for s in state]))


def token_score(lcs: int, pattern_length: int, state_length: int) -> float:
    """Multi-symbol token score on the 0-100 scale: ((2.0*lcs)/(P+S))*100.0."""
    return ((2.0 * lcs) / (pattern_length + state_length)) * 100.0


def char_score(a: str, b: str) -> float:
    """The Indel ratio (rapidfuzz ``fuzz.ratio``) on the 0-100 scale, 100.0 for two empty texts."""
    n = len(a) + len(b)
    if n == 0:
        return 100.0
    lcs = int(LCSseq.similarity(a, b))
    return (1.0 - (n - 2 * lcs) / n) * 100.0


def passes_threshold(score: float, threshold: float) -> bool:
    """Both tests of §6.3: ``score >= threshold*100 - 1e-6`` and ``score/100 >= threshold``."""
    return score >= threshold * 100.0 - 1e-6 and score / 100.0 >= threshold


def fast_path_similarity(pattern: Sequence[str], symbol: str, token_mode: bool) -> float:
    """Single-symbol similarity (§6.19): ``2.0*lcs/(P+1)`` or the character ratio / 100."""
    if token_mode:
        lcs = 1 if symbol in pattern else 0
        return 2.0 * lcs / (len(pattern) + 1)
    return char_score(symbol, " ".join(pattern)) / 100.0


def refine_similarity(
    pattern: Sequence[str], state: Sequence[str], ids: Mapping[str, int], token_mode: bool
) -> float:
    """The rapidfuzz filter stage's similarity (§6.2): no x100 round trip."""
    if token_mode:
        return 2 * token_lcs(pattern, state, ids) / (len(pattern) + len(state))
    return char_score(" ".join(state), " ".join(pattern)) / 100.0
