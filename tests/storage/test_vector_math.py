"""The shared vector rules: exact distances, name tie-break, flush selection."""

from __future__ import annotations

import numpy as np
import pytest

from kato.storage.embedded_codec import vector_bytes, vector_rows
from kato.storage.vector_math import as_matrix, euclidean_distances, nearest_names, select_flush


def test_distance_bits_do_not_depend_on_row_count() -> None:
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(50, 37)).tolist()
    query = rng.normal(size=37).tolist()
    together = euclidean_distances(as_matrix(rows, 37), query)
    for i, row in enumerate(rows):
        alone = euclidean_distances(as_matrix([row], 37), query)[0]
        expected = sum((a - b) ** 2 for a, b in zip(row, query, strict=True)) ** 0.5
        assert alone == together[i] == expected


def test_the_matrix_is_column_major_and_its_distances_are_the_row_major_ones() -> None:
    rng = np.random.default_rng(11)
    rows = rng.normal(size=(200, 64))
    query = rng.normal(size=64).tolist()
    matrix = as_matrix(rows.tolist(), 64)
    assert matrix.flags.f_contiguous and np.array_equal(matrix, rows)
    assert np.array_equal(
        euclidean_distances(matrix, query), euclidean_distances(np.ascontiguousarray(rows), query)
    )
    assert as_matrix([], 64).shape == (0, 64)


def test_stored_vector_bytes_read_back_as_rows() -> None:
    vectors = [[0.1, -2.5, 1e-300], [3.0, 0.0, -0.0]]
    rows = vector_rows([vector_bytes(v) for v in vectors], 3)
    assert rows.tolist() == vectors
    assert vector_rows([], 3).shape == (0, 3)


def test_ties_break_by_name() -> None:
    names = ["VCTR|a", "VCTR|b", "VCTR|c"]
    matrix = as_matrix([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0]], 2)
    assert nearest_names(names, matrix, [0.0, 0.0], 2) == ["VCTR|a", "VCTR|b"]
    assert nearest_names(names, matrix, [0.0, -0.5], 3) == ["VCTR|c", "VCTR|b", "VCTR|a"]


def test_wrong_query_length_is_an_error() -> None:
    with pytest.raises(ValueError):
        euclidean_distances(as_matrix([[1.0, 2.0]], 2), [1.0])


def test_select_flush_rules() -> None:
    pending = [
        ("x", [1.0, 2.0]),
        ("y", [1.0]),
        ("z", [3.0, 4.0]),
        ("x", [5.0, 6.0]),
        ("s", [0.0, 0.0]),
    ]
    selected, dimension = select_flush(pending, {"s"}.__contains__, None, None)
    assert selected == [("x", [1.0, 2.0]), ("z", [3.0, 4.0])]
    assert dimension == 2
    selected, dimension = select_flush(pending, lambda name: False, None, 1)
    assert selected == [("y", [1.0])] and dimension == 1
    assert select_flush([("y", [1.0])], lambda name: False, 2, None) == ([], 2)
    assert select_flush([], lambda name: False, None, None) == ([], None)
