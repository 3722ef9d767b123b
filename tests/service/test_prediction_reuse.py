"""GET /predictions after an observe answers from the observe's predictions, byte for byte
what computing them gives, and computes again once the node changed."""

from __future__ import annotations

import re

import httpx


def _session(http: httpx.Client, node: str, **config: object) -> str:
    body: dict[str, object] = {"node_id": node}
    if config:
        body["config"] = config
    return str(http.post("/sessions", json=body).json()["session_id"])


def _observe(http: httpx.Client, session: str, *events: list[str]) -> None:
    for event in events:
        assert http.post(f"/sessions/{session}/observe", json={"strings": event}).is_success


def _learn(http: httpx.Client, session: str, *events: list[str]) -> None:
    _observe(http, session, *events)
    assert http.post(f"/sessions/{session}/learn").is_success


def _reused(http: httpx.Client) -> float:
    text = http.get("/metrics/prometheus").text
    match = re.search(r"^kato_predictions_reused_total (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def _predictions(http: httpx.Client, session: str) -> bytes:
    response = http.get(f"/sessions/{session}/predictions")
    assert response.status_code == 200
    return response.content.replace(session.encode(), b"<session>")


def test_get_after_observe_is_the_computed_answer(http: httpx.Client) -> None:
    node = "reuse"
    teacher = _session(http, node)
    _learn(http, teacher, ["a", "b"], ["c"], ["d"])
    _learn(http, teacher, ["a"], ["c"], ["e", "f"])
    _learn(http, teacher, ["b"], ["c"], ["h"])
    kept = _session(http, node)  # default config: its observes keep their predictions
    computing = _session(http, node, process_predictions=False)
    for session in (kept, computing):
        _observe(http, session, ["a", "b"], ["c"])

    before = _reused(http)
    answer = _predictions(http, kept)
    assert _reused(http) == before + 1
    assert answer == _predictions(http, computing)  # the same bytes
    assert _reused(http) == before + 1
    assert b'"future_potentials":[{' in answer

    _learn(http, teacher, ["a", "b"], ["c"], ["g"])  # the node changes: computed again
    changed = _predictions(http, kept)
    assert _reused(http) == before + 1
    assert changed == _predictions(http, computing) != answer
    assert b'"g"' in changed
