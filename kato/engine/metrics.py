"""The metric formulas of the prediction object (engine §6.7, §6.10, §6.13, §6.16, §5.12).

Each formula is written once, in the evaluation order the contract prescribes
(engine §7): sums start from 0.0 and run in the stated order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kato.engine.types import PrecomputedMetrics


def counts_in_order(symbols: Iterable[str]) -> dict[str, int]:
    """Occurrences of each distinct symbol, keys in first-occurrence order."""
    counts: dict[str, int] = {}
    for symbol in symbols:
        counts[symbol] = counts.get(symbol, 0) + 1
    return counts


# -- base fields ---------------------------------------------------------------
def snr(matches: int, extras: int) -> float:
    """Multi-symbol snr: ``(2m - e) / (2m + e)``, 0.0 when the denominator is 0."""
    denominator = 2.0 * matches + extras
    return 0.0 if denominator == 0 else (2.0 * matches - extras) / denominator


def fast_path_snr(matches: int, extras: int) -> float:
    """Single-symbol snr: ``m / (m + e)``, 0.0 when the denominator is 0."""
    return 0.0 if matches + extras == 0 else matches / (matches + extras)


def ratio_or_zero(numerator: float, denominator: float) -> float:
    return 0.0 if denominator == 0 else numerator / denominator


def fragmentation_term(fragmentation: float) -> float:
    return 0.0 if fragmentation == -1 else 1.0 / (fragmentation + 1)


def pre_potential(evidence: Any, confidence: Any, snr_value: float, fragmentation: float) -> Any:
    """The internal pruning score of §6.11 (always unweighted).

    ``evidence`` and ``confidence`` are floats, or NumPy arrays of them: kato/engine/bulk.py
    applies the formula to whole arrays of candidates, elementwise.
    """
    return (evidence + confidence) * snr_value + fragmentation_term(fragmentation)


def potential(
    evidence: float, confidence: float, snr_value: float, itfdf: float, fragmentation: float
) -> float:
    """Multi-symbol potential (§6.16)."""
    return ((evidence + confidence) * snr_value + itfdf) + fragmentation_term(fragmentation)


def fast_path_potential(
    evidence: float, confidence: float, snr_value: float, fragmentation: int
) -> float:
    """Single-symbol potential (§6.19): no itfdf term."""
    return (evidence + confidence) * snr_value + fragmentation_term(fragmentation)


# -- affinity weighting (§6.10) ------------------------------------------------
def token_weight(affinity: float, symbol_frequency: int) -> float:
    if symbol_frequency > 0 and affinity != 0:
        return abs(affinity) / symbol_frequency + 0.01
    return 0.01


def weight_sum(tokens: Iterable[str], weights: Mapping[str, float]) -> float:
    total = 0.0
    for token in tokens:
        total += weights.get(token, 0.0)
    return total


def weighted_fields(
    weights: Mapping[str, float],
    state: Sequence[str],
    pattern: Sequence[str],
    matches: Sequence[str],
    present: Sequence[str],
    extras: Sequence[str],
) -> tuple[float | None, float, float, float]:
    """(weighted_similarity, weighted_evidence, weighted_confidence, weighted_snr)."""
    w_matches = weight_sum(matches, weights)
    w_pattern = weight_sum(pattern, weights)
    denominator = weight_sum(state, weights) + w_pattern
    similarity = None if denominator == 0 else 2.0 * w_matches / denominator
    return (
        similarity,
        ratio_or_zero(w_matches, w_pattern),
        ratio_or_zero(w_matches, weight_sum(present, weights)),
        ratio_or_zero(w_matches, w_matches + weight_sum(extras, weights)),
    )


# -- ensemble metrics (§6.13) --------------------------------------------------
@dataclass(frozen=True, slots=True)
class StateVector:
    """The state's side of the itfdf cosine, shared by every member of one ensemble."""

    counts: dict[str, int]
    norm: float  # sqrt of the sum, in code-point order, of (spc[s] * count)^2

    @classmethod
    def of(cls, state: Sequence[str], spc: Mapping[str, float]) -> StateVector:
        counts = dict(Counter(state))
        squares = 0.0
        for symbol in sorted(counts):
            value = spc.get(symbol, 0) * counts[symbol]
            squares += value * value
        return cls(counts, math.sqrt(squares))


def itfdf_similarity(
    present: Sequence[str],
    state: StateVector,
    spc: Mapping[str, float],
    frequency: int,
    ensemble_frequency: int,
) -> float:
    """``1 - distance*frequency/F`` with a cosine distance over spc-weighted counts.

    The sums run in code-point order over the symbols of ``present`` and the state;
    terms that are exactly 0.0 leave a non-negative running sum unchanged, so the
    pattern-only and state-only terms of the dot product are skipped, and the state's
    norm is computed once per ensemble (:class:`StateVector`).
    """
    present_counts = counts_in_order(present)
    dot = 0.0
    norm_p = 0.0
    for symbol in sorted(present_counts):
        probability = spc.get(symbol, 0)
        v_pat = probability * present_counts[symbol]
        dot += v_pat * (probability * state.counts.get(symbol, 0))
        norm_p += v_pat * v_pat
    norm_p = math.sqrt(norm_p)
    if state.norm == 0:
        distance = 1.0
    else:
        product = norm_p * state.norm
        cosine = 0.0 if product == 0 else dot / product
        distance = 1.0 - cosine
    return 1 - (distance * frequency / ensemble_frequency)


def confluence(present: Sequence[str], spc: Mapping[str, float], frequency: int, tpf: int) -> float:
    if not present:
        return 0.0
    log_sum = 0.0
    for symbol in present:
        q = spc.get(symbol, 0)
        log_sum += math.log10(q if q > 0 else 1e-10)
    share = 0.0 if tpf == 0 else frequency / tpf
    return share * (1 - 10**log_sum)


def symbol_metrics(
    symbols: Sequence[str], probability: Mapping[str, float], distinct_count: int
) -> PrecomputedMetrics:
    """Entropy, normalized entropy, global normalized entropy and term frequencies of a
    symbol list (§6.13, §5.12), each a sum over its distinct symbols in first-occurrence
    order; the symbols are counted once for all four.

    ``normalized_entropy`` uses ``log_T`` (0.0 if T <= 1); ``global_normalized_entropy``
    is ``-sum P(s) log_T P(s)`` over symbols with P(s) > 0 (0.0 if T <= 1); term
    frequencies are ``c_s / L``.
    """
    counts = counts_in_order(symbols)
    total = len(symbols)
    # math.log(x, T) is computed as log(x) / log(T): the same value, log(T) taken once.
    log_t = math.log(distinct_count) if distinct_count > 1 else 0.0
    entropy = 0.0
    normalized = 0.0
    for count in counts.values():
        p = count / total
        entropy -= p * math.log2(p)
        if log_t:
            normalized -= p * (math.log(p) / log_t)
    global_normalized = 0.0
    if log_t:
        for symbol in counts:
            q = probability.get(symbol, 0)
            if q > 0:
                global_normalized -= q * (math.log(q) / log_t)
    return PrecomputedMetrics(
        entropy=entropy,
        normalized_entropy=normalized,
        global_normalized_entropy=global_normalized,
        tf_vector=tuple((s, count / total) for s, count in counts.items()),
    )


def tfidf_score(
    tf: Sequence[tuple[str, float]], spc: Mapping[str, float], n_patterns: int
) -> float:
    """Mean of ``tf * (log2(N / n_s) + 1)`` (§6.13 item 4)."""
    if not tf or n_patterns == 0:
        return 0.0
    total = 0.0
    for symbol, frequency in tf:
        n_s = (int(spc[symbol] * n_patterns) or 1) if symbol in spc else 1
        total += frequency * (math.log2(n_patterns / n_s) + 1)
    return total / len(tf)


def finalize_pattern_metrics(
    flat: Sequence[str], pmf: Mapping[str, int], n_patterns: int, distinct_count: int
) -> PrecomputedMetrics:
    """finalize-training values of one whole pattern (§5.12)."""
    probability = {s: pmf.get(s, 0) / n_patterns for s in set(flat)} if n_patterns else {}
    return symbol_metrics(flat, probability, distinct_count)
