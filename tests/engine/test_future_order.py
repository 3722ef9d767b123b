"""future_potentials ties are ordered by canonical JSON text in code-point order (§6.14)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine.prediction import _canonical_key

FUTURE = st.lists(st.lists(st.text(max_size=4), min_size=1, max_size=3), min_size=1, max_size=3)


def _canonical_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=500, deadline=None)
@given(a=FUTURE, b=FUTURE)
def test_canonical_key_orders_like_the_canonical_text(
    a: list[list[str]], b: list[list[str]]
) -> None:
    text_a, text_b = _canonical_text(a), _canonical_text(b)
    key_a, key_b = _canonical_key(a), _canonical_key(b)
    assert (key_a < key_b) == (text_a < text_b)
    assert (key_a == key_b) == (text_a == text_b)


def test_escaped_and_surrogate_symbols_use_the_standard_text() -> None:
    for future in ([['a"b']], [["\n"]], [["\ud800"]], [["ü", "/"]]):
        assert _canonical_key(future) == _canonical_text(future).encode("utf-8", "surrogatepass")
