"""Every input/state limit answers 422 (body size: 413) with a clear JSON message and changes
nothing, over real HTTP with small limits set in the environment (docs/limits.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kato.service.settings import SettingsError, load_settings
from tests.service.server import KatoServer

NODE = "limits-node"
LIMITS = {
    "KATO_MAX_BODY_BYTES": "4096",
    "KATO_MAX_OBSERVATION_STRINGS": "3",
    "KATO_MAX_STRING_LENGTH": "8",
    "KATO_MAX_OBSERVATION_VECTORS": "2",
    "KATO_MAX_VECTOR_DIMENSIONS": "4",
    "KATO_MAX_EMOTIVES": "2",
    "KATO_MAX_METADATA_CHARS": "40",
    "KATO_MAX_SEQUENCE_LENGTH": "5",
    "KATO_MAX_STM_EVENTS": "4",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KatoServer]:
    with KatoServer(tmp_path_factory.mktemp("limits"), env=LIMITS) as running:
        yield running


@pytest.fixture
def http(server: KatoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        yield client


@pytest.fixture
def session(http: httpx.Client) -> str:
    """A session with one learned pattern in its node and two events in its STM."""
    sid = str(http.post("/sessions", json={"node_id": NODE}).json()["session_id"])
    for word in ("p", "q"):
        assert http.post(f"/sessions/{sid}/observe", json={"strings": [word]}).status_code == 200
    assert http.post(f"/sessions/{sid}/learn").status_code == 200
    for word in ("x", "y"):
        assert http.post(f"/sessions/{sid}/observe", json={"strings": [word]}).status_code == 200
    return sid


def snapshot(http: httpx.Client, sid: str) -> tuple[str, ...]:
    return (
        http.get(f"/sessions/{sid}/cognition-data").text,
        http.get(f"/sessions/{sid}/percept-data").text,
        http.get("/symbols/stats", params={"node_id": NODE}).text,
        http.get("/symbols/affinity", params={"node_id": NODE}).text,
    )


def too_long(loc: list[object], kind: str, limit: int, actual: int, value: object) -> object:
    return {
        "type": "too_long",
        "loc": loc,
        "msg": f"{kind} should have at most {limit} items after validation, not {actual}",
        "input": value,
        "ctx": {"field_type": kind, "max_length": limit, "actual_length": actual},
    }


OBSERVATION_CASES = [
    (
        "strings count",
        {"strings": ["a", "b", "c", "d"]},
        too_long(["body", "strings"], "List", 3, 4, ["a", "b", "c", "d"]),
    ),
    (
        "string length",
        {"strings": ["ok", "123456789"]},
        {
            "type": "string_too_long",
            "loc": ["body", "strings", 1],
            "msg": "String should have at most 8 characters",
            "input": "123456789",
            "ctx": {"max_length": 8},
        },
    ),
    (
        "vector count",
        {"vectors": [[1.0], [2.0], [3.0]]},
        too_long(["body", "vectors"], "List", 2, 3, [[1.0], [2.0], [3.0]]),
    ),
    (
        "vector dimensions",
        {"vectors": [[1.0, 2.0, 3.0, 4.0, 5.0]]},
        too_long(["body", "vectors", 0], "List", 4, 5, [1.0, 2.0, 3.0, 4.0, 5.0]),
    ),
    (
        "emotive count",
        {"emotives": {"a": 1, "b": 2, "c": 3}},
        too_long(["body", "emotives"], "Dictionary", 2, 3, {"a": 1, "b": 2, "c": 3}),
    ),
    (
        "emotive name length",
        {"emotives": {"123456789": 1}},
        {
            "type": "string_too_long",
            "loc": ["body", "emotives", "123456789", "[key]"],
            "msg": "String should have at most 8 characters",
            "input": "123456789",
            "ctx": {"max_length": 8},
        },
    ),
    (
        "emotive overflowing an average",
        {"emotives": {"joy": -1.7e308}},
        {
            "type": "emotive_out_of_range",
            "loc": ["body", "emotives", "joy"],
            "msg": "Emotive values must be between -1e+300 and 1e+300",
            "input": -1.7e308,
            "ctx": {"max_magnitude": 1e300},
        },
    ),
    (
        "metadata size",
        {"metadata": {"text": "x" * 40}},
        {
            "type": "metadata_too_large",
            "loc": ["body", "metadata"],
            "msg": "Metadata should be at most 40 characters as compact JSON, not 51",
            "input": {"text": "x" * 40},
            "ctx": {"max_chars": 40, "actual_chars": 51},
        },
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "error"), OBSERVATION_CASES, ids=[case[0] for case in OBSERVATION_CASES]
)
def test_observation_limits(
    http: httpx.Client, session: str, name: str, body: dict[str, object], error: object
) -> None:
    before = snapshot(http, session)
    r = http.post(f"/sessions/{session}/observe", json=body)
    assert (r.status_code, r.json()) == (422, {"detail": [error]})
    assert r.headers["content-type"] == "application/json"
    # The same observation inside a batch: the batch is refused as a whole.
    r = http.post(f"/sessions/{session}/observe-sequence", json={"observations": [{}, body]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][:4] == ["body", "observations", 1, error["loc"][1]]  # type: ignore[index]
    assert snapshot(http, session) == before


def test_values_at_the_limits_are_accepted(http: httpx.Client, session: str) -> None:
    http.post(f"/sessions/{session}/clear-stm")
    body = {
        "strings": ["12345678", "b", "c"],
        "vectors": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]],
        "emotives": {"joy": 1e300, "fear": -1e300},
        "metadata": {"text": "x" * 29},  # exactly 40 characters of compact JSON
    }
    r = http.post(f"/sessions/{session}/observe", json=body)
    assert r.status_code == 200, r.text
    r = http.post(f"/sessions/{session}/observe", json={"emotives": {"joy": 1e300}})
    assert r.status_code == 200
    percept = http.get(f"/sessions/{session}/percept-data").json()["percept_data"]
    assert percept["emotives"] == {"joy": 1e300, "fear": -1e300}  # averaged, finite
    assert http.post(f"/sessions/{session}/learn").status_code == 200
    stats = http.get("/symbols/affinity", params={"node_id": NODE}).json()["affinities"]
    assert stats["b"] == {"joy": 1e300, "fear": -1e300}


def test_sequence_length_limit(http: httpx.Client, session: str) -> None:
    before = snapshot(http, session)
    batch = [{"strings": [str(i)]} for i in range(6)]
    r = http.post(f"/sessions/{session}/observe-sequence", json={"observations": batch})
    assert r.status_code == 422
    (item,) = r.json()["detail"]
    assert (item["type"], item["loc"], item["ctx"]["max_length"]) == (
        "too_long",
        ["body", "observations"],
        5,
    )
    assert item["msg"] == "List should have at most 5 items after validation, not 6"
    assert snapshot(http, session) == before


def stm_error(loc: list[object], reached: int) -> dict[str, object]:
    return {
        "type": "stm_too_long",
        "loc": loc,
        "msg": (
            f"The STM would hold {reached} events, more than the limit of 4: "
            "learn or clear the STM first"
        ),
        "input": None,
        "ctx": {"max_stm_events": 4, "stm_events": reached},
    }


def test_stm_length_limit(http: httpx.Client, session: str) -> None:
    # The STM holds 2 events: 2 more fit, a third is refused.
    for word in ("z1", "z2"):
        assert (
            http.post(f"/sessions/{session}/observe", json={"strings": [word]}).status_code == 200
        )
    before = snapshot(http, session)
    r = http.post(f"/sessions/{session}/observe", json={"strings": ["z3"]})
    assert (r.status_code, r.json()) == (422, {"detail": [stm_error(["body"], 5)]})
    # An observation without strings or vectors adds no event and is still accepted.
    assert http.post(f"/sessions/{session}/observe", json={"metadata": {"m": 1}}).status_code == 200
    after_empty = snapshot(http, session)
    assert after_empty[2:] == before[2:]
    http.post(f"/sessions/{session}/clear-stm")
    # A batch is refused before anything runs, at the item that would exceed the limit.
    batch = {"observations": [{"strings": [str(i)]} for i in range(5)], "learn_at_end": True}
    before = snapshot(http, session)
    r = http.post(f"/sessions/{session}/observe-sequence", json=batch)
    assert (r.status_code, r.json()) == (
        422,
        {"detail": [stm_error(["body", "observations", 4], 5)]},
    )
    assert snapshot(http, session) == before
    # With learning between items the STM never grows: the same batch is fine.
    r = http.post(f"/sessions/{session}/observe-sequence", json={**batch, "learn_after_each": True})
    assert r.status_code == 200
    assert r.json()["final_stm_length"] == 0


def test_stm_limit_follows_auto_learn(http: httpx.Client) -> None:
    sid = http.post(
        "/sessions", json={"node_id": "auto", "config": {"max_pattern_length": 3}}
    ).json()["session_id"]
    batch = {"observations": [{"strings": [f"s{i}"]} for i in range(5)]}
    r = http.post(f"/sessions/{sid}/observe-sequence", json=batch)
    assert r.status_code == 200, r.text
    assert len(r.json()["auto_learned_patterns"]) == 1
    assert r.json()["final_stm_length"] == 2


def test_body_limit_still_413(http: httpx.Client, session: str) -> None:
    before = snapshot(http, session)
    r = http.post(f"/sessions/{session}/observe", json={"metadata": {"t": "x" * 5000}})
    assert (r.status_code, r.json()) == (413, {"detail": "Request body too large"})
    assert snapshot(http, session) == before


def test_limit_settings_are_validated() -> None:
    assert load_settings().kato_max_sequence_length == 10_000
    with pytest.raises(SettingsError, match="KATO_MAX_STM_EVENTS"):
        load_settings(kato_max_stm_events=0)


def test_defaults_keep_the_1000_event_stm_trim(tmp_path: Path) -> None:
    """With default limits, a single observe never hits the STM limit (the STM is trimmed to
    1000 events when saved, api.md §12.13)."""
    with KatoServer(tmp_path) as running, httpx.Client(base_url=running.base_url) as http:
        sid = http.post("/sessions", json={"node_id": "trim"}).json()["session_id"]
        batch = {"observations": [{"strings": [f"w{i}"]} for i in range(1000)]}
        settings = {"process_predictions": False}
        assert http.post(f"/sessions/{sid}/config", json=settings).status_code == 200
        assert http.post(f"/sessions/{sid}/observe-sequence", json=batch).status_code == 200
        r = http.post(f"/sessions/{sid}/observe", json={"strings": ["last"]})
        assert r.status_code == 200
        assert r.json()["stm_length"] == 1001
        assert http.get(f"/sessions/{sid}/stm").json()["length"] == 1000


def test_sessions_per_node_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, on the embedded store's own per-node count (2 workers: test_session_limit)."""
    from fastapi.testclient import TestClient

    from kato.service.app import create_app

    monkeypatch.setenv("KATO_DATA_DIR", str(tmp_path))
    app = create_app(load_settings(kato_max_sessions_per_node=2))
    with TestClient(app) as client:
        for _ in range(2):
            assert client.post("/sessions", json={"node_id": "q"}).status_code == 200
        count = client.get("/sessions/count").json()["active_session_count"]
        r = client.post("/sessions", json={"node_id": "q"})
        assert r.status_code == 422
        assert r.json() == {
            "detail": [
                {
                    "type": "too_many_sessions",
                    "loc": ["body", "node_id"],
                    "msg": (
                        "Node already has 2 live sessions, the limit is 2: "
                        "delete a session or let one expire"
                    ),
                    "input": "q",
                    "ctx": {"max_sessions_per_node": 2, "live_sessions": 2},
                }
            ]
        }
        assert client.get("/sessions/count").json()["active_session_count"] == count
        assert client.post("/sessions", json={"node_id": "other"}).status_code == 200
