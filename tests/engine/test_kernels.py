"""The compiled kernels compute exactly what the Python engine code computes."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kato.engine import kernels, metrics, pruning
from kato.engine.alignment import present_events
from kato.engine.bulk import upper_pre_potentials
from kato.engine.index import PatternIndex, name_key
from kato.engine.matcher import BlockMatcher
from kato.engine.similarity import passes_threshold, state_ids, token_lcs, token_score
from kato.storage.memory import MemoryKnowledgeBase
from tests.contract.helpers import learn

CODES = st.lists(st.integers(min_value=0, max_value=5), max_size=14)
SYMBOLS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
EVENT = st.lists(SYMBOLS, min_size=1, max_size=3)
PATTERN = st.lists(EVENT, min_size=1, max_size=5).filter(lambda p: sum(map(len, p)) >= 2)
STATE = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "unknown"]), min_size=2)


def _codes(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int32)


def _symbols(values: list[int]) -> list[str]:
    """The symbols the codes stand for, for the Python matcher."""
    return [f"s{value}" for value in values]


def _index_of(patterns: list[list[list[str]]]) -> PatternIndex:
    kb = MemoryKnowledgeBase()
    for pattern in patterns:
        learn(kb, pattern)
    index = PatternIndex()
    index.sync(kb)
    return index


@settings(max_examples=500, deadline=None)
@given(a=CODES, b=CODES)
def test_blocks_and_lcs_match_the_python_matcher(a: list[int], b: list[int]) -> None:
    one_pattern = (np.zeros(1, np.int64), _codes(a), np.array([0, len(a)], np.int64))
    rows, _ = kernels.blocks_of_patterns(*one_pattern, _codes(b))
    blocks = [tuple(row) for row in rows.tolist()]
    assert blocks == BlockMatcher(_symbols(b)).blocks(_symbols(a))
    row = np.zeros(len(b) + 1, dtype=np.int64)
    ids = {symbol: value for symbol, value in zip(_symbols(b), b, strict=True)}
    assert kernels.lcs_length(_codes(a), _codes(b), row) == token_lcs(_symbols(a), _symbols(b), ids)


@settings(max_examples=500, deadline=None)
@given(a=CODES, b=CODES)
def test_chained_blocks_are_the_general_search_without_a_shared_bigram(
    a: list[int], b: list[int]
) -> None:
    pattern, state = _codes(a), _codes(b)
    assume(not kernels._shares_bigram(pattern, state))
    size = len(a) + len(b) + 2
    general, chained = np.zeros((size, 3), np.int64), np.zeros((size, 3), np.int64)
    count = kernels._greedy_blocks(pattern, state, np.zeros(6 * size, np.int64), general)
    assert kernels._chained_blocks(pattern, state, chained) == count
    assert chained[:count].tolist() == general[:count].tolist()
    chained_blocks = [tuple(row) for row in chained[:count].tolist()]
    assert chained_blocks == BlockMatcher(_symbols(b)).blocks(_symbols(a))


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(1, 70), st.integers(1, 70)), max_size=20),
    size=st.integers(1, 70),
)
def test_overlap_bounds_are_the_largest_bound_over_every_match_count(
    rows: list[tuple[int, int]], size: int
) -> None:
    overlap = np.array([o for o, _ in rows], dtype=np.int32)
    lengths = np.array([length for _, length in rows], dtype=np.int32)
    upper, chained = upper_pre_potentials(overlap, lengths, size)
    for c, (o, length) in enumerate(rows):  # memoised or not, the same values
        matched = range(1, o + 1)
        assert upper[c] == max(kernels.pre_potential_bound(m, length, size, True) for m in matched)
        assert chained[c] == max(
            kernels.pre_potential_bound(m, length, size, False) for m in matched
        )
        assert chained[c] <= upper[c]


PRE = st.sampled_from([0.5, 1.0, 1.3, 1.8])
KEY = st.sampled_from([0, 2**63, 2**64 - 1])


def _beaten_by(pairs: list[tuple[float, int]], pre: float, key: int) -> int:
    """How many pairs come strictly before ``(pre, key)`` in §6.11 order."""
    return sum(1 for p, k in pairs if p > pre or (p == pre and k < key))


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(PRE, KEY), max_size=12),
    keep=st.integers(0, 4),
    batch=st.integers(1, 12),  # pairs added per call: larger batches are selected in bulk
)
def test_frontier_keeps_the_best_pairs(
    pairs: list[tuple[float, int]], keep: int, batch: int
) -> None:
    frontier = kernels.Frontier(keep)
    for start in range(0, len(pairs), batch):
        part = pairs[start : start + batch]
        frontier.add(
            np.array([pre for pre, _ in part], dtype=np.float64),
            np.array([key for _, key in part], dtype=np.uint64),
        )
    size = int(frontier.size[0])
    pre, keys = frontier.heap_pre[:size].tolist(), frontier.heap_keys[:size].tolist()
    kept = sorted(zip(pre, keys, strict=True))
    best = sorted(pairs, key=lambda pair: (-pair[0], pair[1]))[:keep]
    assert kept == sorted(best)
    if frontier.full:  # the root is the worst kept pair: the cut
        assert (frontier.heap_pre[0], frontier.heap_keys[0]) == best[-1]


@settings(max_examples=100, deadline=None)
@given(
    pres=st.lists(st.integers(0, 40), min_size=1, max_size=200),
    keys=st.lists(st.sampled_from([0, 7, 2**63, 2**64 - 1]), min_size=200, max_size=200),
    keep=st.integers(1, 3),
)
def test_frontier_keeps_the_best_pairs_when_most_would_enter(
    pres: list[int], keys: list[int], keep: int
) -> None:
    # Rising pre-potentials make nearly every pair enter: past 16 * keep entries the
    # frontier selects the best of the rest first.
    pairs = [(p / 8, k) for p, k in zip(sorted(pres), keys, strict=False)]
    frontier = kernels.Frontier(keep)
    frontier.add(
        np.array([p for p, _ in pairs], dtype=np.float64),
        np.array([k for _, k in pairs], dtype=np.uint64),
    )
    size = int(frontier.size[0])
    pre, held = frontier.heap_pre[:size].tolist(), frontier.heap_keys[:size].tolist()
    best = sorted(pairs, key=lambda pair: (-pair[0], pair[1]))[:keep]
    assert sorted(zip(pre, held, strict=True)) == sorted(best)


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(PRE, KEY), max_size=12), keep=st.integers(1, 4))
def test_frontier_contenders_hold_every_pair_that_can_be_kept(
    pairs: list[tuple[float, int]], keep: int
) -> None:
    pre = np.array([p for p, _ in pairs], dtype=np.float64)
    keys = np.array([k for _, k in pairs], dtype=np.uint64)
    frontier = kernels.Frontier(keep)
    frontier.add(pre, keys)
    # A pair beaten by fewer than ``keep`` others may be kept (equal pairs tie, and full
    # names decide): it is a contender; a pair beaten by ``keep`` or more is not.
    expected = [i for i, (p, k) in enumerate(pairs) if _beaten_by(pairs, p, k) < keep]
    assert frontier.contenders(pre, keys).tolist() == expected


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(PATTERN, min_size=1, max_size=8),
    state=STATE,
    threshold=st.sampled_from([0.05, 0.1, 0.2, 0.3, 0.5, 2 / 3, 0.8, 1.0]),
    seeds=st.lists(st.tuples(PRE, KEY), max_size=4),
    keep=st.integers(0, 3),
    false_hints=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_score_candidates_matches_threshold_and_pre_potential(
    patterns: list[list[list[str]]],
    state: list[str],
    threshold: float,
    seeds: list[tuple[float, int]],
    keep: int,
    false_hints: list[bool],
) -> None:
    index = _index_of(patterns)
    ids = np.arange(len(index), dtype=np.int64)
    pids = range(len(index))
    keys = np.array([name_key(index.pattern(pid).name) for pid in pids], dtype=np.uint64)
    overlaps = [
        sum(min(index.pattern(pid).flat.count(x), state.count(x)) for x in set(state))
        for pid in pids
    ]
    lengths = np.array([index.pattern(pid).length for pid in pids])
    upper, chained = upper_pre_potentials(np.array(overlaps), lengths, len(state))
    frontier = kernels.Frontier(keep)
    for pre, key in seeds:
        frontier.add(np.array([pre]), np.array([key], dtype=np.uint64))
    # Every pattern sharing a bigram with the state is hinted; some others are (collisions).
    state_bigrams = set(itertools.pairwise(state))
    hinted = np.array(
        [
            bool(set(itertools.pairwise(index.pattern(pid).flat)) & state_bigrams)
            or false_hints[pid]
            for pid in pids
        ]
    )
    out = index.score_candidates(ids, state, threshold, frontier, keys, upper, chained, hinted)
    matcher = BlockMatcher(state)
    offered = list(seeds)  # every exact pre-potential, skipped or not
    skipped: list[tuple[float, int]] = []
    for pid in range(len(index)):
        pattern = index.pattern(pid)
        common = token_lcs(pattern.flat, state, state_ids(state))
        score = token_score(common, pattern.length, len(state))
        blocks = pruning.candidate_blocks(pattern, common, matcher, set(state))
        expected = pruning.pre_potential(pattern, blocks, len(state), keep_unaligned=False)
        if not passes_threshold(score, threshold):
            expected = None
        got = None if out.pre[pid] == -np.inf else float(out.pre[pid])
        if expected is not None:
            assert expected <= upper[pid]
            if all(k == 1 for _, _, k in blocks):  # single-symbol blocks: the chained bound
                assert expected <= chained[pid]
            offered.append((expected, int(keys[pid])))
            if got is None:  # skipped by a bound: checked against everything below
                skipped.append((expected, int(keys[pid])))
                continue
        assert got == expected
        if out.lcs[pid] == 0 and common > 0:  # skipped before its LCS
            continue
        assert (out.lcs[pid], out.scores[pid]) == (common, score)
        if expected is None:
            continue
        i0, end = blocks[0][0], blocks[-1][0] + blocks[-1][2]
        first, last = present_events(pattern, i0, end - i0, pattern.flat[i0])
        assert (out.first[pid], out.last[pid]) == (first, last)
        assert out.matched[pid] == sum(k for _, _, k in blocks)
        assert out.blocks[pid] == len(blocks)
    # Sound: a skipped candidate has at least ``keep`` better pairs (ties by name key).
    for pre, key in skipped:
        assert keep > 0 and _beaten_by(offered, pre, key) >= keep


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(PATTERN, min_size=1, max_size=8),
    state=STATE,
)
def test_single_symbol_blocks_match_the_closed_form_and_present_events(
    patterns: list[list[list[str]]], state: list[str]
) -> None:
    index = _index_of(patterns)
    matcher = BlockMatcher(state)
    single = [
        pid
        for pid in range(len(index))
        if token_lcs(index.pattern(pid).flat, state, state_ids(state)) == 1
    ]
    rows = index.single_symbol_blocks(np.array(single, dtype=np.int64), state).tolist()
    for pid, (i, j, first, last) in zip(single, rows, strict=True):
        pattern = index.pattern(pid)
        blocks = pruning.candidate_blocks(pattern, 1, matcher, set(state))
        assert [(i, j, 1)] == blocks
        assert (first, last) == present_events(pattern, i, 1, pattern.flat[i])


@settings(max_examples=300, deadline=None)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=8), state=STATE)
def test_overlap_arrays_count_shared_symbols(
    patterns: list[list[list[str]]], state: list[str]
) -> None:
    index = _index_of(patterns)
    overlaps = index.overlap_arrays(state)
    expected = {}
    for pid in range(len(index)):
        flat = index.pattern(pid).flat
        overlap = sum(min(flat.count(s), state.count(s)) for s in set(state))
        if overlap:
            expected[pid] = overlap
    assert overlaps.ids.tolist() == sorted(expected)  # ascending ids
    assert overlaps.overlap.tolist() == [expected[pid] for pid in sorted(expected)]
    for position, pid in enumerate(overlaps.ids.tolist()):
        pattern = index.pattern(pid)
        assert overlaps.lengths[position] == pattern.length
        assert overlaps.name_keys[position] == name_key(pattern.name)
        if overlaps.overlap[position] == 1:  # the event holding the shared symbol's first copy
            shared = next(s for s in pattern.flat if s in state)
            first = pattern.flat.index(shared)
            event = next(
                k for k in range(pattern.event_count) if pattern.event_starts[k + 1] > first
            )
            assert overlaps.first_event_length[position] == len(pattern.event(event))
    # The index's split pass sees the same overlaps (at threshold 0 every one may pass),
    # and flags every pattern that shares a bigram with the state.
    single, multi = index.split_overlaps(state, 0.0)
    assert single.ids.tolist() == [pid for pid in sorted(expected) if expected[pid] == 1]
    sharing_several = [pid for pid in sorted(expected) if expected[pid] > 1]
    assert multi.ids.tolist() == sorted(sharing_several, key=lambda pid: -expected[pid])  # stable
    assert multi.overlap.tolist() == [expected[pid] for pid in multi.ids.tolist()]
    for pid, hinted in zip(multi.ids.tolist(), multi.hinted.tolist(), strict=True):
        flat = index.pattern(pid).flat
        assert hinted or not set(itertools.pairwise(flat)) & set(itertools.pairwise(state))


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 6), st.integers(1, 18), st.integers(1, 18)), max_size=30
    ),
    state_length=st.integers(1, 12),
    threshold=st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 2 / 3, 0.8, 1.0]),
)
def test_split_overlaps_keeps_the_single_passing_and_the_reachable_multi(
    rows: list[tuple[int, int, int]], state_length: int, threshold: float
) -> None:
    # Pattern ids by row. Overlap 0 (no state symbol) is in neither group, and a multiset
    # overlap is at most the state's length.
    overlap = np.array([min(o, state_length) for o, _, _ in rows], dtype=np.int32)
    lengths = np.array([max(o, length) for o, length, _ in rows], dtype=np.int32)
    # the event holding the one shared symbol: at most the pattern's length
    first = np.array(
        [min(f, length) for f, length in zip([r[2] for r in rows], lengths.tolist(), strict=True)],
        dtype=np.int32,
    )
    keys = np.arange(len(rows), dtype=np.uint64) * np.uint64(7)
    hinted = np.array([p % 3 == 0 for p in range(len(rows))])
    flagged = overlap | np.where(hinted, kernels.HINTED, 0).astype(np.int32)
    split = kernels.split_overlaps(flagged, first, lengths, keys, state_length, threshold)
    single, single_keys, scores, pre, multi, multi_keys, multi_overlap, multi_lengths = split[:8]
    reachable = [
        o > 0 and 2.0 * o / (length + state_length) >= threshold - 1e-7
        for o, length in zip(overlap.tolist(), lengths.tolist(), strict=True)
    ]
    expected_single = [
        p
        for p, (o, length) in enumerate(zip(overlap.tolist(), lengths.tolist(), strict=True))
        if reachable[p]
        and o == 1
        and passes_threshold(token_score(1, length, state_length), threshold)
    ]
    assert single.tolist() == expected_single
    assert single_keys.tolist() == keys[single].tolist()
    assert scores.tolist() == [token_score(1, int(lengths[p]), state_length) for p in single]
    snr = metrics.snr(1, state_length - 1)
    assert pre.tolist() == [  # the same bits as the scalar formulas
        metrics.pre_potential(1.0 / int(lengths[p]), 1.0 / int(first[p]), snr, 0.0) for p in single
    ]
    kept = [p for p, o in enumerate(overlap.tolist()) if o > 1 and reachable[p]]
    by_overlap = sorted(kept, key=lambda p: -int(overlap[p]))  # stable: ids ascending
    assert multi.tolist() == by_overlap
    assert multi_keys.tolist() == keys[multi].tolist()
    assert multi_overlap.tolist() == overlap[multi].tolist()
    assert multi_lengths.tolist() == lengths[multi].tolist()
    assert split[8].tolist() == hinted[multi].tolist()


@settings(max_examples=100, deadline=None)
@given(patterns=st.lists(PATTERN, min_size=1, max_size=5), state=STATE)
def test_matching_blocks_of_many_patterns_are_the_matchers(
    patterns: list[list[list[str]]], state: list[str]
) -> None:
    index = _index_of(patterns)
    flats = [index.pattern(pid).flat for pid in range(len(index))]
    found = index.matching_blocks([index.pattern(pid).name for pid in range(len(index))], state)
    assert found == [BlockMatcher(state).blocks(flat) for flat in flats]
