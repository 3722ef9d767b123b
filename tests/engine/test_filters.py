"""The filter pipeline (engine §6.2), MinHash included."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash  # type: ignore[import-untyped]

from kato.engine.filters import minhash_signature, token_hasher
from tests.engine.harness import Harness


@pytest.mark.parametrize("num_hashes", [10, 100, 256])
def test_minhash_signature_matches_datasketch_legacy(num_hashes: int) -> None:
    symbols = ["alpha", "beta", 'it\'s "quoted"', "école", ""]
    reference = MinHash(num_perm=num_hashes, seed=1, scheme="legacy")
    for symbol in symbols:
        reference.update(symbol.encode("utf-8"))
    ours = minhash_signature(symbols, num_hashes, token_hasher("sha1"))
    assert np.array_equal(reference.hashvalues, ours)


def test_xxhash_token_hash_changes_the_signature() -> None:
    sha1 = minhash_signature(["a", "b"], 20, token_hasher("sha1"))
    xxh = minhash_signature(["a", "b"], 20, token_hasher("xxhash"))
    assert not np.array_equal(sha1, xxh)


def _kb() -> Harness:
    h = Harness(recall_threshold=0.1)
    h.learn_sequence("a", "b", "c")  # L = 3
    h.learn_sequence("a", "b", "c", "d", "e", "f", "g", "h")  # L = 8
    h.learn_sequence("x", "y")  # no overlap with the queries
    return h


def _names(h: Harness) -> list[int]:
    """The lengths of the predicted patterns (they identify the patterns of ``_kb``)."""
    return sorted(sum(len(event) for event in p["sequence"]) for p in h.predict()[0])


def test_length_stage_keeps_lengths_in_range() -> None:
    h = _kb()
    h.observe("a", "b")  # S = 2: lo = max(1, 1) = 1, hi = 4
    h.configure(filter_pipeline=["length"])
    assert _names(h) == [3]
    h.configure(length_max_ratio=4.0)  # hi = 8
    assert _names(h) == [3, 8]


def test_parameter_zero_is_honoured() -> None:
    h = _kb()
    h.observe("a", "b")
    h.configure(filter_pipeline=["jaccard"], jaccard_threshold=0.0, jaccard_min_overlap=1)
    assert _names(h) == [3, 8]
    h.configure(jaccard_threshold=0.5)  # 2/3 passes, 2/8 does not
    assert _names(h) == [3]


def test_refining_stage_cannot_start_a_pipeline() -> None:
    h = _kb()
    h.observe("a", "b")
    h.configure(filter_pipeline=["bloom", "rapidfuzz"])
    assert h.predict() == ([], [])
    h.configure(filter_pipeline=["rapidfuzz", "length"], length_max_ratio=4.0)
    assert _names(h) == [3, 8]  # rapidfuzz skipped, length applied


def test_rapidfuzz_stage_refines() -> None:
    h = _kb()
    h.observe("a", "b")
    h.configure(filter_pipeline=["length", "rapidfuzz"], length_max_ratio=4.0, recall_threshold=0.5)
    # similarity 2*2/(3+2) = 0.8 passes; 2*2/(8+2) = 0.4 fails
    assert _names(h) == [3]


def test_minhash_stage_finds_identical_sets_and_symbols_with_quotes() -> None:
    h = Harness(recall_threshold=0.1)
    h.learn_sequence("it's", 'say "hi"', "c")
    h.learn_sequence("p", "q", "r")
    h.observe("it's", 'say "hi"', "c")
    h.configure(filter_pipeline=["minhash"], minhash_threshold=0.9)
    (p,) = h.predict()[0]
    assert p["sequence"] == [["it's"], ['say "hi"'], ["c"]]


def test_empty_stage_result_stops_the_pipeline() -> None:
    h = _kb()
    h.observe("a", "b")
    h.configure(filter_pipeline=["jaccard", "length"], jaccard_min_overlap=5)
    assert h.predict() == ([], [])
