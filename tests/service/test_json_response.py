"""The fast JSON writer writes exactly the standard library's contract text (api.md §2.2)."""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.service import json_response
from kato.service.json_response import encode, standard_encode, with_repr_floats


class Level(enum.IntEnum):
    LOW = 1


class Tag(str):
    pass


# Floats where orjson and repr part ways (below 1e-4, exponents) next to ordinary ones.
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.floats(min_value=1e14, max_value=1e18),
    st.integers(0, 10**6).map(lambda n: n / 7.0),
    st.sampled_from([1e-05, 0.0001, 1e16, 1e15, 5e-324, -0.0, 3.666666666666666, 1.5e300]),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    _FLOATS,
    st.text(),  # includes lone surrogates, controls, U+2028, non-ASCII
    st.sampled_from(["1e5", "0.00001", 'x\u2028\x7f\x1f\b\n é"\\', Level.LOW, Tag("t")]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=5), children, max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=1500, deadline=None)
@given(_VALUES)
def test_encode_writes_the_standard_librarys_bytes(value: Any) -> None:
    assert encode(value) == standard_encode(value)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=5), _VALUES, max_size=6), max_size=4))
def test_marked_small_floats_are_written_as_the_standard_library_writes_them(
    objects: list[dict[str, Any]],
) -> None:
    before = standard_encode(objects)
    marked = with_repr_floats(objects)
    assert encode(marked) == before
    assert standard_encode(marked) == before
    assert standard_encode(objects) == before  # the input is left as it was


def test_the_float_forms_orjson_writes_differently_keep_the_contract_text() -> None:
    body = {"small": 1e-05, "tiny": 1.5212603486793025e-05, "big": 1e16, "ok": 0.0001}
    assert encode(body) == b'{"small":1e-05,"tiny":1.5212603486793025e-05,"big":1e+16,"ok":0.0001}'


def test_non_finite_numbers_are_written_as_null() -> None:
    assert encode({"a": math.inf, "b": [math.nan, 1.0]}) == b'{"a":null,"b":[null,1.0]}'


def test_a_typical_prediction_body_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fallback(content: Any) -> bytes:
        raise AssertionError("the standard library path was taken")

    name = "e9e43f2309079f2843665ab773996d99489306d6"  # hex names hold "3e", "9e", ...
    prediction = {
        "name": name,
        "emotives": {"joy": 1.5e-07},
        "potential": 3.666666666666666,
        "confluence": 9.814373019e-05,
        "weighted_snr": None,
        "s": "é",
    }
    expected = standard_encode({"predictions": [prediction]})
    monkeypatch.setattr(json_response, "standard_encode", no_fallback)
    assert encode({"predictions": with_repr_floats([prediction])}) == expected
    assert b'"confluence":9.814373019e-05' in expected and b'"joy":1.5e-07' in expected
