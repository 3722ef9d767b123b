"""finalize-training: precompute per-pattern metrics for a whole node (engine §5.12)."""

from __future__ import annotations

from kato.engine.metrics import finalize_pattern_metrics
from kato.engine.ports import KnowledgeBase
from kato.engine.types import PrecomputedMetrics


def finalize_training(kb: KnowledgeBase) -> int:
    """Compute and store the metrics of every pattern; return the number processed.

    If the node changes while this runs, the values are discarded by the store
    (they would be stale) and the computation is repeated.
    """
    while True:
        version = kb.version()
        stats = kb.global_stats()
        patterns = list(kb.iter_patterns())
        symbols = {s for p in patterns for event in p.pattern_data for s in event}
        pmf = kb.pattern_member_frequencies(symbols)
        computed: dict[str, PrecomputedMetrics] = {}
        for record in patterns:
            flat = [s for event in record.pattern_data for s in event]
            computed[record.name] = finalize_pattern_metrics(
                flat, pmf, stats.total_unique_patterns, stats.distinct_symbols
            )
        if kb.store_precomputed(computed, version):
            return len(patterns)
