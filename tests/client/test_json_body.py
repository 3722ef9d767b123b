"""The clients' body decoder gives exactly what ``json.loads`` gives, faster where it can."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.client import json_body

# Integers around both 64-bit limits, where orjson stops reading them as integers.
EDGE_INTEGERS = st.sampled_from(
    [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19, -(10**19)]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | EDGE_INTEGERS
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()  # lone surrogates included: orjson refuses them
    | st.from_regex(r"[0-9]{15,25}", fullmatch=True)  # digit runs inside strings
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _same(value: object) -> str:
    """Equal exactly, types included (``1 == 1.0``, so compare reprs; NaN reprs match)."""
    return repr(value)


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS, st.booleans())
def test_decodes_like_the_standard_library(document: object, ascii_only: bool) -> None:
    content = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert _same(json_body.loads(content)) == _same(json.loads(content))


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551616",  # 2**64: orjson alone gives a float
        "-9223372036854775809",  # one below int64
        '{"count":[1,99999999999999999999]}',
        '{"x":12345678901234567890.5}',
    ],
)
def test_integers_beyond_64_bits_stay_exact(text: str) -> None:
    value = json_body.loads(text.encode())
    assert _same(value) == _same(json.loads(text))


def test_typical_bodies_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Long fraction digits (repr of floats in [1e-4, 1)) and 18-digit integers are safe.
    def refuse(_: object) -> None:
        raise AssertionError("fell back to the standard library")

    monkeypatch.setattr(json_body.json, "loads", refuse)
    body = b'{"confluence":0.00012659679799063468,"n":123456789012345678,"e":1.5e-07}'
    assert json_body.loads(body) == {
        "confluence": 0.00012659679799063468,
        "n": 123456789012345678,
        "e": 1.5e-07,
    }


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '"\\ud800"', "1e400"])
def test_what_orjson_refuses_comes_from_the_standard_library(text: str) -> None:
    assert _same(json_body.loads(text.encode())) == _same(json.loads(text))


@pytest.mark.parametrize("text", ["", "[1,]", "{", "nope", "\xff"])
def test_errors_are_the_standard_librarys(text: str) -> None:
    content = text.encode("latin-1")
    with pytest.raises(ValueError) as expected:
        json.loads(content)
    with pytest.raises(type(expected.value)) as raised:
        json_body.loads(content)
    assert str(raised.value) == str(expected.value)
