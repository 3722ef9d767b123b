"""Compiled inner loops of the indexed candidate search.

Candidates that share two or more symbols with the state cannot be scored in
closed form (see :mod:`kato.engine.bulk`): each needs its LCS, the greedy
matcher's blocks and the event boundaries around them. Written in Python that is
tens of microseconds per candidate, and a low recall threshold leaves tens of
thousands of them at N = 100,000. These functions do the same work on integer
symbol codes, compiled by numba.

Each function mirrors Python code of the engine operation for operation, so the
results are the same integers and bit-identical floats (binary64, no fast-math):

* :func:`lcs_length` — :func:`kato.engine.similarity.token_lcs`;
* :func:`_blocks` — :meth:`kato.engine.matcher.BlockMatcher.blocks` (difflib);
* :func:`score_candidates` — the threshold tests of ``similarity.passes_threshold``
  and :func:`kato.engine.pruning.pre_potential`, skipping what the bounded search's
  :class:`Frontier` excludes;
* :func:`single_symbol_blocks` — ``pruning.candidate_blocks`` at LCS 1 and
  :func:`kato.engine.alignment.present_events`;
* :func:`add_postings`, :func:`collect_overlaps` and :func:`split_overlaps` — the
  symbol overlap of every pattern with the state, and the split of the candidates by it
  (``similarity.token_score`` and ``passes_threshold`` at LCS 1), once NumPy passes over
  every candidate, flagging those that may share a bigram with the state.

``tests/engine/test_kernels.py`` compares them with the Python code, and the
indexed-versus-brute-force property test covers them end to end.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from kato.engine import similarity

# Symbol code of a state symbol that no pattern holds: it matches nothing.
UNKNOWN = -1
# Bounds may only skip what cannot qualify: a margin over binary64 rounding.
BOUND_MARGIN = 1e-9


class CandidateScores(NamedTuple):
    """Per-candidate outputs of :func:`score_candidates` (aligned arrays)."""

    scores: np.ndarray  # token score of §6.3 (0-100 scale)
    lcs: np.ndarray
    pre: np.ndarray  # pre-potential of §6.11; -inf: fails the threshold or bounded below the cut
    matched: np.ndarray  # symbols in the matcher's blocks
    blocks: np.ndarray  # number of blocks
    first: np.ndarray  # present events [first, last) of §6.6
    last: np.ndarray

    @classmethod
    def empty(cls, size: int) -> CandidateScores:
        """Zeroed outputs (what :func:`score_candidates` leaves for a skipped candidate),
        but for ``pre``, which it always writes."""
        ints = [np.zeros(size, dtype=np.int64) for _ in range(5)]
        return cls(
            np.zeros(size, dtype=np.float64), ints[0], np.empty(size, dtype=np.float64), *ints[1:]
        )

    def select(self, kept: np.ndarray) -> CandidateScores:
        return CandidateScores(*(values[kept] for values in self))


# The §6.3 formulas themselves, compiled from their one definition.
_token_score = njit(cache=True, nogil=True)(similarity.token_score)
_passes_threshold = njit(cache=True, nogil=True)(similarity.passes_threshold)


@njit(cache=True, nogil=True)
def lcs_length(a: np.ndarray, b: np.ndarray, row: np.ndarray) -> int:
    """Longest common subsequence of two code arrays (``row`` is scratch, len(b)+1)."""
    n = b.size
    for j in range(n + 1):
        row[j] = 0
    for i in range(a.size):
        x = a[i]
        diagonal = 0
        for j in range(n):
            up = row[j + 1]
            if x == b[j]:
                row[j + 1] = diagonal + 1
            elif row[j] > up:
                row[j + 1] = row[j]
            diagonal = up
    return row[n]


@njit(cache=True, nogil=True)
def _longest_match(
    a: np.ndarray,
    b: np.ndarray,
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    run: np.ndarray,
    new_run: np.ndarray,
) -> tuple[int, int, int]:
    """difflib's ``find_longest_match`` without junk: smallest i, then smallest j.

    ``run[j + 1]`` is the length of the run ending at ``(i - 1, j)``.
    """
    best_i, best_j, best_size = alo, blo, 0
    for j in range(blo, bhi + 1):
        run[j] = 0
    for i in range(alo, ahi):
        x = a[i]
        for j in range(blo, bhi):
            if b[j] == x:
                k = run[j] + 1
                new_run[j + 1] = k
                if k > best_size:
                    best_i, best_j, best_size = i - k + 1, j - k + 1, k
            else:
                new_run[j + 1] = 0
        for j in range(blo + 1, bhi + 1):
            run[j] = new_run[j]
    while best_i > alo and best_j > blo and a[best_i - 1] == b[best_j - 1]:
        best_i, best_j, best_size = best_i - 1, best_j - 1, best_size + 1
    while best_i + best_size < ahi and best_j + best_size < bhi:
        if a[best_i + best_size] != b[best_j + best_size]:
            break
        best_size += 1
    return best_i, best_j, best_size


@njit(cache=True, nogil=True)
def _blocks(a: np.ndarray, b: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> int:
    """The merged matching blocks of ``(a, b)`` into ``out`` rows ``(i, j, k)``; their count.

    ``scratch`` is an int64 array of at least ``6 * (len(a) + len(b) + 2)`` items.
    """
    if _shares_bigram(a, b):
        return _greedy_blocks(a, b, scratch, out)
    return _chained_blocks(a, b, out)


@njit(cache=True, nogil=True)
def _chained_blocks(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> int:
    """:func:`_greedy_blocks` when no two adjacent items of ``a`` are adjacent in ``b``.

    Every match then has size 1, so the longest match of a range is its smallest ``i``
    with any match, at its smallest ``j``; nothing before that ``i`` matches, so the left
    recursion is empty and the right one starts after both. The blocks are that chain,
    already in order, and none are adjacent (they would share a bigram). A third of the
    work of the general search on the short patterns most candidates are.
    """
    found = 0
    j_from = 0
    nb = b.size
    for i in range(a.size):
        if j_from >= nb:
            break
        x = a[i]
        for j in range(j_from, nb):
            if b[j] == x:
                out[found, 0], out[found, 1], out[found, 2] = i, j, 1
                found += 1
                j_from = j + 1
                break
    return found


@njit(cache=True, nogil=True)
def _greedy_blocks(a: np.ndarray, b: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> int:
    """difflib's matching blocks, merged: the longest match, then the same on both sides."""
    na, nb = a.size, b.size
    width = nb + 1
    run = scratch[:width]
    new_run = scratch[width : 2 * width]
    depth = (scratch.size - 2 * width) // 4
    stack = scratch[2 * width : 2 * width + 4 * depth].reshape(depth, 4)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = 0, na, 0, nb
    top = 1
    found = 0
    while top > 0:
        top -= 1
        alo, ahi, blo, bhi = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        i, j, k = _longest_match(a, b, alo, ahi, blo, bhi, run, new_run)
        if k:
            out[found, 0], out[found, 1], out[found, 2] = i, j, k
            found += 1
            if alo < i and blo < j:
                stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = alo, i, blo, j
                top += 1
            if i + k < ahi and j + k < bhi:
                stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = i + k, ahi, j + k, bhi
                top += 1
    # Blocks never overlap in ``a``, so ordering by i is difflib's tuple sort.
    for x in range(1, found):
        i, j, k = out[x, 0], out[x, 1], out[x, 2]
        y = x - 1
        while y >= 0 and out[y, 0] > i:
            out[y + 1, 0], out[y + 1, 1], out[y + 1, 2] = out[y, 0], out[y, 1], out[y, 2]
            y -= 1
        out[y + 1, 0], out[y + 1, 1], out[y + 1, 2] = i, j, k
    merged = 0
    i1 = j1 = k1 = 0
    for x in range(found):
        i2, j2, k2 = out[x, 0], out[x, 1], out[x, 2]
        if i1 + k1 == i2 and j1 + k1 == j2:
            k1 += k2
        else:
            if k1:
                out[merged, 0], out[merged, 1], out[merged, 2] = i1, j1, k1
                merged += 1
            i1, j1, k1 = i2, j2, k2
    if k1:
        out[merged, 0], out[merged, 1], out[merged, 2] = i1, j1, k1
        merged += 1
    return merged


@njit(cache=True, nogil=True)
def _present_range(codes: np.ndarray, starts: np.ndarray, i0: int, end: int) -> tuple[int, int]:
    """The present events ``[first, last)`` for the flat present ``[i0, end)``
    (:func:`kato.engine.alignment.present_events`, fix-up included).

    ``starts`` are the event starts with the pattern length appended.
    """
    events = starts.size - 1
    first = 0
    while first <= events and starts[first] < i0:
        first += 1
    last = first
    while last <= events and starts[last] < end:
        last += 1
    if first > 0:
        x = codes[i0]
        for s in range(starts[first - 1], starts[first]):
            if codes[s] == x:
                first -= 1
                break
    return first, last


@njit(cache=True, nogil=True)
def _shares_bigram(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two adjacent items of ``a`` are also adjacent, in order, in ``b``."""
    for i in range(a.size - 1):
        x, y = a[i], a[i + 1]
        for j in range(b.size - 1):
            if b[j] == x and b[j + 1] == y:
                return True
    return False


@njit(cache=True, nogil=True)
def pre_potential_bound(matched: int, length: int, size: int, one_block: bool) -> float:
    """An upper bound of the pre-potential of a candidate with ``matched`` symbols matched.

    With ``S - m`` flat-diff extras ``snr = (3m - S) / (m + S)``; ``evidence = m / L``
    and ``m / L <= confidence <= 1`` (the present holds every match and lies within
    the pattern). So the first term is at most ``(m/L + 1) * snr`` when ``snr > 0``,
    exactly 0 when ``snr == 0``, and at most ``2m/L * snr`` when ``snr < 0``. The
    fragmentation term is at most 1, and ``1/m`` when no block can hold two symbols
    (``one_block`` false). When ``snr == 0`` the bound is exact also in binary64, so
    ties at the cut are decided by name; otherwise a margin covers rounding.
    """
    snr = (3.0 * matched - size) / (matched + size)
    fragment = 1.0 if one_block else 1.0 / matched
    if snr > 0:
        return (matched / length + 1.0) * snr + fragment + BOUND_MARGIN
    if snr == 0:
        return fragment
    return (2.0 * matched / length) * snr + fragment + BOUND_MARGIN


# Bounds of the small (overlap, length) pairs are memoised per call: few are distinct.
_MEMO_SIDE = 64


@njit(cache=True, nogil=True)
def overlap_bounds(
    overlap: np.ndarray, lengths: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_upper_pre_potential` of each candidate from its overlap (``m <= LCS <= o``):
    ``(upper, chained)``, for any blocks and for blocks that are a chain of single
    symbols (a candidate sharing no bigram with the state, see :func:`add_postings`)."""
    upper = np.empty(overlap.size, np.float64)
    chained = np.empty(overlap.size, np.float64)
    memo = np.full((_MEMO_SIDE, _MEMO_SIDE, 2), np.nan)
    for c in range(overlap.size):
        o, length = overlap[c], lengths[c]
        if o < _MEMO_SIDE and length < _MEMO_SIDE:
            if np.isnan(memo[o, length, 0]):
                memo[o, length, 0] = _upper_pre_potential(length, size, o, True)
                memo[o, length, 1] = _upper_pre_potential(length, size, o, False)
            upper[c], chained[c] = memo[o, length, 0], memo[o, length, 1]
        else:
            upper[c] = _upper_pre_potential(length, size, o, True)
            chained[c] = _upper_pre_potential(length, size, o, False)
    return upper, chained


@njit(cache=True, nogil=True)
def _upper_pre_potential(length: int, size: int, most: int, one_block: bool) -> float:
    """The largest :func:`pre_potential_bound` over every ``m <= most`` matched symbols:
    from the overlap, or from the LCS before running the matcher on a pattern that
    shares a bigram with the state."""
    best = -np.inf
    for m in range(1, most + 1):
        best = max(best, pre_potential_bound(m, length, size, one_block))
    return best


# -- successor masks ---------------------------------------------------------------
# Each posting of a symbol ``x`` in a pattern holds a 32-bit mask of the symbols that
# follow an occurrence of ``x`` in the pattern's flat sequence. A pattern none of whose
# state symbols' masks holds a successor of that symbol in the state shares no bigram
# with the state, so its blocks are a chain of single symbols and the tighter
# ``chained`` bound applies before its codes are read. :func:`add_postings` finds this
# while it counts the overlaps (a hit may be a collision: the codes then decide).
HINTED = np.int32(1 << 30)  # flag in an accumulated overlap: may share a bigram
OVERLAP = np.int32(HINTED - 1)  # the overlap itself (a state has fewer symbols)


def successor_bit(code: int) -> int:
    """The bit of a symbol code in a successor mask (a multiplicative hash)."""
    return 1 << ((code * 2654435761) % 4294967296 >> 27)


@njit(cache=True, nogil=True)
def _scored(
    a: np.ndarray,
    state: np.ndarray,
    row: np.ndarray,
    threshold: float,
    out: CandidateScores,
    c: int,
) -> bool:
    """Record the LCS and token score of candidate ``c`` (pattern ``a``); whether it passes
    the threshold tests of §6.3."""
    common = lcs_length(a, state, row)
    score = _token_score(common, a.size, state.size)
    out.scores[c] = score
    out.lcs[c] = common
    return _passes_threshold(score, threshold)


@njit(cache=True, nogil=True)
def add_postings(
    ids: np.ndarray,
    counts: np.ndarray,
    first_event_lengths: np.ndarray,
    successors: np.ndarray,
    cap: np.int32,
    state_successors: np.uint32,
    overlap: np.ndarray,
    first_event_length: np.ndarray,
) -> None:
    """Add one state symbol's postings to the overlap counts: ``min(count in pattern,
    cap)`` to ``overlap`` and the first-event lengths to ``first_event_length``, by id;
    flag with :data:`HINTED` the patterns whose successor mask meets the symbol's
    successors in the state, ``state_successors`` (0 flags none).

    Called once per distinct state symbol, with NumPy views of the postings: a call costs
    a few microseconds of dispatch, where gathering the views into a numba typed List
    first cost about 7 µs per view.
    """
    for x in range(ids.size):
        p = ids[x]
        overlap[p] += min(np.int32(counts[x]), cap)
        first_event_length[p] += first_event_lengths[x]
        if successors[x] & state_successors:
            overlap[p] |= HINTED


@njit(cache=True, nogil=True, inline="always")
def _touched(overlap: np.ndarray) -> int:
    """How many patterns :func:`add_postings` touched (a non-zero count)."""
    touched = 0
    for p in range(overlap.size):
        if overlap[p]:
            touched += 1
    return touched


@njit(cache=True, nogil=True)
def collect_overlaps(
    overlap: np.ndarray,
    first_event_length: np.ndarray,
    lengths: np.ndarray,
    name_keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, overlap, lengths, first_event_length, name_keys)`` of every pattern with a
    non-zero overlap after :func:`add_postings`, ids ascending (``lengths`` and
    ``name_keys`` are the index's, by pattern id)."""
    size = overlap.size
    touched = _touched(overlap)
    out_ids = np.empty(touched, np.int64)
    out_overlap = np.empty(touched, np.int32)
    out_lengths = np.empty(touched, np.int32)
    out_first = np.empty(touched, np.int32)
    out_keys = np.empty(touched, np.uint64)
    t = 0
    for p in range(size):
        if overlap[p]:
            out_ids[t], out_overlap[t], out_lengths[t] = p, overlap[p], lengths[p]
            out_first[t], out_keys[t] = first_event_length[p], name_keys[p]
            t += 1
    return out_ids, out_overlap, out_lengths, out_first, out_keys


@njit(cache=True, nogil=True)
def split_overlaps(
    overlap: np.ndarray,
    first_event_length: np.ndarray,
    lengths: np.ndarray,
    name_keys: np.ndarray,
    state_length: int,
    threshold: float,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
]:
    """After :func:`add_postings`, a pass over the pattern ids (ascending) that splits
    the patterns sharing a symbol with the state: ``(single ids, name keys, scores, pre,
    multi ids, name keys, overlap, lengths, hinted)``, ``hinted`` whether the pattern may
    share a bigram with the state. ``lengths`` and ``name_keys`` are the index's, by
    pattern id.

    A pattern whose overlap bound ``2*o/(P+S)`` cannot reach the threshold (less a
    margin: the LCS is at most ``o``) is in neither group. ``single``: overlap 1 and
    passing both threshold tests of §6.3 with LCS 1, with the token score
    ``((2.0 * 1) / (P + S)) * 100.0`` and the pre-potential (one match, one block, the
    event holding it as the present, ``S - 1`` extras). ``multi``: overlap 2 or more, by
    overlap from the largest down, ids ascending within one. Only these arrays are
    written: the touched patterns (most of the index at 1M) are never gathered into
    arrays of their own.
    """
    touched = _touched(overlap)
    single = np.empty(touched, np.int64)
    single_keys = np.empty(touched, np.uint64)
    scores = np.empty(touched, np.float64)
    pre = np.empty(touched, np.float64)
    kept = np.empty(touched, np.int64)  # multi candidates, by id
    sizes = np.zeros(state_length + 1, np.int64)  # of each overlap (at most the state's)
    reach = threshold - 1e-7
    a = b = 0
    for p in range(overlap.size):
        o = overlap[p] & OVERLAP
        if o == 0:
            continue
        length = lengths[p]
        if not (2.0 * o / float(length + state_length) >= reach):
            continue
        if o == 1:
            score = _token_score(1, length, state_length)
            if _passes_threshold(score, threshold):
                single[a], single_keys[a], scores[a] = p, name_keys[p], score
                pre[a] = _pre_potential(1, 1, length, first_event_length[p], state_length)
                a += 1
        else:
            kept[b] = p
            sizes[min(o, state_length)] += 1
            b += 1
    # The multi candidates by overlap, largest first (a counting sort): the kernel scores
    # the most promising first, which raises the cut soonest.
    end = np.zeros(state_length + 1, np.int64)
    for o in range(state_length - 1, 1, -1):
        end[o] = end[o + 1] + sizes[o + 1]
    multi = np.empty(b, np.int64)
    multi_keys = np.empty(b, np.uint64)
    multi_overlap = np.empty(b, np.int32)
    multi_lengths = np.empty(b, np.int32)
    hinted = np.empty(b, np.bool_)
    for x in range(b):
        p = kept[x]
        o = overlap[p] & OVERLAP
        y = end[min(o, state_length)]
        end[min(o, state_length)] = y + 1
        multi[y], multi_keys[y], multi_overlap[y] = p, name_keys[p], o
        multi_lengths[y], hinted[y] = lengths[p], overlap[p] >= HINTED
    return (
        single[:a],
        single_keys[:a],
        scores[:a],
        pre[:a],
        multi,
        multi_keys,
        multi_overlap,
        multi_lengths,
        hinted,
    )


# -- the bounded search's frontier -------------------------------------------------
# The ``keep`` best (pre-potential, name key) pairs seen so far, in §6.11 order (higher
# pre-potential first, ties to the smaller name), as a binary heap whose root is the
# worst of them: the cut below which nothing can still enter.


@njit(cache=True, nogil=True, inline="always")
def _worse(pre_a: float, key_a: np.uint64, pre_b: float, key_b: np.uint64) -> bool:
    return bool(pre_a < pre_b or (pre_a == pre_b and key_a > key_b))


@njit(cache=True, nogil=True)
def excluded(
    bound: float, key: np.uint64, heap_pre: np.ndarray, heap_keys: np.ndarray, size: int
) -> bool:
    """Whether a candidate whose pre-potential is at most ``bound`` cannot enter a full
    frontier: below the cut, or at it with a larger name key (equal keys may still
    enter: their full names decide later)."""
    if size == 0 or size < heap_pre.size:  # not full (or keeps nothing): anything may enter
        return False
    return bound < heap_pre[0] or (bound == heap_pre[0] and key > heap_keys[0])


@njit(cache=True, nogil=True)
def offer(
    pre: float, key: np.uint64, heap_pre: np.ndarray, heap_keys: np.ndarray, size: np.ndarray
) -> None:
    """Add ``(pre, key)`` to the frontier if it is among the ``keep`` best so far."""
    keep = heap_pre.size
    n = size[0]
    if keep == 0:
        return
    if n < keep:
        i = n
        size[0] = n + 1
        while i > 0:  # sift up past better parents
            parent = (i - 1) // 2
            if not _worse(pre, key, heap_pre[parent], heap_keys[parent]):
                break
            heap_pre[i], heap_keys[i] = heap_pre[parent], heap_keys[parent]
            i = parent
        heap_pre[i], heap_keys[i] = pre, key
        return
    if not _worse(heap_pre[0], heap_keys[0], pre, key):
        return
    i = 0
    while True:  # sift the new pair down from the root
        child = 2 * i + 1
        if child >= keep:
            break
        if child + 1 < keep and _worse(
            heap_pre[child + 1], heap_keys[child + 1], heap_pre[child], heap_keys[child]
        ):
            child += 1
        if not _worse(heap_pre[child], heap_keys[child], pre, key):
            break
        heap_pre[i], heap_keys[i] = heap_pre[child], heap_keys[child]
        i = child
    heap_pre[i], heap_keys[i] = pre, key


@njit(cache=True, nogil=True)
def offer_all(
    pre: np.ndarray, keys: np.ndarray, heap_pre: np.ndarray, heap_keys: np.ndarray, size: np.ndarray
) -> None:
    for c in range(pre.size):
        offer(pre[c], keys[c], heap_pre, heap_keys, size)


@njit(cache=True, nogil=True)
def offer_while_few_enter(
    pre: np.ndarray,
    keys: np.ndarray,
    heap_pre: np.ndarray,
    heap_keys: np.ndarray,
    size: np.ndarray,
    budget: int,
) -> int:
    """Offer the pairs in order until more than ``budget`` of them have entered the
    frontier; the number offered (all of them unless the budget ran out).

    Once the frontier is full, a pair is compared with the cut here and only one that
    beats it costs a call and a sift-down.
    """
    keep = heap_pre.size
    if keep == 0:  # keeps nothing: every pair is offered, and none enters
        return pre.size
    entered = 0
    for c in range(pre.size):
        if size[0] == keep and not _worse(heap_pre[0], heap_keys[0], pre[c], keys[c]):
            continue
        offer(pre[c], keys[c], heap_pre, heap_keys, size)
        entered += 1
        if entered > budget:
            return c + 1
    return pre.size


class Frontier:
    """The ``keep`` best (pre-potential, name key) pairs seen so far (§6.11 order).

    A heap whose root is the worst kept pair: the cut. The compiled kernel offers each
    pre-potential it computes, so the cut rises while it scores (:func:`offer`).
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.heap_pre = np.zeros(keep, dtype=np.float64)
        self.heap_keys = np.zeros(keep, dtype=np.uint64)
        self.size = np.zeros(1, dtype=np.int64)

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The heap as the kernels take it."""
        return self.heap_pre, self.heap_keys, self.size

    def add(self, pre: np.ndarray, keys: np.ndarray) -> None:
        """Offer every pair.

        In most orders few pairs beat the cut once the frontier is full (about ``keep``
        times the log of their number, in a random order), so they are offered one by
        one. An order in which most would enter (rising pre-potentials) would cost a
        sift-down each: past ``16 * keep`` entries, the rest is narrowed to its own
        ``keep`` best by a selection first, which only the best of it could survive.
        """
        pre = pre.astype(np.float64, copy=False)
        keys = keys.astype(np.uint64, copy=False)
        offered = offer_while_few_enter(pre, keys, *self.arrays, 16 * self.keep)
        if offered < pre.size:
            pre, keys = pre[offered:], keys[offered:]
            chosen = self._best(pre, keys)
            offer_all(pre[chosen], keys[chosen], *self.arrays)

    def _best(self, pre: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Positions of the ``keep`` best pairs (a tie at the cut to the smaller keys)."""
        if pre.size <= self.keep:
            return np.arange(pre.size)
        k = pre.size - self.keep
        cut = np.partition(pre, k)[k]
        above = np.flatnonzero(pre > cut)
        tied = np.flatnonzero(pre == cut)
        need = self.keep - above.size  # >= 1: the cut itself is among the best
        if tied.size > need:
            tied = tied[np.argpartition(keys[tied], need - 1)[:need]]
        return np.concatenate([above, tied])

    @property
    def full(self) -> bool:
        return self.keep > 0 and int(self.size[0]) == self.keep

    def contenders(self, pre: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Positions of the candidates ``(pre, keys)`` that may be among the ``keep`` best,
        given that every one of them that could be was offered to this frontier.

        When full, the frontier holds the ``keep`` best pairs, so a candidate strictly
        worse than its cut is beaten by ``keep`` others: only those above the cut, or at
        it with a name key up to the cut's, remain (equal keys: full names decide). A
        superset of the answer that is usually ``keep`` long, so selecting the best among
        it gives the same positions as selecting among all, without a pass that
        partitions every candidate.
        """
        if not self.full:
            return np.arange(pre.size)
        cut, cut_key = self.heap_pre[0], self.heap_keys[0]
        return np.flatnonzero((pre > cut) | ((pre == cut) & (keys <= cut_key)))


@njit(cache=True, nogil=True)
def score_candidates(
    candidates: np.ndarray,
    codes: np.ndarray,
    code_offsets: np.ndarray,
    starts: np.ndarray,
    start_offsets: np.ndarray,
    state: np.ndarray,
    hinted: np.ndarray,
    threshold: float,
    upper: np.ndarray,
    chained: np.ndarray,
    keys: np.ndarray,
    heap_pre: np.ndarray,
    heap_keys: np.ndarray,
    heap_size: np.ndarray,
    out: CandidateScores,
) -> None:
    """Token score, LCS, pre-potential and block summary of each candidate pattern id.

    A candidate failing either threshold test of §6.3, or without a block, gets
    ``pre = -inf`` (its other block fields are then meaningless). So does one that
    cannot enter the frontier (``heap_*``, see :func:`excluded`): by ``upper`` (known
    before anything is computed); by ``chained`` when it is not ``hinted`` (then it
    shares no bigram with the state, see :func:`add_postings`), before its codes are
    read; then, for a pattern sharing a bigram, by
    :func:`_upper_pre_potential` from its LCS. Without a shared bigram the blocks are a
    cheap chain (:func:`_chained_blocks`), so its exact pre-potential decides before its
    LCS is computed (``lcs`` stays 0 when that excludes it). Every exact pre-potential
    that passes is offered to the frontier, so the cut rises as candidates are scored;
    the most promising first skips the most. A frontier of size 0 skips none.
    """
    size = state.size
    longest = 0
    for c in range(candidates.size):
        p = candidates[c]
        length = code_offsets[p + 1] - code_offsets[p]
        longest = max(longest, length)
    row = np.zeros(size + 1, np.int64)
    scratch = np.zeros(6 * (longest + size + 2), np.int64)
    blocks = np.zeros((longest + size + 1, 3), np.int64)
    for c in range(candidates.size):
        out.pre[c] = -np.inf  # ``out`` comes zeroed (CandidateScores.empty)
        if excluded(upper[c], keys[c], heap_pre, heap_keys, heap_size[0]):
            continue
        if not hinted[c] and excluded(chained[c], keys[c], heap_pre, heap_keys, heap_size[0]):
            continue
        p = candidates[c]
        a = codes[code_offsets[p] : code_offsets[p + 1]]
        pattern_starts = starts[start_offsets[p] : start_offsets[p + 1]]
        if hinted[c] and _shares_bigram(a, state):
            if not _scored(a, state, row, threshold, out, c):
                continue
            full = heap_size[0] == heap_pre.size > 0  # only then can a bound exclude
            bound = _upper_pre_potential(a.size, size, out.lcs[c], True) if full else np.inf
            if excluded(bound, keys[c], heap_pre, heap_keys, heap_size[0]):
                continue
            count = _greedy_blocks(a, state, scratch, blocks)
            if count == 0:
                continue
            pre, matched, first, last = _block_summary(a, pattern_starts, blocks, count, size)
        else:
            count = _chained_blocks(a, state, blocks)
            if count == 0:
                continue
            pre, matched, first, last = _block_summary(a, pattern_starts, blocks, count, size)
            if excluded(pre, keys[c], heap_pre, heap_keys, heap_size[0]):
                continue
            if not _scored(a, state, row, threshold, out, c):
                continue
        out.pre[c] = pre
        out.matched[c] = matched
        out.blocks[c] = count
        out.first[c] = first
        out.last[c] = last
        offer(pre, keys[c], heap_pre, heap_keys, heap_size)


@njit(cache=True, nogil=True)
def _block_summary(
    a: np.ndarray, pattern_starts: np.ndarray, blocks: np.ndarray, count: int, size: int
) -> tuple[float, int, int, int]:
    """Pre-potential (§6.11), matched symbols and present events ``[first, last)`` of a
    pattern ``a`` with ``count`` merged blocks against a state of ``size`` symbols."""
    matched = 0
    for x in range(count):
        matched += blocks[x, 2]
    i0 = blocks[0, 0]
    end = blocks[count - 1, 0] + blocks[count - 1, 2]
    first, last = _present_range(a, pattern_starts, i0, end)
    present = pattern_starts[last] - pattern_starts[first]
    return _pre_potential(matched, count, a.size, present, size), matched, first, last


@njit(cache=True, nogil=True, inline="always")
def _pre_potential(matched: int, blocks: int, length: int, present: int, size: int) -> float:
    """§6.11's pre-potential of a pattern of ``length`` symbols with ``matched`` of them
    in ``blocks`` blocks and ``present`` in its present events, against a state of
    ``size``: ``metrics.pre_potential`` of ``metrics.snr``, operation by operation in the
    same order, so the same bits (tests/engine/test_kernels.py compares them)."""
    evidence = matched / length
    confidence = 0.0 if present == 0 else matched / present
    extras = size - matched
    denominator = 2.0 * matched + extras
    snr = 0.0 if denominator == 0 else (2.0 * matched - extras) / denominator
    fragmentation = float(blocks - 1)
    term = 0.0 if fragmentation == -1 else 1.0 / (fragmentation + 1)
    return (evidence + confidence) * snr + term


@njit(cache=True, nogil=True)
def single_symbol_blocks(
    candidates: np.ndarray,
    codes: np.ndarray,
    code_offsets: np.ndarray,
    starts: np.ndarray,
    start_offsets: np.ndarray,
    state: np.ndarray,
) -> np.ndarray:
    """Rows ``(i, j, first, last)`` for candidates sharing exactly one symbol with the
    state: their single block ``(i, j, 1)`` and present events ``[first, last)``.

    The block is at the first pattern position whose symbol is in the state, at that
    symbol's first state position (:func:`kato.engine.pruning.candidate_blocks` at
    LCS 1).
    """
    out = np.zeros((candidates.size, 4), np.int64)
    for c in range(candidates.size):
        p = candidates[c]
        a = codes[code_offsets[p] : code_offsets[p + 1]]
        i0 = j0 = -1
        for i in range(a.size):
            for j in range(state.size):
                if state[j] == a[i]:
                    i0, j0 = i, j
                    break
            if i0 >= 0:
                break
        first, last = _present_range(a, starts[start_offsets[p] : start_offsets[p + 1]], i0, i0 + 1)
        out[c, 0], out[c, 1], out[c, 2], out[c, 3] = i0, j0, first, last
    return out


@njit(cache=True, nogil=True)
def blocks_of_patterns(
    ids: np.ndarray, codes: np.ndarray, code_offsets: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The merged matching blocks (:func:`_blocks`, rows ``(i, j, k)``) of each pattern
    ``ids[n]`` against ``state``, in one call: the rows of all, and ``ends``, where pattern
    n's rows end."""
    total = 0
    longest = 0
    for n in range(ids.size):
        size = code_offsets[ids[n] + 1] - code_offsets[ids[n]]
        total += size + state.size + 1
        longest = max(longest, size)
    scratch = np.zeros(6 * (longest + state.size + 2), np.int64)
    out = np.zeros((total, 3), np.int64)
    ends = np.zeros(ids.size, np.int64)
    count = 0
    for n in range(ids.size):
        p = ids[n]
        count += _blocks(codes[code_offsets[p] : code_offsets[p + 1]], state, scratch, out[count:])
        ends[n] = count
    return out[:count].copy(), ends


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel now, not on the first request."""
    codes = np.array([0, 1, 0], dtype=np.int32)  # one pattern [[0, 1], [0]]
    patterns = (
        codes,
        np.array([0, 3], dtype=np.int64),
        np.array([0, 2, 3], dtype=np.int32),
        np.array([0, 3], dtype=np.int64),
    )
    candidates = np.zeros(1, dtype=np.int64)
    heap = (np.zeros(1, np.float64), np.zeros(1, np.uint64), np.zeros(1, np.int64))
    offer_all(np.zeros(1, np.float64), np.zeros(1, np.uint64), *heap)
    offer_while_few_enter(np.zeros(1, np.float64), np.zeros(1, np.uint64), *heap, 1)
    score_candidates(
        candidates,
        *patterns,
        codes[:2].copy(),
        np.ones(1, np.bool_),
        0.1,
        np.full(1, np.inf),
        np.full(1, np.inf),
        np.zeros(1, dtype=np.uint64),
        *heap,
        CandidateScores.empty(1),
    )
    blocks_of_patterns(candidates, patterns[0], patterns[1], codes)
    single_symbol_blocks(candidates, *patterns, codes[:1].copy())
    one = np.ones(1, np.int32)
    accumulated = (np.zeros(1, np.int32), np.zeros(1, np.int32))
    add_postings(
        np.zeros(1, np.int32),
        *(np.ones(1, np.uint16),) * 2,
        np.ones(1, np.uint32),
        np.int32(1),
        np.uint32(1),
        *accumulated,
    )
    collect_overlaps(*accumulated, one, np.ones(1, np.uint64))
    split_overlaps(*accumulated, one, np.ones(1, np.uint64), 2, 0.1)
    overlap_bounds(np.array([2], dtype=np.int32), np.array([3], dtype=np.int32), 2)
