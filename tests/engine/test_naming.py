"""Pattern and vector names (engine §3.3.2, §3.3.3, §5.2, E24)."""

from __future__ import annotations

import pytest

from kato.engine.naming import pattern_hash, vector_name, vector_text

VECTOR_TABLE = [
    ([1.0, 2.0, 3.0], "[1. 2. 3.]", "fe5de4472f7e4d5c9cdd19cadebfa06fe3da8e43"),
    ([1.0, 0.0, 0.0], "[1. 0. 0.]", "9d58821e286eae6a77923d694a12ede7cbeabfbd"),
    ([0.0, 1.0, 0.0], "[0. 1. 0.]", "a1ebc66f217009680e3d11cb721cbb480572e90f"),
    ([1.0, 0.0], "[1. 0.]", "b2ee9b10732bd3dcfa2ecc8ee3c56ceed36ddcfc"),
    ([0.5, 0.5], "[0.5 0.5]", "5fd4ba00d0f8c4cf90ef2ba613c34939835927e1"),
    ([1.5, 0.5], "[1.5 0.5]", "f11daefdddee30b6a7a043c084fad802f0553a99"),
    ([1.5, 0.25], "[1.5  0.25]", "a502955a9edc1b954a5ad8e4c8a40a4fb608e263"),
    ([-1.0, 2.5], "[-1.   2.5]", "b9375d98c8716adacce27f8813ec53a104af2639"),
    ([1e-5, 1.0], "[1.e-05 1.e+00]", "db4d58e9dcc12fc54db9cdf0d30e335dd650407e"),
    ([1.5e-5, 1.0], "[1.5e-05 1.0e+00]", "f594241f34a9edf0febaa9d47e3f33915a470125"),
    ([0.001953125, 1.0], "[0.00195312 1.        ]", "2cb56fbe6d9cdeae5db00e1788026271c0e35851"),
    ([0.1, 0.2, 0.30000000000000004], "[0.1 0.2 0.3]", "e09ff768f2b2a0f5d5e78932dc977709e8c35f57"),
]


@pytest.mark.parametrize(("vector", "text", "digest"), VECTOR_TABLE)
def test_vector_names(vector: list[float], text: str, digest: str) -> None:
    assert vector_text(vector) == text
    assert vector_name(vector) == "VCTR|" + digest


def test_multiline_vector_name() -> None:
    vector = [i / 7 for i in range(30)]
    text = vector_text(vector)
    lines = text.split("\n")
    assert len(lines) == 5
    assert lines[0].startswith("[0.         0.14285714")
    assert lines[0].endswith("0.71428571")
    assert all(line.startswith(" ") for line in lines[1:])
    assert vector_name(vector) == "VCTR|0a8f11fd0ecce15124c2d8bc941f787ec21735ed"


def test_e24_large_vectors_get_collision_free_names() -> None:
    one = [0.0] * 1000 + [1.0]
    two = [0.0] * 1000 + [2.0]
    assert vector_name(one) == "VCTR|e2040a188abd72a670edfe4a5a25300d0bce803d"
    assert vector_name(two) == "VCTR|0e0e2e7e9db32f0dc31f5b0c4b69f5ec2d237f84"
    middle = [0.0] * 500 + [5.0] + [0.0] * 499 + [1.0]
    assert len({vector_name(one), vector_name(two), vector_name(middle)}) == 3


PATTERN_TABLE = [
    ([["alpha"], ["beta"], ["gamma"]], "24e0f524f26eecfb14849cf3b3b57c44f3e705c2"),
    ([["a", "b"], ["c"]], "e9e43f2309079f2843665ab773996d99489306d6"),
    ([["a", "a", "b", "b", "c"]], "e44785238903d9f1584ee93fe2d62c89c06ac164"),
    ([["it's", 'a"b']], "9c709b4392b12788ceef623c22e2a6de5bee88a6"),
    ([["école", "ñ"]], "bd86e6f28937fcb522ad439703d0813d5e41e109"),
    ([[""]], "320a1cf720824508a69b230c6d61c9efe7af165e"),
    ([["a\nb", "c\\d"]], "d2523e61f1434f3d5320775493e3ae7990bcb4af"),
    ([["tab\there", "both'\""]], "2929309160d7680cd6b1ca5938c9c27ff8d25212"),
    ([["\u0007", "\u200b", "😀"]], "29cf95f75205d05bb3d7ebf054d1014b0d812a2f"),
]


@pytest.mark.parametrize(("pattern", "digest"), PATTERN_TABLE)
def test_pattern_names(pattern: list[list[str]], digest: str) -> None:
    assert pattern_hash(pattern) == digest


def test_pattern_name_ignores_container_types() -> None:
    assert pattern_hash([("a", "b"), ("c",)]) == "e9e43f2309079f2843665ab773996d99489306d6"  # type: ignore[list-item]
