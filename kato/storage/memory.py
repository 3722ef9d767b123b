"""The in-memory backend: one process, no persistence (unit tests of the layers above).

Every store is thread-safe and hands out copies, so callers cannot change
stored state by mutating what they read.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from kato.engine.index import PatternIndex
from kato.engine.ports import PatternMerge, SummaryPosition
from kato.engine.types import (
    GlobalStats,
    LearnUpdate,
    PatternData,
    PatternRecord,
    PatternSummary,
    PrecomputedMetrics,
    SymbolStats,
)
from kato.storage.events_local import LocalEventBus
from kato.storage.learn_counters import (
    apply_deltas,
    in_code_point_order,
    learn_deltas,
    symbol_stats_in_order,
)
from kato.storage.learn_tokens import TokenLedger
from kato.storage.ports import NodeHandle, SessionRecord, SessionStatus
from kato.storage.restore_rules import check_restorable
from kato.storage.vector_math import Matrix, as_matrix, nearest_names, select_flush


class MemoryKnowledgeBase:
    """KnowledgeBase of one node held in dicts."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._version = 0
        self._generation = 0
        self._tokens = TokenLedger()  # kept across clear() and restore()
        self._reset()

    def _reset(self) -> None:
        self._patterns: dict[str, PatternRecord] = {}
        self._feed: list[tuple[int, str, PatternData]] = []  # index i holds sequence i + 1
        # The summary change log: one name per learn, "" per stored batch of metrics.
        self._changes: list[str] = []
        self._sym_freq: dict[str, int] = {}
        self._pmf: dict[str, int] = {}
        self._affinity: dict[str, dict[str, float]] = {}
        self._total_symbols = 0
        self._precomputed: dict[str, PrecomputedMetrics] = {}
        self._precomputed_version = -1

    # -- change tracking -------------------------------------------------------
    def version(self) -> int:
        with self._lock:
            return self._version

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def patterns_since(self, seq: int) -> list[tuple[int, str, PatternData]]:
        with self._lock:
            return copy.deepcopy(self._feed[max(seq, 0) :])

    # -- reads -----------------------------------------------------------------
    def global_stats(self) -> GlobalStats:
        with self._lock:
            count = len(self._patterns)
            return GlobalStats(count, count, self._total_symbols, len(self._pmf))

    def get_patterns(self, names: Iterable[str]) -> dict[str, PatternRecord]:
        with self._lock:
            return {
                name: copy.deepcopy(self._patterns[name])
                for name in names
                if name in self._patterns
            }

    def pattern_summaries(self, names: Iterable[str]) -> dict[str, PatternSummary]:
        with self._lock:
            return {
                name: PatternSummary(record.frequency, copy.deepcopy(record.emotives))
                for name in names
                if (record := self._patterns.get(name)) is not None
            }

    def summary_changes(
        self, since: SummaryPosition | None
    ) -> tuple[SummaryPosition, list[str] | None]:
        with self._lock:
            position = (self._generation, len(self._changes))
            if since is None or since[0] != position[0]:
                return position, None
            return position, self._changes[since[1] :]

    def iter_patterns(self) -> Iterator[PatternRecord]:
        with self._lock:
            records = [copy.deepcopy(self._patterns[name]) for name in sorted(self._patterns)]
        return iter(records)

    def pattern_member_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        with self._lock:
            return {s: self._pmf[s] for s in symbols if s in self._pmf}

    def symbol_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        with self._lock:
            return {s: self._sym_freq[s] for s in symbols if s in self._sym_freq}

    def affinities(self, symbols: Iterable[str]) -> dict[str, dict[str, float]]:
        with self._lock:
            return {s: dict(self._affinity[s]) for s in symbols if s in self._affinity}

    def all_symbol_stats(self) -> list[SymbolStats]:
        with self._lock:
            rows = [(s, f, self._pmf.get(s, 0)) for s, f in self._sym_freq.items()]
        return symbol_stats_in_order(rows)

    def all_affinities(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return in_code_point_order(self._affinity)

    def precomputed_metrics(self, names: Iterable[str]) -> dict[str, PrecomputedMetrics]:
        with self._lock:
            if self._precomputed_version != self._version:
                return {}
            return {n: self._precomputed[n] for n in names if n in self._precomputed}

    # -- writes ----------------------------------------------------------------
    def learn(self, update: LearnUpdate, merge: PatternMerge) -> bool:
        with self._lock:
            if update.token is not None:
                if self._tokens.seen(update.token):
                    return False
                self._tokens.record(update.token)  # nothing below can fail but merge
            stored = self._patterns.get(update.name)
            try:
                merged = merge(copy.deepcopy(stored) if stored is not None else None)
            except BaseException:
                if update.token is not None:
                    self._tokens.forget(update.token)
                raise
            is_new = stored is None
            self._patterns[update.name] = copy.deepcopy(merged)
            if is_new:
                self._feed.append(
                    (len(self._feed) + 1, update.name, copy.deepcopy(merged.pattern_data))
                )
                self._version += 1
                self._precomputed = {}
            self._changes.append(update.name)
            deltas = learn_deltas(update, is_new)
            apply_deltas(deltas, self._sym_freq, self._pmf, self._affinity)
            self._total_symbols += deltas.total_symbols
            return is_new

    def store_precomputed(self, metrics: dict[str, PrecomputedMetrics], version: int) -> bool:
        with self._lock:
            if version != self._version:
                return False
            if self._precomputed_version != version:
                self._precomputed = {}
            self._precomputed.update(metrics)
            self._precomputed_version = version
            self._changes.append("")  # moves the log's position; no pattern's summary changed
            return True

    def clear(self) -> None:
        with self._lock:
            self._reset()
            self._version += 1
            self._generation += 1

    def restore(
        self,
        patterns: Sequence[PatternRecord],
        symbols: Sequence[SymbolStats],
        affinities: Mapping[str, Mapping[str, float]],
        stats: GlobalStats,
        *,
        replace: bool = False,
    ) -> bool:
        check_restorable(patterns, symbols, affinities, stats)
        records = {r.name: copy.deepcopy(r) for r in patterns}
        feed = [(i, r.name, copy.deepcopy(r.pattern_data)) for i, r in enumerate(patterns, 1)]
        with self._lock:
            if not replace and (self._patterns or self._sym_freq):
                return False
            self._reset()
            self._patterns = records
            self._feed = feed
            self._sym_freq = {s.name: s.frequency for s in symbols}
            self._pmf = {
                s.name: s.pattern_member_frequency for s in symbols if s.pattern_member_frequency
            }
            self._affinity = {s: dict(values) for s, values in affinities.items()}
            self._total_symbols = stats.total_symbols_in_patterns_frequencies
            self._version += 1
            self._generation += 1
            return True

    def is_empty(self) -> bool:
        with self._lock:
            return not self._patterns


class MemoryVectorStore:
    """VectorStore of one node held in dicts, with a cached matrix for nearest()."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._vectors: dict[str, list[float]] = {}
        self._pending: list[tuple[str, list[float]]] = []
        self._dimension: int | None = None
        self._cache: tuple[list[str], Matrix] | None = None

    def dimension(self) -> int | None:
        with self._lock:
            return self._dimension

    def nearest(self, vector: Sequence[float], k: int) -> list[str]:
        with self._lock:
            if self._dimension is None:
                return []
            if self._cache is None:
                names = sorted(self._vectors)
                self._cache = (
                    names,
                    as_matrix([self._vectors[n] for n in names], self._dimension),
                )
            names, matrix = self._cache
        return nearest_names(names, matrix, vector, k)

    def add_pending(self, name: str, vector: Sequence[float]) -> None:
        with self._lock:
            self._pending.append((name, [float(x) for x in vector]))

    def flush_pending(self, forced_dimension: int | None) -> None:
        with self._lock:
            selected, dimension = select_flush(
                self._pending, self._vectors.__contains__, self._dimension, forced_dimension
            )
            for name, vector in selected:
                self._vectors[name] = vector
            self._dimension = dimension
            self._pending = []
            if selected:
                self._cache = None

    def all_vectors(self) -> list[tuple[str, list[float]]]:
        with self._lock:
            return [(name, list(self._vectors[name])) for name in sorted(self._vectors)]

    def pending(self) -> list[tuple[str, list[float]]]:
        with self._lock:
            return [(name, list(vector)) for name, vector in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._vectors = {}
            self._pending = []
            self._dimension = None
            self._cache = None

    def is_empty(self) -> bool:
        with self._lock:
            return not self._vectors and not self._pending


class _SessionLock:
    """A reentrant lock object that can be weakly referenced."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.RLock()


class MemorySessionStore:
    """SessionStore of one process; records expire at their ``expires_at``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, SessionRecord] = {}
        self._locks: weakref.WeakValueDictionary[str, _SessionLock] = weakref.WeakValueDictionary()

    @staticmethod
    def _expired(record: SessionRecord, now: datetime) -> bool:
        return record.expires_at <= now

    def create(self, record: SessionRecord) -> None:
        with self._lock:
            self._records[record.session_id] = copy.deepcopy(record)

    def get(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            record = self._records.get(session_id)
            if record is None:
                return None
            if self._expired(record, datetime.now(UTC)):
                del self._records[session_id]
                return None
            return copy.deepcopy(record)

    def status(self, session_id: str) -> SessionStatus:
        with self._lock:
            record = self._records.get(session_id)
            if record is None:
                return "missing"
            if self._expired(record, datetime.now(UTC)):
                del self._records[session_id]
                return "expired"
            return "live"

    def save(self, record: SessionRecord) -> None:
        with self._lock:
            self._records[record.session_id] = copy.deepcopy(record)

    def delete(self, session_id: str) -> bool:
        with self._lock:
            return self._records.pop(session_id, None) is not None

    def count(self) -> int:
        now = datetime.now(UTC)
        with self._lock:
            return sum(1 for r in self._records.values() if not self._expired(r, now))

    def count_node(self, node_id: str) -> int:
        now = datetime.now(UTC)
        with self._lock:
            return sum(
                1
                for r in self._records.values()
                if r.node_id == node_id and not self._expired(r, now)
            )

    @contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        with self._lock:
            holder = self._locks.get(session_id)
            if holder is None:
                holder = _SessionLock()
                self._locks[session_id] = holder
        with holder.lock:
            yield


class MemoryBackend:
    """Every store in this process's memory."""

    name = "memory"

    def __init__(self) -> None:
        self.sessions = MemorySessionStore()
        self.events = LocalEventBus()
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeHandle] = {}
        self._kbs: dict[str, MemoryKnowledgeBase] = {}
        self._vectors: dict[str, MemoryVectorStore] = {}

    def node(self, node_key: str) -> NodeHandle:
        with self._lock:
            handle = self._nodes.get(node_key)
            if handle is None:
                kb, vectors = MemoryKnowledgeBase(), MemoryVectorStore()
                self._kbs[node_key], self._vectors[node_key] = kb, vectors
                handle = NodeHandle(kb=kb, vectors=vectors, index=PatternIndex())
                self._nodes[node_key] = handle
            return handle

    def nodes(self) -> Iterator[str]:
        with self._lock:
            keys = [
                key
                for key in sorted(self._nodes)
                if not (self._kbs[key].is_empty() and self._vectors[key].is_empty())
            ]
        return iter(keys)

    def health(self) -> dict[str, str]:
        return {"memory": "ok"}

    def close(self) -> None:
        """Nothing to release."""
