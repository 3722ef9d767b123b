"""The storage interfaces (ports) through which the engine reaches a node's state.

The engine never does I/O itself: every read and write of long-term memory goes
through a :class:`KnowledgeBase` and a :class:`VectorStore` for one node. The
in-memory, embedded (SQLite) and distributed (Redis/ClickHouse/Qdrant) adapters
implement these protocols and run the same contract tests (tests/contract).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

from kato.engine.types import (
    GlobalStats,
    LearnUpdate,
    PatternData,
    PatternRecord,
    PatternSummary,
    PrecomputedMetrics,
    SymbolStats,
)

PatternMerge = Callable[[PatternRecord | None], PatternRecord]

# Where a node's summary change log stands: (generation, changes so far in it).
SummaryPosition = tuple[int, int]


class SummarySource(Protocol):
    """The reads behind predictions' frequencies and emotives (the summary cache's source)."""

    def pattern_summaries(self, names: Iterable[str]) -> dict[str, PatternSummary]:
        """Frequency and emotive window of the named patterns; unknown names are absent.

        Predictions need only these (pattern data comes from the index, metadata is
        never output), so backends can skip decoding the rest.
        """
        ...

    def summary_changes(
        self, since: SummaryPosition | None
    ) -> tuple[SummaryPosition, list[str] | None]:
        """The change log of pattern summaries: where it stands now, and the patterns
        whose frequency or emotives changed after ``since`` (names may repeat).

        The position moves with everything a prediction reads from the node: every
        applied learn, a clear or restore (a new generation), and every stored batch of
        precomputed metrics (no names). Equal positions mean the same predictions
        (kato/engine/prediction_basis.py).

        The names are None when the log cannot tell: ``since`` is None or from another
        generation, or the backend keeps no names. A reader caching summaries then drops
        them all. Position and names come from one consistent read.
        """
        ...


@runtime_checkable
class KnowledgeBase(SummarySource, Protocol):
    """Long-term memory of one node (engine §2.1)."""

    # -- change tracking -------------------------------------------------------
    def version(self) -> int:
        """A number that changes whenever a pattern is created or the node is cleared.

        It never goes back (not even on clear), so a value cached next to derived
        data (precomputed metrics, an index) tells whether that data is current.
        """
        ...

    def generation(self) -> int:
        """Changes only when the node is cleared: sequence numbers restart then."""
        ...

    def patterns_since(self, seq: int) -> list[tuple[int, str, PatternData]]:
        """Patterns created after sequence number ``seq`` (1-based, creation order).

        Pattern data never changes once stored, so a per-process index built from
        this feed stays exact while ``generation()`` is unchanged.
        """
        ...

    # -- reads -----------------------------------------------------------------
    def global_stats(self) -> GlobalStats: ...

    def get_patterns(self, names: Iterable[str]) -> dict[str, PatternRecord]:
        """Current records of the named patterns (bare hashes); unknown names are absent."""
        ...

    def iter_patterns(self) -> Iterator[PatternRecord]:
        """Every pattern, in name order."""
        ...

    def pattern_member_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        """``pmf[s]`` for the given symbols; unknown symbols are absent."""
        ...

    def symbol_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        """``sym_freq[s]`` for the given symbols; unknown symbols are absent."""
        ...

    def affinities(self, symbols: Iterable[str]) -> dict[str, dict[str, float]]:
        """Affinity dicts of the given symbols; symbols without affinity are absent."""
        ...

    def all_symbol_stats(self) -> list[SymbolStats]:
        """Every symbol with its statistics, in code-point order."""
        ...

    def all_affinities(self) -> dict[str, dict[str, float]]:
        """Every symbol with at least one affinity entry, in code-point order."""
        ...

    def precomputed_metrics(self, names: Iterable[str]) -> dict[str, PrecomputedMetrics]:
        """finalize-training values still valid for the current ``version()``."""
        ...

    # -- writes ----------------------------------------------------------------
    def learn(self, update: LearnUpdate, merge: PatternMerge) -> bool:
        """Apply one learn atomically across all workers (engine §5.3, §5.4, §5.11).

        Inside one critical section for the node: read the stored record (or
        None), store ``merge(record)``; if the pattern is new, add 1 to ``pmf`` of
        each distinct symbol, to N and TPF, give it the next sequence number and
        change ``version()``; in every case add the symbol counts to ``sym_freq``,
        the length to ``total_symbols_in_patterns_frequencies`` and, for each
        distinct symbol, ``affinity_delta`` to its affinity. Returns True when the
        pattern was new.

        If ``update.token`` is set and a learn with that token was already applied
        to the node (within the store's documented retention), nothing is applied
        and False is returned: a retried request cannot count its learns twice.
        """
        ...

    def store_precomputed(self, metrics: dict[str, PrecomputedMetrics], version: int) -> bool:
        """Store finalize-training values computed at ``version``.

        Returns False (and stores nothing) when the version has changed meanwhile.
        """
        ...

    def clear(self) -> None:
        """Delete everything of the node (engine §5.13) and change ``version()``."""
        ...

    def restore(
        self,
        patterns: Sequence[PatternRecord],
        symbols: Sequence[SymbolStats],
        affinities: Mapping[str, Mapping[str, float]],
        stats: GlobalStats,
        *,
        replace: bool = False,
    ) -> bool:
        """Make the node hold exactly this knowledge, in one atomic step (bulk import).

        ``patterns`` get sequence numbers 1, 2, ... in the given order; frequencies,
        emotives, metadata, ``sym_freq``/``pmf``, affinities (key order, ``-0.0``) and the
        totals in ``stats`` are stored exactly as given, not recomputed, so they must obey
        engine §2.1 (N = TPF = number of patterns, total symbols = sum of ``sym_freq``,
        distinct symbols = symbols with ``pmf`` > 0, affinities only on listed symbols);
        a violation raises ``ValueError`` before anything changes. Precomputed metrics are
        dropped; ``version()`` and ``generation()`` change. Applied learn tokens are kept.

        Without ``replace``, a node that already has a pattern or symbol is left unchanged
        and False is returned (checked in the same atomic step). Returns True otherwise.
        """
        ...


@runtime_checkable
class VectorStore(Protocol):
    """The vector store and the pending-vector list of one node (engine §3.3.5)."""

    def dimension(self) -> int | None:
        """The node vector dimension, fixed by the first stored vector (None if empty)."""
        ...

    def nearest(self, vector: Sequence[float], k: int) -> list[str]:
        """Names of the ``k`` stored vectors nearest by Euclidean distance, ties by name."""
        ...

    def add_pending(self, name: str, vector: Sequence[float]) -> None:
        """Append a percept vector to the node's pending list (visible to every worker)."""
        ...

    def flush_pending(self, forced_dimension: int | None) -> None:
        """Move every pending vector into the store, atomically for the node.

        Names already stored are skipped; a vector whose length differs from the
        node dimension (``forced_dimension`` if set, else the stored one, else the
        first vector flushed) is dropped. The pending list is emptied.
        """
        ...

    def all_vectors(self) -> list[tuple[str, list[float]]]:
        """Every stored vector in name order (export)."""
        ...

    def pending(self) -> list[tuple[str, list[float]]]:
        """The pending list in order (export)."""
        ...

    def clear(self) -> None:
        """Empty the store and the pending list; release the dimension."""
        ...
