"""An in-memory inverted index over a node's immutable pattern data.

Pattern data never changes once stored, so each worker keeps one index per node
and brings it up to date from the knowledge base's creation feed
(:meth:`KnowledgeBase.patterns_since`) before every prediction. Frequencies and
emotives, which learns change, are cached beside it (``summaries``, a
:class:`~kato.engine.summaries.SummaryCache` with its own change log); statistics are
read fresh.

Postings are compact typed arrays (one set per symbol) so a query can count
symbol overlaps for every pattern at once with NumPy.
"""

from __future__ import annotations

import itertools
import sys
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kato.engine import kernels
from kato.engine.matcher import Block
from kato.engine.ports import KnowledgeBase
from kato.engine.summaries import SummaryCache
from kato.engine.types import PatternData


class IndexedPattern:
    """Immutable facts about one stored pattern, precomputed once per worker."""

    __slots__ = ("_sorted_events", "event_starts", "flat", "joined_length", "name")

    def __init__(self, name: str, data: PatternData) -> None:
        self.name = name
        self.flat: tuple[str, ...] = tuple(sys.intern(s) for event in data for s in event)
        self.joined_length = sum(len(s) for s in self.flat) + len(self.flat) - 1  # " ".join
        # event_starts[k] = number of symbols before event k; the last entry is the length.
        starts = [0]
        for event in data:
            starts.append(starts[-1] + len(event))
        self.event_starts = tuple(starts)
        self._sorted_events: tuple[tuple[str, ...], ...] | None = None

    @property
    def length(self) -> int:
        return len(self.flat)

    @property
    def first(self) -> str:
        return self.flat[0]

    @property
    def data(self) -> PatternData:
        """The events, rebuilt from the flat symbols and the event boundaries."""
        s = self.event_starts
        return [list(self.flat[s[k] : s[k + 1]]) for k in range(len(s) - 1)]

    def event(self, k: int) -> tuple[str, ...]:
        return self.flat[self.event_starts[k] : self.event_starts[k + 1]]

    @property
    def event_count(self) -> int:
        return len(self.event_starts) - 1

    @property
    def sorted_events(self) -> tuple[tuple[str, ...], ...]:
        """Each event's symbols sorted (the future-grouping key of §6.14), built once."""
        if self._sorted_events is None:
            self._sorted_events = tuple(
                tuple(sorted(self.event(k))) for k in range(self.event_count)
            )
        return self._sorted_events

    @property
    def distinct(self) -> dict[str, int]:
        """Distinct symbols with their counts, in first-occurrence order."""
        return dict(Counter(self.flat))


class _Postings:
    """The patterns holding one symbol: id, count, the length of the event holding its
    first occurrence, and the mask of the symbols that follow it
    (:func:`kato.engine.kernels.successor_bit`)."""

    __slots__ = ("counts", "first_event_lengths", "ids", "successors")

    def __init__(self) -> None:
        self.ids = array("i")
        self.counts = array("H")
        self.first_event_lengths = array("H")
        self.successors = array("I")


@dataclass(frozen=True, slots=True)
class Overlaps:
    """For every pattern sharing a symbol with a state (NumPy arrays, aligned).

    ``overlap`` is the multiset overlap ``sum_s min(count in pattern, count in
    state)``, an upper bound of the LCS. ``first_event_length`` is meaningful where
    ``overlap == 1``: the length of the event holding the one shared symbol's first
    occurrence.
    """

    ids: np.ndarray
    overlap: np.ndarray
    lengths: np.ndarray
    first_event_length: np.ndarray
    name_keys: np.ndarray


@dataclass(frozen=True, slots=True)
class SingleSymbolCandidates:
    """Patterns sharing one symbol with a state that passed both threshold tests
    (aligned arrays; scored in closed form, see :mod:`kato.engine.bulk`)."""

    ids: np.ndarray
    name_keys: np.ndarray
    scores: np.ndarray
    pre: np.ndarray  # pre-potentials: one match, one block, ``S - 1`` extras

    def __len__(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True, slots=True)
class MultiOverlaps:
    """Patterns sharing two or more symbols with a state that may pass the threshold,
    from the largest overlap down (ids ascending within one); ``hinted``: those that may
    share a bigram with it (the others share none)."""

    ids: np.ndarray
    name_keys: np.ndarray
    overlap: np.ndarray
    lengths: np.ndarray
    hinted: np.ndarray


def name_key(name: str) -> int:
    """The first 64 bits of a 40-hex name: their numeric order is the names' code-point order."""
    return int(name[:16], 16)


_MAX_COUNT = 0xFFFF


class PatternIndex:
    """Patterns of one node with postings by symbol and by first symbol."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._last_seq = 0
        self.summaries = SummaryCache()
        self._reset(None)

    # -- maintenance -----------------------------------------------------------
    def sync(self, kb: KnowledgeBase) -> None:
        """Bring the index up to date with ``kb`` (cheap when nothing changed).

        The store is read outside the lock, so that one thread's storage round trips
        do not hold up the other threads' searches; rows another thread applied
        meanwhile are skipped by their sequence numbers.
        """
        generation = kb.generation()
        with self._lock:
            since = self._last_seq if generation == self._generation else 0
        rows = kb.patterns_since(since)
        with self._lock:
            if generation != self._generation:
                self._reset(generation)
            for seq, name, data in rows:
                if seq > self._last_seq:
                    self._add(name, data)
                    self._last_seq = seq

    def _reset(self, generation: int | None) -> None:
        self._generation = generation
        self._last_seq = 0
        self._patterns: list[IndexedPattern] = []
        self._by_name: dict[str, int] = {}
        self._postings: dict[str, _Postings] = {}
        self._by_first: dict[str, array[int]] = {}
        self._lengths = array("i")
        self._name_keys = array("Q")
        # Integer-coded copies of the patterns for the compiled kernels.
        self._symbol_codes: dict[str, int] = {}
        self._codes = array("i")
        self._code_offsets = array("q", [0])
        self._starts = array("i")
        self._start_offsets = array("q", [0])

    def _add(self, name: str, data: PatternData) -> None:
        if name in self._by_name:
            return
        pid = len(self._patterns)
        pattern = IndexedPattern(name, data)
        self._patterns.append(pattern)
        self._by_name[name] = pid
        self._lengths.append(pattern.length)
        self._name_keys.append(name_key(name))
        counts = Counter(pattern.flat)
        codes = self._symbol_codes
        flat_codes = [codes.setdefault(symbol, len(codes)) for symbol in pattern.flat]
        successors: dict[str, int] = {}  # Counter's missing-key hook costs a Python call
        bit = kernels.successor_bit
        for symbol, following in zip(pattern.flat, flat_codes[1:], strict=False):
            successors[symbol] = successors.get(symbol, 0) | bit(following)
        seen: set[str] = set()
        starts = pattern.event_starts
        for k in range(len(starts) - 1):
            for symbol in pattern.flat[starts[k] : starts[k + 1]]:
                if symbol in seen:
                    continue
                seen.add(symbol)
                postings = self._postings.get(symbol)
                if postings is None:
                    postings = self._postings[symbol] = _Postings()
                postings.ids.append(pid)
                postings.counts.append(min(counts[symbol], _MAX_COUNT))
                postings.first_event_lengths.append(min(starts[k + 1] - starts[k], _MAX_COUNT))
                postings.successors.append(successors.get(symbol, 0))
        first = self._by_first.get(pattern.first)
        if first is None:
            first = self._by_first[pattern.first] = array("i")
        first.append(pid)
        self._codes.extend(flat_codes)
        self._code_offsets.append(len(self._codes))
        self._starts.extend(starts)
        self._start_offsets.append(len(self._starts))

    # -- queries ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._patterns)

    def pattern(self, pid: int) -> IndexedPattern:
        return self._patterns[pid]

    def by_name(self, name: str) -> IndexedPattern | None:
        pid = self._by_name.get(name)
        return None if pid is None else self._patterns[pid]

    def names(self) -> list[str]:
        with self._lock:
            return list(self._by_name)

    def all_ids(self) -> list[int]:
        return list(range(len(self._patterns)))

    def ids_with_first_symbol(self, symbol: str) -> list[int]:
        return list(self._by_first.get(symbol, ()))

    def first_symbol_arrays(self, symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids, lengths and name keys (NumPy copies, aligned) of the patterns whose first
        symbol is ``symbol``."""
        with self._lock:
            ids = np.array(self._by_first.get(symbol, array("i")), dtype=np.int64)
            lengths, keys = self._by_id()
            return ids, lengths[ids], keys[ids]

    def overlap_arrays(self, state: Sequence[str]) -> Overlaps:
        """Symbol overlaps of every pattern with ``state``, computed with NumPy."""
        with self._lock:  # the arrays must not grow while NumPy views them
            accumulated = self._accumulated_overlaps(state, hints=False)
            if accumulated is None:
                none = np.zeros(0, dtype=np.int32)
                return Overlaps(none.astype(np.int64), none, none, none, none.astype(np.uint64))
            ids, overlap, lengths, first_event_length, keys = kernels.collect_overlaps(
                *accumulated, *self._by_id()
            )
        return Overlaps(ids, overlap, lengths, first_event_length, keys)

    def split_overlaps(
        self, state: Sequence[str], threshold: float
    ) -> tuple[SingleSymbolCandidates, MultiOverlaps]:
        """The patterns sharing a symbol with ``state`` that may pass ``threshold``, by
        overlap (:func:`kato.engine.kernels.split_overlaps`, one compiled pass): those
        sharing one symbol, scored, and the others."""
        with self._lock:
            accumulated = self._accumulated_overlaps(state, hints=True)
            if accumulated is None:
                accumulated = (np.zeros(0, np.int32), np.zeros(0, np.int32))
            lengths, keys = self._by_id()
            arrays = kernels.split_overlaps(*accumulated, lengths, keys, len(state), threshold)
        return SingleSymbolCandidates(*arrays[:4]), MultiOverlaps(*arrays[4:])

    def _accumulated_overlaps(
        self, state: Sequence[str], hints: bool
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Overlap and first-event length by pattern id (:func:`kernels.add_postings`,
        with the patterns that may share a bigram flagged if ``hints``); None when no
        pattern holds a state symbol. Call under the lock."""
        successors = self._state_successors(state) if hints else Counter[str]()
        held = [
            (self._postings[symbol], state_count, successors[symbol])
            for symbol, state_count in Counter(state).items()
            if symbol in self._postings
        ]
        if not held:
            return None
        size = len(self._patterns)
        overlap_by_id = np.zeros(size, np.int32)
        first_length_by_id = np.zeros(size, np.int32)
        for postings, state_count, state_successors in held:
            kernels.add_postings(
                np.frombuffer(postings.ids, dtype=np.int32),
                np.frombuffer(postings.counts, dtype=np.uint16),
                np.frombuffer(postings.first_event_lengths, dtype=np.uint16),
                np.frombuffer(postings.successors, dtype=np.uint32),
                np.int32(state_count),
                np.uint32(state_successors),
                overlap_by_id,
                first_length_by_id,
            )
        return overlap_by_id, first_length_by_id

    def _state_successors(self, state: Sequence[str]) -> Counter[str]:
        """The successor mask of each state symbol in the state (known symbols only)."""
        codes = self._symbol_codes
        successors: Counter[str] = Counter()
        for symbol, following in itertools.pairwise(state):
            if symbol in codes and following in codes:
                successors[symbol] |= kernels.successor_bit(codes[following])
        return successors

    def _by_id(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the lengths and name keys by pattern id (under the lock)."""
        size = len(self._patterns)
        return (
            np.frombuffer(self._lengths, dtype=np.int32)[:size],
            np.frombuffer(self._name_keys, dtype=np.uint64)[:size],
        )

    def score_candidates(
        self,
        ids: np.ndarray,
        state: Sequence[str],
        threshold: float,
        frontier: kernels.Frontier | None = None,
        keys: np.ndarray | None = None,
        upper: np.ndarray | None = None,
        chained: np.ndarray | None = None,
        hinted: np.ndarray | None = None,
    ) -> kernels.CandidateScores:
        """Scores, pre-potentials and block summaries of the patterns ``ids``.

        See :func:`kato.engine.kernels.score_candidates`: a pre-potential of -inf
        marks a pattern failing the recall threshold, or one that cannot enter
        ``frontier`` (which the scored ones update) by its bound: ``upper``, or
        ``chained`` when it is not ``hinted`` (both from
        :func:`kato.engine.kernels.overlap_bounds`; by default ``upper``, and every
        candidate hinted), then the kernel's own. ``keys`` are the patterns' name keys.
        Without a frontier none is skipped.
        """
        frontier = frontier or kernels.Frontier(0)
        if keys is None:
            keys = np.zeros(ids.size, dtype=np.uint64)
        if upper is None:
            upper = np.full(ids.size, np.inf)
        if chained is None:
            chained = upper
        if hinted is None:
            hinted = np.ones(ids.size, dtype=np.bool_)
        out = kernels.CandidateScores.empty(ids.size)
        with self._lock:
            state_codes = self._state_codes(state)
            kernels.score_candidates(
                ids.astype(np.int64),
                *self._coded_patterns(),
                state_codes,
                hinted.astype(np.bool_, copy=False),
                threshold,
                upper.astype(np.float64, copy=False),
                chained.astype(np.float64, copy=False),
                keys.astype(np.uint64, copy=False),
                *frontier.arrays,
                out,
            )
        return out

    def single_symbol_blocks(self, ids: np.ndarray, state: Sequence[str]) -> np.ndarray:
        """Rows ``(i, j, first, last)`` of :func:`kato.engine.kernels.single_symbol_blocks`
        for patterns ``ids``, each sharing exactly one symbol with ``state``."""
        with self._lock:
            return kernels.single_symbol_blocks(
                ids.astype(np.int64),
                *self._coded_patterns(),
                self._state_codes(state),
            )

    def matching_blocks(self, names: Sequence[str], state: Sequence[str]) -> list[list[Block]]:
        """The matcher's blocks of each named pattern against ``state``, compiled in one
        call (:func:`kato.engine.kernels.blocks_of_patterns`; the same blocks as
        ``BlockMatcher``)."""
        ids = np.array([self._by_name[name] for name in names], dtype=np.int64)
        with self._lock:
            rows, ends = kernels.blocks_of_patterns(
                ids, *self._coded_patterns()[:2], self._state_codes(state)
            )
        flat = [(i, j, k) for i, j, k in rows.tolist()]
        starts = [0, *ends.tolist()]
        return [flat[start:end] for start, end in itertools.pairwise(starts)]

    def _coded_patterns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Views of the integer-coded patterns for the kernels: codes, their offsets,
        event starts, their offsets. Call under the lock and drop the views before
        leaving it (the arrays cannot grow while a view exists)."""
        return (
            np.frombuffer(self._codes, dtype=np.int32),
            np.frombuffer(self._code_offsets, dtype=np.int64),
            np.frombuffer(self._starts, dtype=np.int32),
            np.frombuffer(self._start_offsets, dtype=np.int64),
        )

    def _state_codes(self, state: Sequence[str]) -> np.ndarray:
        codes = self._symbol_codes
        return np.array([codes.get(symbol, kernels.UNKNOWN) for symbol in state], dtype=np.int32)

    def pattern_member_frequencies(self, symbols: Iterable[str]) -> dict[str, int]:
        """``pmf`` of the indexed patterns: how many hold each symbol (known symbols only)."""
        with self._lock:
            postings = self._postings
            return {s: len(postings[s].ids) for s in symbols if s in postings}

    def overlaps(self, state: Sequence[str]) -> dict[int, int]:
        """Pattern id -> multiset overlap with ``state``, for patterns sharing a symbol."""
        arrays = self.overlap_arrays(state)
        return dict(zip(arrays.ids.tolist(), arrays.overlap.tolist(), strict=True))
