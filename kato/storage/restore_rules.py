"""The checks every adapter runs before a bulk restore (KnowledgeBase.restore).

A restore stores counters as given instead of recomputing them, so a knowledge base that
breaks engine §2.1's invariants would otherwise be written and answer wrong predictions.
These checks are linear in the input and run before any write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kato.engine.types import GlobalStats, PatternRecord, SymbolStats


def check_restorable(
    patterns: Sequence[PatternRecord],
    symbols: Sequence[SymbolStats],
    affinities: Mapping[str, Mapping[str, float]],
    stats: GlobalStats,
) -> None:
    """Raise ``ValueError`` naming the first broken invariant."""
    count = len(patterns)
    if stats.total_unique_patterns != count or stats.total_pattern_frequencies != count:
        raise ValueError(
            f"stats say {stats.total_unique_patterns} patterns "
            f"(TPF {stats.total_pattern_frequencies}), {count} given"
        )
    if len({record.name for record in patterns}) != count:
        raise ValueError("a pattern name occurs twice")
    for record in patterns:
        if record.frequency < 1 or not record.pattern_data or not all(record.pattern_data):
            raise ValueError(f"pattern {record.name}: empty data or frequency below 1")
    names = {stat.name for stat in symbols}
    if len(names) != len(symbols):
        raise ValueError("a symbol occurs twice")
    if any(stat.frequency < 0 or stat.pattern_member_frequency < 0 for stat in symbols):
        raise ValueError("a symbol count is negative")
    total = sum(stat.frequency for stat in symbols)
    if total != stats.total_symbols_in_patterns_frequencies:
        raise ValueError(
            f"stats say {stats.total_symbols_in_patterns_frequencies} symbols in patterns, "
            f"the symbol frequencies sum to {total}"
        )
    distinct = sum(1 for stat in symbols if stat.pattern_member_frequency > 0)
    if distinct != stats.distinct_symbols:
        raise ValueError(
            f"stats say {stats.distinct_symbols} distinct symbols, {distinct} have patterns"
        )
    unknown = [symbol for symbol in affinities if symbol not in names]
    if unknown:
        raise ValueError(f"affinity of unknown symbol {unknown[0]!r}")
