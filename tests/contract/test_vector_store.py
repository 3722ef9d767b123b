"""VectorStore contract (engine §3.3.4, §3.3.5)."""

from __future__ import annotations

import pytest

from kato.engine.ports import VectorStore
from kato.storage.ports import Backend


@pytest.fixture
def store(backend: Backend) -> VectorStore:
    vectors = backend.node("node-v").vectors
    assert isinstance(vectors, VectorStore)
    return vectors


def fill(store: VectorStore, vectors: dict[str, list[float]], forced: int | None = None) -> None:
    for name, vector in vectors.items():
        store.add_pending(name, vector)
    store.flush_pending(forced)


def test_empty_store(store: VectorStore) -> None:
    assert store.dimension() is None
    assert store.nearest([1.0, 2.0], 3) == []
    assert store.all_vectors() == []
    assert store.pending() == []


def test_pending_is_not_searched_until_flushed(store: VectorStore) -> None:
    store.add_pending("VCTR|b", [1.0, 0.0])
    store.add_pending("VCTR|a", [0.0, 1.0])
    assert store.pending() == [("VCTR|b", [1.0, 0.0]), ("VCTR|a", [0.0, 1.0])]
    assert store.nearest([1.0, 0.0], 3) == []
    assert store.dimension() is None
    store.flush_pending(None)
    assert store.pending() == []
    assert store.dimension() == 2
    assert store.all_vectors() == [("VCTR|a", [0.0, 1.0]), ("VCTR|b", [1.0, 0.0])]
    assert store.nearest([1.0, 0.0], 1) == ["VCTR|b"]


def test_nearest_by_distance_then_name(store: VectorStore) -> None:
    fill(
        store,
        {
            "VCTR|d": [3.0, 0.0],
            "VCTR|c": [-1.0, 0.0],
            "VCTR|b": [1.0, 0.0],
            "VCTR|a": [0.0, 1.0],
            "VCTR|e": [0.1, 0.1],
        },
    )
    assert store.nearest([0.0, 0.0], 3) == ["VCTR|e", "VCTR|a", "VCTR|b"]
    assert store.nearest([0.0, 0.0], 4) == ["VCTR|e", "VCTR|a", "VCTR|b", "VCTR|c"]
    assert store.nearest([0.0, 0.0], 10) == ["VCTR|e", "VCTR|a", "VCTR|b", "VCTR|c", "VCTR|d"]
    assert store.nearest([2.9, 0.0], 1) == ["VCTR|d"]
    assert store.nearest([0.0, 0.0], 0) == []


def test_first_stored_vector_fixes_dimension(store: VectorStore) -> None:
    store.add_pending("VCTR|x", [1.0, 2.0, 3.0])
    store.add_pending("VCTR|y", [1.0, 2.0])
    store.add_pending("VCTR|z", [0.0, 0.0, 1.0])
    store.flush_pending(None)
    assert store.dimension() == 3
    assert [name for name, _ in store.all_vectors()] == ["VCTR|x", "VCTR|z"]
    assert store.pending() == []
    fill(store, {"VCTR|w": [5.0, 5.0]})  # mismatch with the stored dimension: dropped
    assert [name for name, _ in store.all_vectors()] == ["VCTR|x", "VCTR|z"]


def test_forced_dimension_wins(store: VectorStore) -> None:
    fill(store, {"VCTR|x": [1.0, 2.0, 3.0], "VCTR|y": [1.0, 2.0]}, forced=2)
    assert store.all_vectors() == [("VCTR|y", [1.0, 2.0])]
    assert store.dimension() == 2


def test_stored_names_are_skipped(store: VectorStore) -> None:
    fill(store, {"VCTR|a": [1.0, 1.0]})
    store.add_pending("VCTR|a", [9.0, 9.0])
    store.add_pending("VCTR|b", [2.0, 2.0])
    store.add_pending("VCTR|b", [3.0, 3.0])
    store.flush_pending(None)
    assert store.all_vectors() == [("VCTR|a", [1.0, 1.0]), ("VCTR|b", [2.0, 2.0])]


def test_flush_makes_new_vectors_searchable(store: VectorStore) -> None:
    fill(store, {"VCTR|a": [0.0, 0.0]})
    assert store.nearest([5.0, 5.0], 1) == ["VCTR|a"]
    fill(store, {"VCTR|b": [5.0, 5.0]})
    assert store.nearest([5.0, 5.0], 1) == ["VCTR|b"]


def test_values_round_trip_exactly(store: VectorStore) -> None:
    values = [0.1, -0.0, 1e-300, 1.7976931348623157e308, 1 / 3]
    fill(store, {"VCTR|p": values})
    assert store.all_vectors() == [("VCTR|p", values)]


def test_clear_releases_dimension(store: VectorStore) -> None:
    fill(store, {"VCTR|a": [1.0, 1.0]})
    store.add_pending("VCTR|b", [2.0, 2.0])
    store.clear()
    assert store.dimension() is None
    assert store.all_vectors() == []
    assert store.pending() == []
    assert store.nearest([1.0, 1.0], 3) == []
    fill(store, {"VCTR|c": [1.0, 2.0, 3.0]})
    assert store.dimension() == 3
    assert store.nearest([0.0, 0.0, 0.0], 3) == ["VCTR|c"]


def test_nodes_have_separate_stores(backend: Backend) -> None:
    fill(backend.node("one").vectors, {"VCTR|a": [1.0]})
    other = backend.node("two").vectors
    assert other.dimension() is None
    assert other.nearest([1.0], 3) == []
    assert list(backend.nodes()) == ["one"]
