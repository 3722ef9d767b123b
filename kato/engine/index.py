"""An in-memory inverted index over a node's immutable pattern data.

Pattern data never changes once stored, so each worker keeps one index per node
and brings it up to date from the knowledge base's creation feed
(:meth:`KnowledgeBase.patterns_since`) before every prediction. Frequencies,
emotives and statistics are not cached here: they are read fresh.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from kato.engine.ports import KnowledgeBase
from kato.engine.types import PatternData


class IndexedPattern:
    """Immutable facts about one stored pattern, precomputed once per worker."""

    __slots__ = (
        "data",
        "distinct",
        "event_starts",
        "first",
        "flat",
        "joined_length",
        "length",
        "name",
    )

    def __init__(self, name: str, data: PatternData) -> None:
        self.name = name
        self.data = data
        self.flat: tuple[str, ...] = tuple(s for event in data for s in event)
        self.length = len(self.flat)
        self.first = data[0][0]
        self.distinct: dict[str, int] = dict(Counter(self.flat))
        self.joined_length = sum(len(s) for s in self.flat) + self.length - 1  # " ".join(flat)
        # event_starts[k] = number of symbols before event k; the last entry is the length.
        self.event_starts: list[int] = [0]
        for event in data:
            self.event_starts.append(self.event_starts[-1] + len(event))


class PatternIndex:
    """Patterns of one node with postings by symbol and by first symbol."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._last_seq = 0
        self._patterns: list[IndexedPattern] = []
        self._by_name: dict[str, int] = {}
        self._postings: dict[str, list[tuple[int, int]]] = {}
        self._by_first: dict[str, list[int]] = {}

    # -- maintenance -----------------------------------------------------------
    def sync(self, kb: KnowledgeBase) -> None:
        """Bring the index up to date with ``kb`` (cheap when nothing changed)."""
        with self._lock:
            generation = kb.generation()
            if generation != self._generation:
                self._reset(generation)
            for seq, name, data in kb.patterns_since(self._last_seq):
                self._add(name, data)
                self._last_seq = max(self._last_seq, seq)

    def _reset(self, generation: int) -> None:
        self._generation = generation
        self._last_seq = 0
        self._patterns = []
        self._by_name = {}
        self._postings = {}
        self._by_first = {}

    def _add(self, name: str, data: PatternData) -> None:
        if name in self._by_name:
            return
        pid = len(self._patterns)
        pattern = IndexedPattern(name, data)
        self._patterns.append(pattern)
        self._by_name[name] = pid
        for symbol, count in pattern.distinct.items():
            self._postings.setdefault(symbol, []).append((pid, count))
        self._by_first.setdefault(pattern.first, []).append(pid)

    # -- queries ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._patterns)

    def pattern(self, pid: int) -> IndexedPattern:
        return self._patterns[pid]

    def by_name(self, name: str) -> IndexedPattern | None:
        pid = self._by_name.get(name)
        return None if pid is None else self._patterns[pid]

    def all_ids(self) -> list[int]:
        return list(range(len(self._patterns)))

    def ids_with_first_symbol(self, symbol: str) -> list[int]:
        return list(self._by_first.get(symbol, ()))

    def overlaps(self, state: Iterable[str]) -> dict[int, int]:
        """For every pattern sharing a symbol with ``state``: the multiset overlap size.

        The overlap ``sum_s min(count in pattern, count in state)`` bounds the LCS
        from above, which lets the caller prune by the similarity threshold
        without evaluating every pattern.
        """
        overlap: dict[int, int] = {}
        for symbol, state_count in Counter(state).items():
            for pid, count in self._postings.get(symbol, ()):
                overlap[pid] = overlap.get(pid, 0) + min(count, state_count)
        return overlap

    def postings(self, symbol: str) -> list[tuple[int, int]]:
        return self._postings.get(symbol, [])
