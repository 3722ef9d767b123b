"""The optional candidate filter pipeline of the multi-symbol path (engine §6.2)."""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from kato.engine.alignment import matching_blocks
from kato.engine.config import EngineConfig
from kato.engine.index import IndexedPattern, PatternIndex
from kato.engine.similarity import refine_similarity, state_ids

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
STARTING_STAGES = frozenset({"length", "jaccard", "minhash"})


@lru_cache(maxsize=16)
def _permutations(num_hashes: int) -> tuple[np.ndarray, np.ndarray]:
    """``a_i``, ``b_i`` drawn in turn from NumPy's legacy ``RandomState(1)`` (datasketch's)."""
    generator = np.random.RandomState(1)
    pairs = [
        (
            generator.randint(1, (1 << 61) - 1, dtype=np.uint64),
            generator.randint(0, (1 << 61) - 1, dtype=np.uint64),
        )
        for _ in range(num_hashes)
    ]
    a = np.array([p[0] for p in pairs], dtype=np.uint64)
    b = np.array([p[1] for p in pairs], dtype=np.uint64)
    return a, b


def _sha1_32(data: bytes) -> int:
    return int(struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0])


def _xxh64(data: bytes) -> int:
    import xxhash

    return int(xxhash.xxh64(data).intdigest())


def token_hasher(name: str) -> Callable[[bytes], int]:
    return _xxh64 if name == "xxhash" else _sha1_32


def minhash_signature(
    symbols: Sequence[str], num_hashes: int, hasher: Callable[[bytes], int]
) -> np.ndarray:
    """The MinHash signature of a set of symbols, as specified in §6.2."""
    a, b = _permutations(num_hashes)
    signature = np.full(num_hashes, _MAX_HASH, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for symbol in set(symbols):
            h = np.uint64(hasher(symbol.encode("utf-8")))
            values = np.bitwise_and((a * h + b) % _MERSENNE, _MAX_HASH)
            signature = np.minimum(signature, values)
    return signature


def _band_count(config: EngineConfig) -> int:
    rows = config.minhash_rows
    bands = config.minhash_bands
    if bands * rows != config.minhash_num_hashes:
        bands = config.minhash_num_hashes // rows
    return bands


def shares_band(x: np.ndarray, y: np.ndarray, bands: int, rows: int) -> bool:
    return any(
        np.array_equal(x[j * rows : (j + 1) * rows], y[j * rows : (j + 1) * rows])
        for j in range(bands)
    )


class FilterPipeline:
    """Runs the session's filter stages over a node's patterns."""

    def __init__(self, index: PatternIndex, config: EngineConfig, hasher_name: str) -> None:
        self.index = index
        self.config = config
        self.hasher = token_hasher(hasher_name)

    def run(self, state: Sequence[str]) -> list[int]:
        """Candidate pattern ids; an empty pipeline means every pattern."""
        if not self.config.filter_pipeline:
            return self.index.all_ids()
        candidates: list[int] | None = None
        for stage in self.config.filter_pipeline:
            if stage not in STARTING_STAGES and candidates is None:
                continue  # a refining stage cannot start a pipeline (quirk)
            pool = self.index.all_ids() if candidates is None else candidates
            candidates = self._apply(stage, pool, state)
            if not candidates:
                return []
        return candidates or []

    def _apply(self, stage: str, pool: list[int], state: Sequence[str]) -> list[int]:
        patterns = [self.index.pattern(pid) for pid in pool]
        if stage == "length":
            keep = self._length_filter(len(state))
        elif stage == "jaccard":
            keep = self._jaccard_filter(set(state))
        elif stage == "minhash":
            keep = self._minhash_filter(state)
        elif stage == "rapidfuzz":
            keep = self._rapidfuzz_filter(state)
        else:  # bloom: the reference's stage always passes candidates through (quirk)
            return pool
        return [pid for pid, pattern in zip(pool, patterns, strict=True) if keep(pattern)]

    def _length_filter(self, state_length: int) -> Callable[[IndexedPattern], bool]:
        lo = max(1, math.floor(state_length * self.config.length_min_ratio))
        hi = math.floor(state_length * self.config.length_max_ratio)
        return lambda p: lo <= p.length <= hi

    def _jaccard_filter(self, query: set[str]) -> Callable[[IndexedPattern], bool]:
        def keep(p: IndexedPattern) -> bool:
            common = sum(1 for s in p.distinct if s in query)
            union = len(p.distinct) + len(query) - common
            return (
                common >= self.config.jaccard_min_overlap
                and union > 0
                and common / union >= self.config.jaccard_threshold
            )

        return keep

    def _minhash_filter(self, state: Sequence[str]) -> Callable[[IndexedPattern], bool]:
        nh = self.config.minhash_num_hashes
        rows = self.config.minhash_rows
        bands = _band_count(self.config)
        query = minhash_signature(state, nh, self.hasher)

        def keep(p: IndexedPattern) -> bool:
            signature = minhash_signature(list(p.distinct), nh, self.hasher)
            if not shares_band(query, signature, bands, rows):
                return False
            estimate = int(np.count_nonzero(query == signature)) / nh
            return estimate >= self.config.minhash_threshold

        return keep

    def _rapidfuzz_filter(self, state: Sequence[str]) -> Callable[[IndexedPattern], bool]:
        threshold = self.config.recall_threshold
        cutoff = threshold if threshold > 0 else 0.1
        ids = state_ids(state)
        token_mode = self.config.use_token_matching

        def keep(p: IndexedPattern) -> bool:
            similar = refine_similarity(p.flat, state, ids, token_mode) >= cutoff
            return similar and bool(matching_blocks(p.flat, state))

        return keep
