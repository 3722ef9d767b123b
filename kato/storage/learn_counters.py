"""Adapter-independent arithmetic of one learn (engine §5.3, §5.4, §5.8, §5.9).

Every storage adapter applies a :class:`~kato.engine.types.LearnUpdate` through
these functions, so the counter rules exist once: ``sym_freq`` grows on every
learn, ``pmf``/N/TPF only when the pattern is new, affinity sums keep each
symbol's first-seen emotive order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kato.engine.types import Emotives, LearnUpdate, SymbolStats


@dataclass(frozen=True, slots=True)
class SymbolDelta:
    """What one learn adds to one distinct symbol."""

    symbol: str
    sym_freq: int  # occurrences of the symbol in the pattern
    pmf: int  # 1 when the pattern is new, else 0


@dataclass(frozen=True, slots=True)
class LearnDeltas:
    """Everything one learn adds to the node's counters."""

    symbols: tuple[SymbolDelta, ...]  # distinct symbols, first-occurrence order
    affinity: Emotives  # added to each distinct symbol's affinity ({}: no change)
    total_symbols: int  # to total_symbols_in_patterns_frequencies
    new_patterns: int  # to N and TPF (1 when new, else 0)


def learn_deltas(update: LearnUpdate, is_new: bool) -> LearnDeltas:
    """The counter increments of ``update``; ``is_new`` says whether the pattern was created."""
    pmf = 1 if is_new else 0
    return LearnDeltas(
        symbols=tuple(SymbolDelta(s, count, pmf) for s, count in update.symbol_counts),
        affinity=dict(update.affinity_delta),
        total_symbols=update.length,
        new_patterns=pmf,
    )


def add_affinity(
    current: Mapping[str, float] | None, delta: Mapping[str, float]
) -> dict[str, float]:
    """``current`` plus ``delta`` key by key; new keys start at 0.0 and go last."""
    result = dict(current) if current else {}
    for key, value in delta.items():
        result[key] = result.get(key, 0.0) + value
    return result


def apply_deltas(
    deltas: LearnDeltas,
    sym_freq: dict[str, int],
    pmf: dict[str, int],
    affinity: dict[str, dict[str, float]],
) -> None:
    """Apply ``deltas`` to plain dicts (the in-memory store)."""
    for delta in deltas.symbols:
        sym_freq[delta.symbol] = sym_freq.get(delta.symbol, 0) + delta.sym_freq
        if delta.pmf:
            pmf[delta.symbol] = pmf.get(delta.symbol, 0) + delta.pmf
        if deltas.affinity:
            affinity[delta.symbol] = add_affinity(affinity.get(delta.symbol), deltas.affinity)


def symbol_stats_in_order(rows: Iterable[tuple[str, int, int]]) -> list[SymbolStats]:
    """``(symbol, sym_freq, pmf)`` rows as :class:`SymbolStats` in code-point order."""
    return [SymbolStats(name, freq, member) for name, freq, member in sorted(rows)]


def in_code_point_order(items: Mapping[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """A copy of a per-symbol mapping with keys in code-point order."""
    return {symbol: dict(items[symbol]) for symbol in sorted(items)}
