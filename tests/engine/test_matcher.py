"""The greedy block matcher is exactly difflib.SequenceMatcher without junk heuristics."""

from __future__ import annotations

from difflib import SequenceMatcher

from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine.matcher import BlockMatcher

ITEMS = st.lists(st.sampled_from(["a", "b", "c", "d", ""]), max_size=40)


@settings(max_examples=500, deadline=None)
@given(a=ITEMS, b=ITEMS)
def test_blocks_equal_difflib(a: list[str], b: list[str]) -> None:
    expected = [
        tuple(m)
        for m in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
        if m.size
    ]
    assert BlockMatcher(b).blocks(a) == expected


def test_long_sequences_with_popular_items_are_not_junked() -> None:
    a = ["x"] * 250 + ["y"]
    b = ["x"] * 300 + ["y"]
    expected = [
        tuple(m)
        for m in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
        if m.size
    ]
    assert BlockMatcher(b).blocks(a) == expected == [(0, 50, 251)]
