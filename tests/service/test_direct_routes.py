"""The direct session actions (kato/service/direct_routes.py) answer as the routes do.

A request with an ``Idempotency-Key`` header always goes through FastAPI's routing, so each
test compares a directly served request with the same request routed that way, or with the
canonical answer of the layers behind (422 validation lists, the guard's MW404).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from kato.service.app import create_app
from kato.service.direct_routes import direct_action
from kato.service.sessions import SessionService
from kato.service.settings import load_settings
from kato.storage.memory import MemoryBackend

ROUTED = {"Idempotency-Key": "route-me"}  # a keyed request is never served directly


@pytest.fixture(params=[0, 2], ids=["on-the-loop", "two-threads"])
def api(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = load_settings(kato_session_action_threads=request.param)
    app = create_app(settings, MemoryBackend())
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def guard_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Session ids the session guard checked: the routed path only."""
    checked: list[str] = []
    original = SessionService.is_live

    def counting(self: SessionService, session_id: str) -> bool:
        checked.append(session_id)
        return original(self, session_id)

    monkeypatch.setattr(SessionService, "is_live", counting)
    return checked


def new_session(api: TestClient, node: str = "direct") -> str:
    return str(api.post("/sessions", json={"node_id": node}).json()["session_id"])


def stm(api: TestClient, session: str) -> Any:
    return api.get(f"/sessions/{session}/stm").json()["stm"]


def without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("unique_id", "session_id", "message")}


@pytest.mark.parametrize(
    ("storage", "configured", "threads"),
    [("embedded", None, 1), ("memory", None, 1), ("distributed", None, 4), ("embedded", 0, 0)],
)
def test_session_action_threads_by_backend(
    monkeypatch: pytest.MonkeyPatch, storage: str, configured: int | None, threads: int
) -> None:
    monkeypatch.setenv("KATO_STORAGE", storage)
    settings = load_settings(kato_session_action_threads=configured)
    assert settings.session_action_threads == threads


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/sessions/s-1/observe", ("s-1", "observe")),
        ("POST", "/sessions/s-1/learn", ("s-1", "learn")),
        ("POST", "/sessions/s-1/clear-stm", ("s-1", "clear-stm")),
        ("GET", "/sessions/s-1/predictions", ("s-1", "predictions")),
        ("GET", "/sessions/s-1/observe", None),
        ("POST", "/sessions/s-1/predictions", None),
        ("GET", "/sessions/s-1/stm", None),
        ("POST", "/sessions/s-1/observe-sequence", None),
        ("POST", "/sessions/s-1/observe/", None),
        ("POST", "/sessions//observe", None),
        ("POST", "/sessions/s-1", None),
        ("POST", "/other/s-1/observe", None),
    ],
)
def test_which_requests_are_direct(
    method: str, path: str, expected: tuple[str, str] | None
) -> None:
    assert direct_action(method, path) == expected


def test_observe_learn_and_clear_are_served_directly_and_answer_as_routed(
    api: TestClient, guard_checks: list[str]
) -> None:
    direct, routed = new_session(api), new_session(api)
    answers: dict[str, list[httpx2.Response]] = {"direct": [], "routed": []}
    for session, headers, label in ((direct, {}, "direct"), (routed, ROUTED, "routed")):
        calls = [
            ("observe", {"strings": ["b", "a"], "emotives": {"joy": 0.5}}),
            ("observe", {"strings": ["c"], "metadata": {"page": 3}}),
            ("learn", None),
            ("observe", {"strings": ["d"]}),
            ("clear-stm", None),
        ]
        for number, (action, body) in enumerate(calls):
            keyed = {k: f"{v}-{number}" for k, v in headers.items()}
            answers[label].append(
                api.post(f"/sessions/{session}/{action}", json=body, headers=keyed)
            )
    assert guard_checks == [routed] * 5
    for served, reference in zip(answers["direct"], answers["routed"], strict=True):
        assert served.status_code == reference.status_code == 200
        assert without_ids(served.json()) == without_ids(reference.json())
        assert served.headers["content-type"] == reference.headers["content-type"]
    assert [r.headers["x-session-id"] for r in answers["direct"]] == [direct] * 5
    assert answers["direct"][2].json()["pattern_name"].startswith("PTRN|")
    assert stm(api, direct) == stm(api, routed) == []


def test_predictions_are_served_directly_and_answer_as_routed(
    api: TestClient, guard_checks: list[str]
) -> None:
    teacher = new_session(api, "predicting")
    for events in (["a", "b"], ["c"], ["d"]), (["a"], ["c", "e"]):
        for event in events:
            api.post(f"/sessions/{teacher}/observe", json={"strings": event})
        api.post(f"/sessions/{teacher}/learn")
    session = new_session(api, "predicting")
    for event in (["a"], ["c"]):
        api.post(f"/sessions/{session}/observe", json={"strings": event})
    guard_checks.clear()
    served = api.get(f"/sessions/{session}/predictions", params={"unique_id": "x"})
    routed = api.get(f"/sessions/{session}/predictions", headers=ROUTED)
    assert guard_checks == [session]
    assert served.status_code == routed.status_code == 200
    assert served.content == routed.content
    assert served.json()["count"] == 2
    missing = api.get("/sessions/session-unknown/predictions")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SESSION_NOT_FOUND"


@pytest.mark.parametrize(
    ("content", "content_type", "loc"),
    [
        (b'{"strings": [1]}', "application/json", ["body", "strings", 0]),
        (b'{"strings": "a"}', "application/json", ["body", "strings"]),
        (b'{"strings": ["a"]', "application/json", ["body", 17]),
        (b"NaN", "application/json", ["body"]),
        (b'{"strings": ["a"]}', "text/plain", ["body"]),
        (b"", None, ["body"]),
    ],
)
def test_a_body_the_route_refuses_gets_its_422_and_changes_nothing(
    api: TestClient, content: bytes, content_type: str | None, loc: list[object]
) -> None:
    session = new_session(api)
    api.post(f"/sessions/{session}/observe", json={"strings": ["kept"]})
    headers = {"content-type": content_type} if content_type else {}
    served = api.post(f"/sessions/{session}/observe", content=content, headers=headers)
    routed = api.post(
        f"/sessions/{session}/observe", content=content, headers={**headers, **ROUTED}
    )
    assert served.status_code == routed.status_code == 422
    assert served.json() == routed.json()
    assert served.json()["detail"][0]["loc"] == loc
    assert stm(api, session) == [["kept"]]


def test_unknown_and_deleted_sessions_get_the_guards_404(api: TestClient) -> None:
    session = new_session(api)
    api.delete(f"/sessions/{session}")
    for target in (session, "session-unknown"):
        for action, body in (("observe", {"strings": ["a"]}), ("learn", None), ("clear-stm", None)):
            served = api.post(f"/sessions/{target}/{action}", json=body)
            assert served.status_code == 404
            assert served.json()["error"]["code"] == "SESSION_NOT_FOUND"
            assert served.json()["error"]["session_id"] == target


def test_errors_of_the_work_get_the_applications_answers(api: TestClient) -> None:
    session = new_session(api)
    served = api.post(f"/sessions/{session}/learn")
    routed = api.post(f"/sessions/{session}/learn", headers=ROUTED)
    assert served.status_code == routed.status_code == 400
    assert served.json() == routed.json()
    api.post(f"/sessions/{session}/observe", json={"strings": ["kept"]})
    mixed = {"vectors": [[1.0, 2.0], [1.0, 2.0, 3.0]]}
    served = api.post(f"/sessions/{session}/observe", json=mixed)
    routed = api.post(f"/sessions/{session}/observe", json=mixed, headers=ROUTED)
    assert served.status_code == routed.status_code == 400
    assert served.json() == routed.json()
    assert served.json()["detail"]["error"] == "VectorDimensionError"
    assert stm(api, session) == [["kept"]]


def test_cors_headers_as_routed(api: TestClient) -> None:
    session = new_session(api)
    origin = {"Origin": "https://app.example"}
    served = api.post(f"/sessions/{session}/clear-stm", headers=origin)
    routed = api.post(f"/sessions/{session}/clear-stm", headers={**origin, **ROUTED})
    cors = {k: v for k, v in routed.headers.items() if k.startswith("access-control-")}
    assert cors, "the routed answer carries CORS headers"
    assert {k: v for k, v in served.headers.items() if k.startswith("access-control-")} == cors


def sample(api: TestClient, name: str, *labels: str) -> float:
    """A Prometheus sample (the registry is the process's: compare before and after)."""
    for line in api.get("/metrics/prometheus").text.splitlines():
        if line.startswith(name) and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_and_counters_see_direct_requests(api: TestClient) -> None:
    session = new_session(api)
    route = ('route="/sessions/{session_id}/observe"', 'status="200"')
    requests = sample(api, "kato_http_requests_total{", *route)
    observations = sample(api, "kato_observations_total ")
    for _ in range(3):
        assert api.post(f"/sessions/{session}/observe", json={"strings": ["a"]}).status_code == 200
    assert sample(api, "kato_http_requests_total{", *route) == requests + 3
    assert sample(api, "kato_observations_total ") == observations + 3
