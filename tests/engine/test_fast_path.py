"""The single-symbol fast path's closed-form alignment is the matcher's (engine §6.19)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine.alignment import flat_diff
from kato.engine.matcher import BlockMatcher
from kato.engine.prediction import _FastPathAlignment

SYMBOLS = st.sampled_from(["x", "y", "z"])


@settings(max_examples=300, deadline=None)
@given(rest=st.lists(SYMBOLS, max_size=8))
def test_closed_form_equals_the_matcher_on_a_candidate(rest: list[str]) -> None:
    flat = ["x", *rest]  # candidates start with the state's one symbol
    matcher = BlockMatcher(["x"])
    blocks = matcher.blocks(flat)
    i0 = blocks[0][0]
    i1, _, k1 = blocks[-1]
    past, present = flat[:i0], flat[i0 : i1 + k1]
    missing, extras = flat_diff(present, matcher)
    expected = _FastPathAlignment(
        past=past,
        present=present,
        matches=[s for _, j, size in blocks for s in matcher.b[j : j + size]],
        missing=missing,
        extras=extras,
        blocks=len(blocks),
    )
    assert _FastPathAlignment.of(flat, "x") == expected
