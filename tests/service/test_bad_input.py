"""Bad input of every kind gets its documented 4xx and changes neither the session nor the KB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.server import KatoServer

JSON = {"content-type": "application/json"}
NODE = "bad-input-node"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KatoServer]:
    data_dir: Path = tmp_path_factory.mktemp("bad-input")
    with KatoServer(data_dir, env={"KATO_MAX_BODY_BYTES": str(1024 * 1024)}) as running:
        yield running


@pytest.fixture(scope="module")
def session(server: KatoServer) -> str:
    """A session whose node knows one pattern and whose STM holds one event."""
    with httpx.Client(base_url=server.base_url) as http:
        sid = str(http.post("/sessions", json={"node_id": NODE}).json()["session_id"])
        for word in ("x", "y"):
            http.post(f"/sessions/{sid}/observe", json={"strings": [word], "emotives": {"e": 1}})
        assert http.post(f"/sessions/{sid}/learn").status_code == 200
        http.post(f"/sessions/{sid}/observe", json={"strings": ["x"], "metadata": {"m": 1}})
        return sid


def snapshot(http: httpx.Client, sid: str) -> tuple[str, ...]:
    state = http.get(f"/sessions/{sid}/cognition-data").json()["cognition_data"]
    return (
        repr(state),
        http.get(f"/sessions/{sid}/percept-data").text,
        http.get(f"/sessions/{sid}/config").text,
        http.get("/symbols/stats", params={"node_id": NODE}).text,
        http.get("/symbols/affinity", params={"node_id": NODE}).text,
        http.get(f"/sessions/{sid}/predictions").text,
    )


def item(type_: str, loc: list[object], msg: str, input_: object) -> dict[str, object]:
    return {"type": type_, "loc": loc, "msg": msg, "input": input_}


BAD_OBSERVATIONS: list[tuple[str, bytes, dict[str, str], int, object]] = [
    (
        "malformed json",
        b'{"strings": [',
        JSON,
        422,
        [
            {
                "type": "json_invalid",
                "loc": ["body", 13],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting value"},
            }
        ],
    ),
    ("missing body", b"", JSON, 422, [item("missing", ["body"], "Field required", None)]),
    (
        "text/plain",
        b'{"strings":["a"]}',
        {"content-type": "text/plain"},
        422,
        [
            item(
                "model_attributes_type",
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                '{"strings":["a"]}',
            )
        ],
    ),
    (
        "number as string",
        b'{"strings":["a",1]}',
        JSON,
        422,
        [item("string_type", ["body", "strings", 1], "Input should be a valid string", 1)],
    ),
    (
        "null strings",
        b'{"strings":null}',
        JSON,
        422,
        [item("list_type", ["body", "strings"], "Input should be a valid list", None)],
    ),
    (
        "NaN in a vector",
        b'{"vectors":[[NaN, 1]]}',
        JSON,
        422,
        [
            item(
                "finite_number", ["body", "vectors", 0, 0], "Input should be a finite number", "NaN"
            )
        ],
    ),
    (
        "Infinity as a string",
        b'{"vectors":[["inf"]]}',
        JSON,
        422,
        [
            item(
                "finite_number", ["body", "vectors", 0, 0], "Input should be a finite number", "inf"
            )
        ],
    ),
    (
        "empty vector",
        b'{"vectors":[[]]}',
        JSON,
        422,
        [
            {
                "type": "too_short",
                "loc": ["body", "vectors", 0],
                "msg": "List should have at least 1 item after validation, not 0",
                "input": [],
                "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0},
            }
        ],
    ),
    (
        "null emotive",
        b'{"emotives":{"joy":null}}',
        JSON,
        422,
        [item("float_type", ["body", "emotives", "joy"], "Input should be a valid number", None)],
    ),
    (
        "infinite emotive",
        b'{"emotives":{"joy":-Infinity}}',
        JSON,
        422,
        [
            item(
                "finite_number",
                ["body", "emotives", "joy"],
                "Input should be a finite number",
                "-Infinity",
            )
        ],
    ),
    (
        "metadata not an object",
        b'{"metadata":[1]}',
        JSON,
        422,
        [item("dict_type", ["body", "metadata"], "Input should be a valid dictionary", [1])],
    ),
    (
        "body is a list",
        b"[1,2]",
        JSON,
        422,
        [
            item(
                "model_attributes_type",
                ["body"],
                "Input should be a valid dictionary or object to extract fields from",
                [1, 2],
            )
        ],
    ),
    ("invalid utf-8", b'{"strings":["\xff"]}', JSON, 400, "There was an error parsing the body"),
    (
        "deep nesting",
        b"[" * 100000 + b"]" * 100000,
        JSON,
        400,
        "There was an error parsing the body",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "headers", "status", "detail"),
    BAD_OBSERVATIONS,
    ids=[case[0] for case in BAD_OBSERVATIONS],
)
def test_bad_observation_changes_nothing(
    http: httpx.Client,
    session: str,
    name: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    detail: object,
) -> None:
    before = snapshot(http, session)
    r = http.post(f"/sessions/{session}/observe", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert r.json() == {"detail": detail}
    assert r.headers["x-session-id"] == session
    assert r.headers["x-trace-id"].startswith("kato-")
    assert snapshot(http, session) == before


def test_huge_body_is_413_and_changes_nothing(http: httpx.Client, session: str) -> None:
    before = snapshot(http, session)
    payload = b'{"strings":["' + b"a" * (2 * 1024 * 1024) + b'"]}'
    r = http.post(f"/sessions/{session}/observe", content=payload, headers=JSON)
    assert (r.status_code, r.json()) == (413, {"detail": "Request body too large"})

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"strings":["'
        for _ in range(40):
            yield b"b" * 65536
        yield b'"]}'

    r = http.post(f"/sessions/{session}/observe", content=chunks(), headers=JSON)
    assert r.status_code == 413
    assert snapshot(http, session) == before


def test_bad_sequence_and_config_change_nothing(http: httpx.Client, session: str) -> None:
    before = snapshot(http, session)
    bad_requests: list[tuple[str, bytes, int]] = [
        ("observe-sequence", b'{"observations":{"strings":["a"]}}', 422),
        ("observe-sequence", b'{"observations":[{"strings":["a"]},{"strings":[2]}]}', 422),
        ("observe-sequence", b'{"learn_at_end":true}', 422),
        ("config", b'{"max_pattern_length":-1}', 400),
        ("config", b'{"filter_pipeline":["nope"],"rank_sort_algo":"x"}', 400),
        ("config", b'{"recall_threshold":"0.5"}', 400),
        ("config", b'{"recall_threshold":NaN}', 400),
        ("config", b'{"config":{"persistence":true}}', 400),
        ("config", b'"not-an-object"', 422),
    ]
    for route, content, status in bad_requests:
        r = http.post(f"/sessions/{session}/{route}", content=content, headers=JSON)
        assert r.status_code == status, (route, content, r.text)
    assert snapshot(http, session) == before


def test_lone_surrogates_round_trip_without_500(http: httpx.Client) -> None:
    sid = http.post("/sessions", json={"node_id": "surrogates"}).json()["session_id"]
    r = http.post(f"/sessions/{sid}/observe", content=b'{"strings":["\\ud800"]}', headers=JSON)
    assert r.status_code == 200
    r = http.get(f"/sessions/{sid}/stm")
    assert r.status_code == 200
    assert r.content == f'{{"stm":[["\\ud800"]],"session_id":"{sid}","length":1}}'.encode()


def test_unknown_session_beats_body_validation(http: httpx.Client) -> None:
    r = http.post("/sessions/nope/observe", content=b"{bad", headers=JSON)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "SESSION_NOT_FOUND"
