"""Predictions for an STM (engine §6): candidate search, both paths, ensemble and ranking."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from kato.engine import metrics, pruning
from kato.engine.alignment import (
    EventAlignment,
    FlatAlignment,
    apply_fuzzy_tokens,
    flat_alignment,
    present_range,
    unaligned,
)
from kato.engine.bulk import (
    MultiSymbolCandidates,
    top_by_pre_potential,
    upper_pre_potentials,
)
from kato.engine.config import EngineConfig
from kato.engine.emotives import average_emotives
from kato.engine.filters import FilterPipeline
from kato.engine.index import (
    IndexedPattern,
    MultiOverlaps,
    PatternIndex,
    SingleSymbolCandidates,
    name_key,
)
from kato.engine.kernels import Frontier
from kato.engine.matcher import Block, BlockMatcher
from kato.engine.ports import KnowledgeBase
from kato.engine.similarity import (
    char_score,
    fast_path_similarity,
    passes_threshold,
    state_ids,
    token_lcs,
    token_score,
)
from kato.engine.types import JSONObject, PatternSummary

if TYPE_CHECKING:
    from kato.engine.node import NodeEngine

# A bound may only prune what cannot pass: keep a margin over the threshold tests' own.
_BOUND_MARGIN = 1e-7

FAST_PATH_RANK_FIELDS = frozenset(
    {
        "potential",
        "similarity",
        "evidence",
        "confidence",
        "snr",
        "fragmentation",
        "frequency",
        "weighted_similarity",
        "weighted_evidence",
        "weighted_confidence",
        "weighted_snr",
    }
)


@dataclass(slots=True)
class Predicted:
    """The predictions for an STM and the future groups of their ensemble (§6.14).

    The groups are kept compact: the future_potentials list is built only on demand
    (:meth:`future_potentials`), and an observe stores :meth:`future_rows` instead.
    """

    predictions: list[JSONObject]
    groups: list[_FutureGroup]

    def future_potentials(self) -> list[JSONObject]:
        return _future_potentials(self.groups)

    def future_rows(self) -> list[FutureRow]:
        """The groups as JSON rows, for :func:`future_potentials_of_rows` to rebuild."""
        return [
            [
                g.pattern.name,
                g.last,
                g.aggregate_potential,
                g.supporting_patterns,
                g.total_weighted_frequency,
            ]
            for g in self.groups
        ]


# [pattern name, first future event, aggregate potential, supporting patterns, total weight]
FutureRow = list[Any]


def _nothing() -> Predicted:
    return Predicted([], [])  # fresh lists: callers keep and may extend them


def predict(
    engine: NodeEngine,
    stm: list[list[str]],
    config: EngineConfig,
    *,
    brute_force: bool = False,
) -> Predicted:
    """The predictions for ``stm`` with the session's config, and their future groups.

    ``brute_force`` evaluates every pattern of the node without index pruning;
    it exists so tests and benchmarks can check the indexed search against it.
    """
    state = [symbol for event in stm for symbol in event]
    if not state:
        return _nothing()
    engine.index.sync(engine.kb)
    if not len(engine.index):  # a node that has learned nothing predicts nothing
        return _nothing()
    if len(state) == 1:
        return Predicted(_fast_path(engine.kb, engine.index, state[0], config), [])
    return _multi_symbol(engine, stm, state, config, brute_force)


def future_potentials_of_rows(
    index: PatternIndex, rows: list[FutureRow]
) -> list[JSONObject] | None:
    """:meth:`Predicted.future_potentials` from its :meth:`Predicted.future_rows`; None
    when a pattern they name is not in ``index`` (sync it first)."""
    groups = []
    for name, last, aggregate, supporting, total in rows:
        pattern = index.by_name(name)
        if pattern is None:
            return None
        groups.append(_FutureGroup(pattern, last, total, supporting, aggregate))
    return _future_potentials(groups)


# -- candidate search ----------------------------------------------------------
def _indexed_token_search(config: EngineConfig, brute_force: bool) -> bool:
    """The default case: the symbol index bounds the LCS (token mode, threshold > 0)."""
    return (
        not brute_force
        and not config.filter_pipeline
        and config.use_token_matching
        and config.recall_threshold > 0
    )


def candidate_ids(
    index: PatternIndex,
    state: Sequence[str],
    config: EngineConfig,
    minhash_hash: str,
    brute_force: bool,
) -> dict[int, int | None]:
    """Candidates outside the indexed token search, with their symbol overlap when known.

    Filter pipeline: its stages decide. Brute force: every pattern, nothing known.
    Threshold 0: every pattern qualifies. Character mode: a pattern can be similar
    without sharing a symbol, so every pattern passing a cheap length bound.
    """
    if config.filter_pipeline:
        return dict.fromkeys(FilterPipeline(index, config, minhash_hash).run(state))
    if brute_force:
        return dict.fromkeys(index.all_ids())
    overlaps = index.overlaps(state)
    if config.recall_threshold <= 0:
        return {pid: overlaps.get(pid, 0) for pid in index.all_ids()}
    floor = config.recall_threshold - _BOUND_MARGIN
    size = len(state)
    text_length = sum(len(s) for s in state) + size - 1
    return {
        pid: overlaps.get(pid, 0)
        for pid in index.all_ids()
        if 2.0 * min(text_length, p_len := index.pattern(pid).joined_length) / (text_length + p_len)
        >= floor
    }


# -- multi-symbol path ---------------------------------------------------------
@dataclass(slots=True)
class _Scored:
    """A candidate that passed the threshold, before alignment."""

    pattern: IndexedPattern
    score: float
    lcs: int  # token LCS, also in character mode (it bounds the matcher's matches)
    blocks: list[Block] | None = None  # the matcher's blocks, once computed


@dataclass(slots=True, init=False)
class _Candidate:
    """An aligned ensemble member: its present events are ``[first, last)`` (§6.6)."""

    pattern: IndexedPattern
    name: str  # the pattern's; a field, as sorting and lookups read it often
    similarity: float
    alignment: FlatAlignment | None  # None until needed (see _EnsembleContext.alignment)
    blocks: list[Block] | None  # the matcher's blocks when known before the alignment
    first: int
    last: int
    present: tuple[str, ...]  # flatten(present), sliced once: every phase reads it
    evidence: float
    confidence: float
    snr: float
    fragmentation: float
    summary: PatternSummary | None

    # Written out because mypyc compiles an explicit __init__, while a dataclass's
    # generated one stays interpreted Python (hundreds are built per prediction).
    def __init__(
        self,
        pattern: IndexedPattern,
        name: str,
        similarity: float,
        alignment: FlatAlignment | None,
        blocks: list[Block] | None,
        first: int,
        last: int,
        present: tuple[str, ...],
        evidence: float,
        confidence: float,
        snr: float,
        fragmentation: float,
    ) -> None:
        self.pattern = pattern
        self.name = name
        self.similarity = similarity
        self.alignment = alignment
        self.blocks = blocks
        self.first = first
        self.last = last
        self.present = present
        self.evidence = evidence
        self.confidence = confidence
        self.snr = snr
        self.fragmentation = fragmentation
        self.summary = None

    @classmethod
    def of(
        cls,
        pattern: IndexedPattern,
        similarity: float,
        first: int,
        last: int,
        matched: int,
        snr: float,
        block_count: int,
        alignment: FlatAlignment | None = None,
        blocks: list[Block] | None = None,
    ) -> _Candidate:
        """A member with the base fields of §6.7 from its match counts, present events
        ``[first, last)`` and its ``metrics.snr`` (hundreds are built per prediction:
        arguments are positional, and a caller whose members share an snr passes it once).
        """
        starts = pattern.event_starts
        flat = pattern.flat
        return cls(
            pattern,
            pattern.name,
            similarity,
            alignment,
            blocks,
            first,
            last,
            flat[starts[first] : starts[last]],
            matched / len(flat),
            metrics.ratio_or_zero(matched, starts[last] - starts[first]),
            snr,
            float(block_count - 1),
        )

    @property
    def pre_potential(self) -> float:
        return metrics.pre_potential(self.evidence, self.confidence, self.snr, self.fragmentation)

    def future_key(self) -> tuple[tuple[str, ...], ...]:
        """Equal for futures with equal events after sorting each (§6.14); empty when
        the member has no future."""
        return self.pattern.sorted_events[self.last :]


def _score(
    index: PatternIndex, pool: dict[int, int | None], state: list[str], config: EngineConfig
) -> list[_Scored]:
    """Exact similarity of every pooled pattern; keep those passing both threshold tests."""
    ids = state_ids(state)
    size = len(state)
    threshold = config.recall_threshold
    token_mode = config.use_token_matching
    state_text = " ".join(state)
    kept: list[_Scored] = []
    for pid, overlap in pool.items():
        pattern = index.pattern(pid)
        # With at most one symbol in common the LCS is that overlap.
        lcs = (
            overlap if overlap is not None and overlap <= 1 else token_lcs(pattern.flat, state, ids)
        )
        if token_mode:
            score = token_score(lcs, pattern.length, size)
        else:
            score = char_score(state_text, " ".join(pattern.flat))
        if passes_threshold(score, threshold):
            kept.append(_Scored(pattern, score, lcs))
    return kept


def _evaluate(
    scored: _Scored, stm: list[list[str]], matcher: BlockMatcher, config: EngineConfig
) -> _Candidate | None:
    pattern = scored.pattern
    threshold = config.recall_threshold
    alignment = flat_alignment(pattern.flat, matcher, scored.blocks)
    if alignment is None:
        if threshold > 0:
            return None
        alignment = unaligned(pattern.flat, matcher)
    fuzzy = config.fuzzy_token_threshold or 0.0
    if fuzzy > 0:
        apply_fuzzy_tokens(alignment, pattern.flat, matcher.b, fuzzy)
    similarity = scored.score / 100.0
    if similarity < threshold:
        return None
    matched = len(alignment.matches)
    return _Candidate.of(
        pattern,
        similarity,
        *present_range(pattern, alignment),
        matched,
        metrics.snr(matched, alignment.extras_count),
        len(alignment.blocks),
        alignment,
        alignment.blocks,
    )


def _prune(candidates: list[_Candidate], keep: int) -> list[_Candidate]:
    """Keep the ``keep`` best by the internal pre-potential (ties by name), §6.11."""
    if len(candidates) <= keep:
        return candidates
    return sorted(candidates, key=lambda c: (-c.pre_potential, c.name))[:keep]


def _ensemble(
    scored: list[_Scored],
    stm: list[list[str]],
    matcher: BlockMatcher,
    config: EngineConfig,
    brute_force: bool = False,
) -> list[_Candidate]:
    """Align the scored candidates and prune to 3K (§6.11), in name order.

    With more than 3K candidates, the pre-potential of each is computed from block
    positions alone and only the 3K survivors are fully aligned: the result is
    exactly that of aligning everything first, which is what ``brute_force`` does.
    """
    keep = 3 * config.max_predictions
    fuzzy = (config.fuzzy_token_threshold or 0.0) > 0
    if len(scored) > keep and not fuzzy and not brute_force:
        scored = _survivors(scored, matcher, config, keep)
    return _aligned(scored, stm, matcher, config)


def _aligned(
    scored: list[_Scored], stm: list[list[str]], matcher: BlockMatcher, config: EngineConfig
) -> list[_Candidate]:
    """Fully aligned candidates, pruned to 3K by their pre-potentials, in name order."""
    evaluated = [c for s in scored if (c := _evaluate(s, stm, matcher, config))]
    return sorted(_prune(evaluated, 3 * config.max_predictions), key=lambda c: c.name)


def _indexed_ensemble(
    index: PatternIndex,
    state: list[str],
    stm: list[list[str]],
    matcher: BlockMatcher,
    config: EngineConfig,
) -> list[_Candidate]:
    """:func:`_ensemble` for the indexed token search, candidates scored in bulk.

    Overlap-1 candidates are scored in closed form (:mod:`kato.engine.bulk`), the
    others by the compiled kernel (:mod:`kato.engine.kernels`); with more than 3K
    of them, only the 3K best pre-potentials are aligned.
    """
    bulk, overlaps = index.split_overlaps(state, config.recall_threshold)
    keep = 3 * config.max_predictions
    fuzzy = (config.fuzzy_token_threshold or 0.0) > 0
    bulk_pre = bulk.pre
    frontier = None
    if not fuzzy:
        frontier = Frontier(keep)
        frontier.add(bulk_pre, bulk.name_keys)
    multi = _scored_multi(index, overlaps, frontier, state, config)
    if frontier is None:
        # Fuzzy tokens change matches and snr after alignment: align everyone.
        scores = multi.scores
        scored = _materialise(bulk, index, matcher, range(len(bulk))) + [
            _Scored(index.pattern(int(multi.ids[p])), float(scores.scores[p]), int(scores.lcs[p]))
            for p in range(len(multi))
        ]
        return _aligned(scored, stm, matcher, config)
    if len(bulk) + len(multi) <= keep:
        chosen_bulk: Iterable[int] = range(len(bulk))
        chosen_multi: Iterable[int] = range(len(multi))
    else:
        # Every candidate that can be kept was offered to the frontier (the bulk ones,
        # then each one the kernel scored): only its contenders need ranking.
        in_bulk = frontier.contenders(bulk_pre, bulk.name_keys)
        in_multi = frontier.contenders(multi.scores.pre, multi.name_keys)
        offset = len(bulk)
        contenders = np.concatenate([in_bulk, in_multi + offset])  # bulk first, then multi
        ids = np.concatenate([bulk.ids[in_bulk], multi.ids[in_multi]])
        chosen = contenders[
            top_by_pre_potential(
                np.concatenate([bulk_pre[in_bulk], multi.scores.pre[in_multi]]),
                np.concatenate([bulk.name_keys[in_bulk], multi.name_keys[in_multi]]),
                keep,
                lambda position: index.pattern(int(ids[position])).name,
            )
        ].tolist()
        chosen_bulk = (p for p in chosen if p < offset)
        chosen_multi = [p - offset for p in chosen if p >= offset]
    ensemble = _from_bulk(index, bulk, state, chosen_bulk)
    ensemble += _from_kernel(index, multi, chosen_multi, len(state))
    return sorted(ensemble, key=lambda c: c.name)


def _scored_multi(
    index: PatternIndex,
    overlaps: MultiOverlaps,
    frontier: Frontier | None,
    state: list[str],
    config: EngineConfig,
) -> MultiSymbolCandidates:
    """The candidates sharing two or more symbols that can still be among the 3K best,
    exactly scored by the kernel (all of them when ``frontier`` is None). ``frontier``
    holds the 3K best of the bulk candidates, and the kernel offers it each candidate
    it scores.

    A candidate whose bound (:func:`upper_pre_potentials`: the chained one when the
    successor masks show that it shares no bigram with the state; then the kernel's
    own) is below the 3K-th best exact pre-potential known so far, or equal to it with a
    larger name (ties go to the smaller name), cannot enter the ensemble, so it is never
    scored. The kernel raises that cut with every candidate it scores, and takes them
    from the largest overlap down (their order in ``overlaps``), so the best come first.
    Ties at the cut matter: queries whose cut is exactly 1.0 (many candidates with
    ``snr == 0``) are common.
    """
    ids, keys = overlaps.ids, overlaps.name_keys
    threshold = config.recall_threshold
    if frontier is None:
        return MultiSymbolCandidates.passing(
            ids, keys, index.score_candidates(ids, state, threshold)
        )
    upper, chained = upper_pre_potentials(overlaps.overlap, overlaps.lengths, len(state))
    scores = index.score_candidates(
        ids, state, threshold, frontier, keys, upper, chained, overlaps.hinted
    )
    return MultiSymbolCandidates.passing(ids, keys, scores)


def _from_bulk(
    index: PatternIndex,
    bulk: SingleSymbolCandidates,
    state: list[str],
    positions: Iterable[int],
) -> list[_Candidate]:
    """Ensemble members sharing one symbol with the state, in closed form (same
    values as :func:`_evaluate`): one block at that symbol's first occurrence."""
    chosen = np.fromiter(positions, dtype=np.int64)
    ids = bulk.ids[chosen]
    rows = index.single_symbol_blocks(ids, state).tolist()
    snr = metrics.snr(1, len(state) - 1)
    of = _Candidate.of
    pattern = index.pattern
    return [
        of(pattern(pid), score / 100.0, first, last, 1, snr, 1, None, [(i0, j0, 1)])
        for pid, score, (i0, j0, first, last) in zip(
            ids.tolist(), bulk.scores[chosen].tolist(), rows, strict=True
        )
    ]


def _from_kernel(
    index: PatternIndex, multi: MultiSymbolCandidates, positions: Iterable[int], state_length: int
) -> list[_Candidate]:
    """Ensemble members from the kernel's block summaries; their flat alignments are
    computed only if a returned prediction needs them (same values as :func:`_evaluate`)."""
    chosen = np.fromiter(positions, dtype=np.int64)
    scores = multi.scores
    rows = zip(
        multi.ids[chosen].tolist(),
        scores.scores[chosen].tolist(),
        scores.first[chosen].tolist(),
        scores.last[chosen].tolist(),
        scores.matched[chosen].tolist(),
        scores.blocks[chosen].tolist(),
        strict=True,
    )
    of = _Candidate.of
    pattern = index.pattern
    snr = metrics.snr
    return [
        of(
            pattern(pid),
            score / 100,
            first,
            last,
            matched,
            snr(matched, state_length - matched),
            count,
        )
        for pid, score, first, last, matched, count in rows
    ]


def _materialise(
    bulk: SingleSymbolCandidates,
    index: PatternIndex,
    matcher: BlockMatcher,
    positions: Iterable[int],
) -> list[_Scored]:
    """Bulk candidates as scored ones, with their single block in closed form."""
    symbols = matcher.positions.keys()
    scored = []
    for i in positions:
        pattern = index.pattern(int(bulk.ids[i]))
        blocks = pruning.candidate_blocks(pattern, 1, matcher, symbols)
        scored.append(_Scored(pattern, float(bulk.scores[i]), 1, blocks))
    return scored


def _survivors(
    scored: list[_Scored], matcher: BlockMatcher, config: EngineConfig, keep: int
) -> list[_Scored]:
    """The ``keep`` candidates with the best pre-potentials (ties by name)."""
    symbols = set(matcher.b)
    keep_unaligned = config.recall_threshold <= 0
    aligned: list[_Scored] = []
    values: list[float] = []
    size = len(matcher.b)
    for s in scored:
        s.blocks = pruning.candidate_blocks(s.pattern, s.lcs, matcher, symbols)
        pre = pruning.pre_potential(s.pattern, s.blocks, size, keep_unaligned)
        if pre is not None:
            aligned.append(s)
            values.append(pre)
    chosen = top_by_pre_potential(
        np.array(values, dtype=np.float64),
        np.array([name_key(s.pattern.name) for s in aligned], dtype=np.uint64),
        keep,
        lambda position: aligned[position].pattern.name,
    )
    return [aligned[p] for p in chosen.tolist()]


def _frequency(summary: PatternSummary) -> int:
    return summary.frequency if summary.frequency > 0 else 1


def _affinity_weights(kb: KnowledgeBase, symbols: Iterable[str], emotive: str) -> dict[str, float]:
    distinct = list(dict.fromkeys(symbols))
    affinities = kb.affinities(distinct)
    frequencies = kb.symbol_frequencies(distinct)
    return {
        s: metrics.token_weight(affinities.get(s, {}).get(emotive, 0.0), frequencies.get(s, 0))
        for s in distinct
    }


def _multi_symbol(
    engine: NodeEngine,
    stm: list[list[str]],
    state: list[str],
    config: EngineConfig,
    brute_force: bool,
) -> Predicted:
    index = engine.index
    matcher = BlockMatcher(state)
    if _indexed_token_search(config, brute_force):
        ensemble = _indexed_ensemble(index, state, stm, matcher, config)
    else:
        pool = candidate_ids(index, state, config, engine.settings.minhash_hash, brute_force)
        ensemble = _ensemble(_score(index, pool, state, config), stm, matcher, config, brute_force)
    if not ensemble:
        return _nothing()

    kb = engine.kb
    # Brute force reads the store, so the property tests compare it with the cache.
    names = (c.name for c in ensemble)
    summaries = kb.pattern_summaries(names) if brute_force else index.summaries.get(kb, names)
    ensemble = [c for c in ensemble if c.name in summaries]
    for c in ensemble:
        c.summary = summaries[c.name]
    if not ensemble:
        return _nothing()
    stats = kb.global_stats()
    n_patterns = stats.total_unique_patterns
    distinct_count = stats.distinct_symbols
    total_frequency = 0
    for c in ensemble:
        total_frequency += _frequency(c.summary)  # type: ignore[arg-type]

    # Symbols of matches and missing: the present symbols (missing are those not
    # matched; exact matches lie in the present) plus fuzzy matches, which can be
    # state-only tokens (fuzzy members always carry their alignment).
    spc_symbols: set[str] = set()
    for c in ensemble:
        if c.alignment is not None:
            spc_symbols.update(c.alignment.matches)
        spc_symbols.update(c.present)
    # The index counts the same patterns as the store, from memory; brute force
    # keeps reading the store, so the property tests compare the two.
    pmf = (kb if brute_force else index).pattern_member_frequencies(spc_symbols)
    spc = {
        s: (pmf[s] / n_patterns if pmf.get(s, 0) >= 1 and n_patterns else 0) for s in spc_symbols
    }
    precomputed = kb.precomputed_metrics(c.name for c in ensemble)
    weights = (
        _affinity_weights(kb, state, config.affinity_emotive) if config.affinity_emotive else None
    )

    context = _EnsembleContext(
        index=index,
        state=state,
        stm=stm,
        matcher=matcher,
        spc=spc,
        n_patterns=n_patterns,
        distinct_count=distinct_count,
        total_pattern_frequencies=stats.total_pattern_frequencies,
        total_frequency=total_frequency,
        precomputed=precomputed,
        weights=weights,
    )
    cores = [context.core(c) for c in ensemble]
    groups = _future_groups(cores, ensemble)
    _bayesian_posteriors(cores)
    by_name = {c.name: c for c in ensemble}
    rank_field = config.rank_sort_algo
    if rank_field in LATE_FIELDS:
        # Ranking by a field computed only for the output: compute it for everyone.
        cores = context.completed(cores, by_name)
        return Predicted(rank(cores, rank_field)[: config.max_predictions], groups)
    top = rank(cores, rank_field)[: config.max_predictions]
    return Predicted(context.completed(top, by_name), groups)


# Fields of the output object that neither the ensemble quantities nor the default
# ranking need: computed only for the returned predictions unless ranked by.
LATE_FIELDS = frozenset(
    {"confluence", "normalized_entropy", "global_normalized_entropy", "tfidf_score"}
)


@dataclass(slots=True)
class _EnsembleContext:
    """The node-wide values every member of one ensemble is evaluated with (§6.12)."""

    index: PatternIndex
    state: list[str]
    stm: list[list[str]]
    matcher: BlockMatcher
    spc: dict[str, float]
    n_patterns: int
    distinct_count: int
    total_pattern_frequencies: int
    total_frequency: int
    precomputed: dict[str, Any]
    weights: dict[str, float] | None
    state_vector: metrics.StateVector = field(init=False)

    def __post_init__(self) -> None:
        self.state_vector = metrics.StateVector.of(self.state, self.spc)

    def alignment(self, c: _Candidate) -> FlatAlignment:
        if c.alignment is None:
            alignment = flat_alignment(c.pattern.flat, self.matcher, c.blocks)
            assert alignment is not None  # members have blocks
            c.alignment = alignment
        return c.alignment

    def completed(
        self, cores: list[JSONObject], by_name: dict[str, _Candidate]
    ) -> list[JSONObject]:
        """The output objects of ``cores``; the blocks members still lack are found
        in one compiled pass first (the Python matcher is the slow way to the same)."""
        members = [by_name[core["name"]] for core in cores]
        pending = [c for c in members if c.alignment is None and c.blocks is None]
        if pending:
            found = self.index.matching_blocks([c.name for c in pending], self.state)
            for c, blocks in zip(pending, found, strict=True):
                c.blocks = blocks
        return [self.complete(core, c) for core, c in zip(cores, members, strict=True)]

    def events(self, c: _Candidate) -> EventAlignment:
        matched = set(self.alignment(c).matches)
        return EventAlignment(c.pattern, self.stm, c.first, c.last, matched)

    def core(self, c: _Candidate) -> JSONObject:
        """The fields ranking and the ensemble quantities need."""
        assert c.summary is not None
        frequency = _frequency(c.summary)
        present = c.present
        itfdf = metrics.itfdf_similarity(
            present, self.state_vector, self.spc, frequency, self.total_frequency
        )
        weighted: tuple[Any, Any, Any, Any] = (None, None, None, None)
        ev, conf, sn = c.evidence, c.confidence, c.snr
        if self.weights is not None:
            extras_flat = [s for event in self.events(c).extras for s in event]
            matches = self.alignment(c).matches
            weighted = metrics.weighted_fields(
                self.weights, self.state, c.pattern.flat, matches, present, extras_flat
            )
            ev, conf, sn = weighted[1], weighted[2], weighted[3]
        probability = frequency / self.total_frequency
        return {
            "name": c.name,
            "frequency": frequency,
            "potential": metrics.potential(ev, conf, sn, itfdf, c.fragmentation),
            "evidence": c.evidence,
            "similarity": c.similarity,
            "fragmentation": c.fragmentation,
            "snr": c.snr,
            "predictive_information": 0.0,
            "confidence": c.confidence,
            "weighted_similarity": weighted[0],
            "weighted_evidence": weighted[1],
            "weighted_confidence": weighted[2],
            "weighted_snr": weighted[3],
            "itfdf_similarity": itfdf,
            "pattern_probability": probability,
            "weighted_strength": c.similarity * probability,
            "bayesian_posterior": 0.0,
            "bayesian_prior": probability,
            "bayesian_likelihood": c.similarity,
        }

    def complete(self, core: JSONObject, c: _Candidate) -> JSONObject:
        """The output object of §6.18, in its key order."""
        assert c.summary is not None
        present = c.present
        alignment = self.alignment(c)
        events = self.events(c)
        # finalize-training's values when current, else the same formulas on the present
        symbol_stats = self.precomputed.get(c.name) or metrics.symbol_metrics(
            present, self.spc, self.distinct_count
        )
        return {
            "type": "prototypical",
            "name": c.name,
            "frequency": core["frequency"],
            "emotives": average_emotives(c.summary.emotives),
            "matches": list(alignment.matches),
            "past": events.past,
            "present": events.present,
            "missing": events.missing,
            "extras": events.extras,
            "anomalies": list(alignment.anomalies),
            "potential": core["potential"],
            "evidence": core["evidence"],
            "similarity": core["similarity"],
            "fragmentation": core["fragmentation"],
            "snr": core["snr"],
            "confluence": metrics.confluence(
                present, self.spc, core["frequency"], self.total_pattern_frequencies
            ),
            "predictive_information": core["predictive_information"],
            "sequence": events.past + events.present + events.future,  # the pattern data
            "future": events.future,
            "confidence": core["confidence"],
            "weighted_similarity": core["weighted_similarity"],
            "weighted_evidence": core["weighted_evidence"],
            "weighted_confidence": core["weighted_confidence"],
            "weighted_snr": core["weighted_snr"],
            "entropy": symbol_stats.entropy,
            "normalized_entropy": symbol_stats.normalized_entropy,
            "global_normalized_entropy": symbol_stats.global_normalized_entropy,
            "itfdf_similarity": core["itfdf_similarity"],
            "tfidf_score": metrics.tfidf_score(symbol_stats.tf_vector, self.spc, self.n_patterns),
            "pattern_probability": core["pattern_probability"],
            "weighted_strength": core["weighted_strength"],
            "bayesian_posterior": core["bayesian_posterior"],
            "bayesian_prior": core["bayesian_prior"],
            "bayesian_likelihood": core["bayesian_likelihood"],
        }


def _canonical_key(value: Any) -> bytes:
    """The canonical JSON text of §6.14 as UTF-8 bytes (byte order is code-point order).

    orjson writes the same compact text as the standard library whenever nothing
    needs escaping (no backslash in its output); otherwise, and for lone
    surrogates it refuses, the standard library writes it.
    """
    try:
        text = orjson.dumps(value)
    except TypeError:
        text = b"\\"
    if b"\\" not in text:
        return text
    canonical = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return canonical.encode("utf-8", "surrogatepass")


@dataclass(slots=True, init=False)
class _FutureGroup:
    """Ensemble members with equal futures (§6.14): the future is that of the first in
    name order, ``pattern``, from its event ``last`` on."""

    pattern: IndexedPattern
    last: int
    total_weighted_frequency: float
    supporting_patterns: int
    aggregate_potential: float

    # An explicit __init__ is compiled by mypyc (see _Candidate).
    def __init__(
        self,
        pattern: IndexedPattern,
        last: int,
        total_weighted_frequency: float = 0.0,
        supporting_patterns: int = 0,
        aggregate_potential: float = 0.0,
    ) -> None:
        self.pattern = pattern
        self.last = last
        self.total_weighted_frequency = total_weighted_frequency
        self.supporting_patterns = supporting_patterns
        self.aggregate_potential = aggregate_potential


def _future_groups(objects: list[JSONObject], ensemble: list[_Candidate]) -> list[_FutureGroup]:
    """Group non-empty futures (§6.14) and set each member's predictive_information.

    ``objects`` are the ensemble members' core fields, in the ensemble's name order.
    """
    groups: dict[tuple[tuple[str, ...], ...], _FutureGroup] = {}
    members: list[tuple[JSONObject, _FutureGroup]] = []
    for obj, candidate in zip(objects, ensemble, strict=True):
        key = candidate.future_key()
        if not key:
            continue
        group = groups.get(key)
        if group is None:
            group = groups[key] = _FutureGroup(candidate.pattern, candidate.last)
        group.total_weighted_frequency += obj["frequency"] * obj["similarity"]
        group.supporting_patterns += 1
        members.append((obj, group))
    total = 0.0
    for group in groups.values():
        total += group.total_weighted_frequency
    for group in groups.values():
        group.aggregate_potential = 0.0 if total == 0 else group.total_weighted_frequency / total
    for obj, group in members:
        aggregate = group.aggregate_potential
        obj["predictive_information"] = (
            0.0 if aggregate == 0 else obj["weighted_strength"] / aggregate
        )
    return list(groups.values())


def _future_potentials(groups: list[_FutureGroup]) -> list[JSONObject]:
    """The future_potentials items of §6.14, in their order."""
    return _by_aggregate_then_future(
        [
            {
                "future": _events_from(group.pattern, group.last),
                "aggregate_potential": group.aggregate_potential,
                "supporting_patterns": group.supporting_patterns,
                "total_weighted_frequency": group.total_weighted_frequency,
            }
            for group in groups
        ]
    )


def _events_from(pattern: IndexedPattern, first: int) -> list[list[str]]:
    """The pattern's events from event ``first`` on, as fresh lists."""
    flat = pattern.flat
    return [list(flat[a:b]) for a, b in itertools.pairwise(pattern.event_starts[first:])]


def _by_aggregate_then_future(groups: list[JSONObject]) -> list[JSONObject]:
    """Aggregate potential descending, ties by the canonical JSON of the future (§6.14).

    The JSON text is built only inside runs of equal aggregates, not for every group.
    """
    groups.sort(key=lambda g: -g["aggregate_potential"])
    start = 0
    while start < len(groups):
        end = start + 1
        value = groups[start]["aggregate_potential"]
        while end < len(groups) and groups[end]["aggregate_potential"] == value:
            end += 1
        if end - start > 1:
            tied = groups[start:end]
            groups[start:end] = sorted(tied, key=lambda g: _canonical_key(g["future"]))
        start = end
    return groups


def _bayesian_posteriors(objects: list[JSONObject]) -> None:
    evidence_total = 0.0
    for obj in objects:  # name order
        evidence_total += obj["similarity"] * obj["bayesian_prior"]
    for obj in objects:
        obj["bayesian_posterior"] = (
            0.0
            if evidence_total == 0
            else (obj["similarity"] * obj["bayesian_prior"]) / evidence_total
        )


def rank(objects: list[JSONObject], rank_field: str) -> list[JSONObject]:
    """Descending by ``rank_field``, nulls last, ties by name (§6.17)."""

    def key(obj: JSONObject) -> tuple[bool, float, str]:
        value = obj.get(rank_field)
        return (value is None, 0.0 if value is None else -value, obj["name"])

    return sorted(objects, key=key)


# -- single-symbol fast path (§6.19) ---------------------------------------------
def _fast_path(
    kb: KnowledgeBase, index: PatternIndex, symbol: str, config: EngineConfig
) -> list[JSONObject]:
    rank_field = (
        config.rank_sort_algo if config.rank_sort_algo in FAST_PATH_RANK_FIELDS else "potential"
    )
    selected = None
    if _ranked_by_length(rank_field, config):
        selected = _fast_path_best(kb, index, symbol, config, rank_field)
    if selected is None:
        patterns = sorted(
            (index.pattern(pid) for pid in index.ids_with_first_symbol(symbol)),
            key=lambda p: p.name,
        )
        summaries = index.summaries.get(kb, (p.name for p in patterns))
        patterns = [p for p in patterns if p.name in summaries]
    else:
        patterns, summaries = selected
    if not patterns:
        return []
    weights = None
    if config.affinity_emotive:
        tokens = [symbol, *(s for p in patterns for s in p.flat)]
        weights = _affinity_weights(kb, tokens, config.affinity_emotive)
    by_name = {p.name: p for p in patterns}
    cores = [_fast_path_core(p, summaries[p.name], symbol, config, weights) for p in patterns]
    # A frequent first symbol starts hundreds of patterns: only the K returned
    # ones get their output object.
    return [
        _fast_path_object(core, by_name[core["name"]], summaries[core["name"]], symbol)
        for core in rank(cores, rank_field)[: config.max_predictions]
    ]


def _ranked_by_length(rank_field: str, config: EngineConfig) -> bool:
    """Whether a fast-path candidate's ``rank_field`` depends on nothing but its length.

    Every candidate matches the state's one symbol at its first position (one block, no
    extras), so unweighted all fields but ``frequency`` are functions of the length —
    ``similarity`` only in token mode (2/(P+1)); the weighted ones are all null.
    """
    if config.affinity_emotive or rank_field == "frequency":
        return False
    return rank_field != "similarity" or config.use_token_matching


def _fast_path_best(
    kb: KnowledgeBase, index: PatternIndex, symbol: str, config: EngineConfig, rank_field: str
) -> tuple[list[IndexedPattern], dict[str, PatternSummary]] | None:
    """The K candidates the full ranking would return, with their summaries, found without
    evaluating every one (a frequent first symbol starts a quarter of a large node), when
    ``rank_field`` depends on the length alone: each distinct length's value comes from one
    candidate of that length, evaluated as usual. None (evaluate them all) when there are no
    more than K, or when a pattern this needs has no summary (being removed), which only the
    full path filters.
    """
    ids, lengths, keys = index.first_symbol_arrays(symbol)
    if ids.size <= config.max_predictions:
        return None
    _, first_at, inverse = np.unique(lengths, return_index=True, return_inverse=True)
    representatives = [index.pattern(int(ids[at])) for at in first_at.tolist()]
    summaries = index.summaries.get(kb, (p.name for p in representatives))
    if len(summaries) < len(representatives):
        return None
    by_length = [
        _fast_path_core(p, summaries[p.name], symbol, config, None)[rank_field]
        for p in representatives
    ]
    # rank() puts nulls last; here they are all null or none is (the weighted fields).
    table = np.array([0.0 if v is None else v for v in by_length], dtype=np.float64)
    chosen = top_by_pre_potential(
        table[inverse],
        keys,
        config.max_predictions,
        lambda position: index.pattern(int(ids[position])).name,
    )
    patterns = [index.pattern(int(ids[position])) for position in chosen.tolist()]
    chosen_summaries = index.summaries.get(kb, (p.name for p in patterns))
    if len(chosen_summaries) < len(patterns):
        return None
    return patterns, chosen_summaries


@dataclass(slots=True, init=False)
class _FastPathAlignment:
    """§6.19's flat alignment of a candidate, whose first symbol is the state's one symbol.

    The matcher on ``(p, [x])`` then finds the one block ``(0, 0, 1)``: ``past = []``,
    ``present = matches = [x]`` and the flat diff of ``([x], [x])`` is empty
    (property-tested against the matcher in tests/engine/test_fast_path.py).
    """

    past: list[str]
    present: list[str]
    matches: list[str]
    missing: list[str]
    extras: list[str]
    blocks: int

    # An explicit __init__ is compiled by mypyc (see _Candidate).
    def __init__(
        self,
        past: list[str],
        present: list[str],
        matches: list[str],
        missing: list[str],
        extras: list[str],
        blocks: int,
    ) -> None:
        self.past = past
        self.present = present
        self.matches = matches
        self.missing = missing
        self.extras = extras
        self.blocks = blocks

    @classmethod
    def of(cls, flat: Sequence[str], symbol: str) -> _FastPathAlignment:
        assert flat[0] == symbol
        return cls([], [symbol], [symbol], [], [], 1)


def _fast_path_core(
    pattern: IndexedPattern,
    summary: PatternSummary,
    symbol: str,
    config: EngineConfig,
    weights: dict[str, float] | None,
) -> JSONObject:
    """The fields a fast-path candidate is ranked by (§6.19)."""
    flat = pattern.flat
    alignment = _FastPathAlignment.of(flat, symbol)
    matched = len(alignment.matches)
    evidence = matched / len(flat)
    confidence = metrics.ratio_or_zero(matched, len(alignment.present))
    snr = metrics.fast_path_snr(matched, len(alignment.extras))
    fragmentation = alignment.blocks - 1
    weighted: tuple[Any, Any, Any, Any] = (None, None, None, None)
    ev, conf, sn = evidence, confidence, snr
    if weights is not None:
        weighted = metrics.weighted_fields(
            weights, [symbol], flat, alignment.matches, alignment.present, alignment.extras
        )
        ev, conf, sn = weighted[1], weighted[2], weighted[3]
    return {
        "name": pattern.name,
        "frequency": _frequency(summary),
        "similarity": fast_path_similarity(flat, symbol, config.use_token_matching),
        "evidence": evidence,
        "confidence": confidence,
        "snr": snr,
        "fragmentation": fragmentation,
        "weighted_similarity": weighted[0],
        "weighted_evidence": weighted[1],
        "weighted_confidence": weighted[2],
        "weighted_snr": weighted[3],
        "potential": metrics.fast_path_potential(ev, conf, sn, fragmentation),
    }


def _fast_path_object(
    core: JSONObject, pattern: IndexedPattern, summary: PatternSummary, symbol: str
) -> JSONObject:
    """The output object of §6.19, in its key order."""
    flat = list(pattern.flat)
    alignment = _FastPathAlignment.of(flat, symbol)
    return {
        "name": pattern.name,
        "pattern_data": pattern.data,  # fresh lists
        "length": pattern.length,
        "frequency": core["frequency"],
        "emotives": average_emotives(summary.emotives),
        "matches": alignment.matches,
        "missing": alignment.missing,
        "present": alignment.present,
        "past": alignment.past,
        "future": flat[len(alignment.past) + len(alignment.present) :],
        "extras": alignment.extras,
        "similarity": core["similarity"],
        "evidence": core["evidence"],
        "confidence": core["confidence"],
        "snr": core["snr"],
        "fragmentation": core["fragmentation"],
        "anomalies": [],
        "weighted_similarity": core["weighted_similarity"],
        "weighted_evidence": core["weighted_evidence"],
        "weighted_confidence": core["weighted_confidence"],
        "weighted_snr": core["weighted_snr"],
        "potential": core["potential"],
    }
