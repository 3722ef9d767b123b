"""GET /nodes/{id}/export and POST /nodes/{id}/import over real HTTP (one server, embedded)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service.server import KatoServer

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with KatoServer(tmp_path_factory.mktemp("transfer-route")) as server:
        yield server.base_url


def train(base: str, node: str) -> None:
    sid = httpx.post(f"{base}/sessions", json={"node_id": node}).json()["session_id"]
    episodes = [
        [{"strings": ["a", "b"], "emotives": {"joy": -0.0}}, {"strings": ["c"]}],
        [
            {"strings": ["école"], "vectors": [[0.5, 1.0]]},
            {"strings": ["d"], "emotives": {"joy": 0.3}},
        ],
        [{"strings": ["a"]}, {"strings": ["c"], "metadata": {"k": "v"}}],
    ]
    for episode in episodes:
        for item in episode:
            assert httpx.post(f"{base}/sessions/{sid}/observe", json=item).status_code == 200
        assert httpx.post(f"{base}/sessions/{sid}/learn").status_code == 200
    httpx.post(
        f"{base}/sessions/{sid}/observe", json={"strings": ["tail"], "vectors": [[1.0, 0.0]]}
    )


def export(base: str, node: str) -> httpx.Response:
    response = httpx.get(f"{base}/nodes/{node}/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    return response


def test_round_trip_is_byte_identical_and_predicts_the_same(base: str) -> None:
    train(base, "route-src")
    original = export(base, "route-src").content
    assert original.count(b'"type":"pattern"') == 3
    assert b'"joy":-0.0' in original  # the -0.0 affinity survives, exactly
    assert b'"type":"pending"' in original and b'"type":"vector"' in original
    imported = httpx.post(f"{base}/nodes/route-dst/import", content=original, headers=NDJSON)
    assert imported.status_code == 200
    assert imported.json() == {
        "status": "imported",
        "node_id": "route-dst",
        "replaced": False,
        "patterns": 3,
        "symbols": 6,
        "affinities": 6,
        "vectors": 1,
        "pending": 1,
    }
    copy = export(base, "route-dst").content
    assert copy == original.replace(b'"node_id":"route-src"', b'"node_id":"route-dst"')
    answers = []
    for node in ("route-src", "route-dst"):
        sid = httpx.post(f"{base}/sessions", json={"node_id": node}).json()["session_id"]
        httpx.post(f"{base}/sessions/{sid}/observe", json={"strings": ["a", "b"]})
        httpx.post(f"{base}/sessions/{sid}/observe", json={"strings": ["c"]})
        predictions = httpx.get(f"{base}/sessions/{sid}/predictions").json()["predictions"]
        assert predictions
        answers.append(predictions)
    assert answers[0] == answers[1]


def test_non_empty_node_needs_replace(base: str) -> None:
    train(base, "route-full")
    original = export(base, "route-full").content
    sid = httpx.post(f"{base}/sessions", json={"node_id": "route-other"}).json()["session_id"]
    httpx.post(f"{base}/sessions/{sid}/observe", json={"strings": ["x", "y"]})
    httpx.post(f"{base}/sessions/{sid}/learn")
    before = export(base, "route-other").content
    clash = httpx.post(f"{base}/nodes/route-other/import", content=original, headers=NDJSON)
    assert clash.status_code == 409
    assert clash.json()["detail"]["error"] == "NodeNotEmpty"
    assert export(base, "route-other").content == before
    done = httpx.post(
        f"{base}/nodes/route-other/import?replace=true", content=original, headers=NDJSON
    )
    assert done.status_code == 200 and done.json()["replaced"] is True
    assert export(base, "route-other").content == original.replace(
        b'"node_id":"route-full"', b'"node_id":"route-other"'
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[: b.rindex(b'{"type":"end"')], "truncated file: no end record"),
        (lambda b: b[: len(b) // 2], "not JSON"),
        (lambda b: b"", "empty file"),
        (lambda b: b"\xff\xfe", "not UTF-8"),
        (lambda b: b.replace(b'"frequency":1,', b'"frequency":"x",', 1), "frequency"),
        (
            lambda b: b.replace(
                b'"total_symbols_in_patterns_frequencies":',
                b'"total_symbols_in_patterns_frequencies":1',
                1,
            ),
            "symbols in patterns",
        ),
        (lambda b: b"[1,2]\n", "not a JSON object"),
        (lambda b: b.replace(b'"version":1', b'"version":9'), "version"),
    ],
)
def test_bad_files_are_400_and_change_nothing(base: str, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    train(base, "route-bad-src")
    good = export(base, "route-bad-src").content
    response = httpx.post(
        f"{base}/nodes/route-bad-dst/import", content=mutate(good), headers=NDJSON
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"]["error"] == "InvalidExport"
    assert message in response.json()["detail"]["message"]
    empty = export(base, "route-never-used").content
    assert export(base, "route-bad-dst").content == empty.replace(
        b'"node_id":"route-never-used"', b'"node_id":"route-bad-dst"'
    )


def test_openapi_documents_the_routes(base: str) -> None:
    spec = httpx.get(f"{base}/openapi.json").json()
    export_op = spec["paths"]["/nodes/{node_id}/export"]["get"]
    assert "application/x-ndjson" in export_op["responses"]["200"]["content"]
    import_op = spec["paths"]["/nodes/{node_id}/import"]["post"]
    assert set(import_op["responses"]) >= {"200", "400", "409"}
    assert "application/x-ndjson" in import_op["requestBody"]["content"]
    assert "ImportResponse" in spec["components"]["schemas"]


def test_node_limited_keys_reach_only_their_nodes() -> None:
    """In process: the auth middleware does not know /nodes/ paths; the routes check the key."""
    import warnings

    from kato.service.app import create_app
    from kato.service.settings import load_settings
    from kato.storage.memory import MemoryBackend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    limited, admin = "l" * 20, "a" * 20
    app = create_app(load_settings(kato_api_keys=f"{limited}:mine,{admin}"), MemoryBackend())
    with TestClient(app) as client:
        as_limited = {"X-API-Key": limited}
        assert client.get("/nodes/theirs/export", headers=as_limited).status_code == 403
        assert (
            client.post("/nodes/theirs/import", headers=as_limited, content=b"x").status_code == 403
        )
        assert client.get("/nodes/mine/export", headers=as_limited).status_code == 200
        assert client.get("/nodes/theirs/export", headers={"X-API-Key": admin}).status_code == 200
        assert client.get("/nodes/theirs/export").status_code == 401
