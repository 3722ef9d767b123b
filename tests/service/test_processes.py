"""Real processes: restart persistence, 1 vs 4 workers, concurrent observes across workers."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.service.server import KatoServer

PATTERN = "PTRN|e9e43f2309079f2843665ab773996d99489306d6"


def test_restart_keeps_patterns_and_live_sessions(tmp_path: Path) -> None:
    hooks = {"response": [lambda response: response.read() and checked(response)]}
    with (
        KatoServer(tmp_path) as first,
        httpx.Client(base_url=first.base_url, event_hooks=hooks) as http,
    ):
        sid = http.post("/sessions", json={"node_id": "persist"}).json()["session_id"]
        http.post(f"/sessions/{sid}/observe", json={"strings": ["b", "a"], "emotives": {"j": 1}})
        http.post(f"/sessions/{sid}/observe", json={"strings": ["c"]})
        assert http.post(f"/sessions/{sid}/learn").json()["pattern_name"] == PATTERN
        http.post(f"/sessions/{sid}/observe", json={"strings": ["a"]})
        http.post(f"/sessions/{sid}/config", json={"max_predictions": 7})
    with (
        KatoServer(tmp_path) as second,
        httpx.Client(base_url=second.base_url, event_hooks=hooks) as http,
    ):
        pattern = http.get(f"/pattern/{PATTERN}", params={"node_id": "persist"}).json()
        assert pattern["pattern"]["pattern"]["frequency"] == 1
        assert pattern["pattern"]["pattern"]["emotives"] == [{"j": 1.0}]
        assert http.get(f"/sessions/{sid}/stm").json()["stm"] == [["a"]]
        assert http.get(f"/sessions/{sid}/config").json()["config"]["max_predictions"] == 7
        http.post(f"/sessions/{sid}/observe", json={"strings": ["b"]})
        assert http.get(f"/sessions/{sid}/predictions").json()["count"] == 1


def checked(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, (response.request.url, response.text)
    return response


def workload(base_url: str) -> list[str]:
    """A fixed request sequence; returns the bodies with session ids masked."""
    bodies: list[str] = []
    hooks = {"response": [lambda response: response.read() and checked(response)]}
    with httpx.Client(base_url=base_url, timeout=30, event_hooks=hooks) as http:
        sid = http.post("/sessions", json={"node_id": "determinism"}).json()["session_id"]
        sequences = [["a", "b", "c"], ["a", "b", "d"], ["x", "y"], ["a", "b", "c"], ["k", "a"]]
        for sequence in sequences:
            for word in sequence:
                http.post(
                    f"/sessions/{sid}/observe", json={"strings": [word], "emotives": {"e": 0.5}}
                )
            bodies.append(http.post(f"/sessions/{sid}/learn").text)
        for probe in (["a", "b"], ["a"], ["k", "b", "z"]):
            http.post(f"/sessions/{sid}/clear-stm")
            for word in probe:
                http.post(f"/sessions/{sid}/observe", json={"strings": [word]})
            bodies.append(http.get(f"/sessions/{sid}/predictions").text)
        bodies.append(http.get("/symbols/stats", params={"node_id": "determinism"}).text)
        bodies.append(http.get("/symbols/affinity", params={"node_id": "determinism"}).text)
        name = "PTRN|b98534b32c1d7489d4ce1a48724aa65aeecbdba9"
        bodies.append(http.get(f"/pattern/{name}", params={"node_id": "determinism"}).text)
    return [re.sub(r"session-[0-9a-f]{32}-\d+", "S", body) for body in bodies]


def test_one_and_four_workers_give_identical_results(tmp_path: Path) -> None:
    with KatoServer(tmp_path / "one") as single:
        expected = workload(single.base_url)
    with KatoServer(tmp_path / "four", workers=4, startup_timeout=60) as multi:
        assert workload(multi.base_url) == expected
    assert '"frequency":2' in expected[-1]


def test_concurrent_observes_through_four_workers_lose_nothing(tmp_path: Path) -> None:
    with KatoServer(tmp_path, workers=4, startup_timeout=60) as server:
        url = server.base_url.replace("http://", "ws://") + "/ws/events"
        with ExitStack() as stack:
            sockets = [stack.enter_context(connect(url, open_timeout=10)) for _ in range(8)]
            for ws in sockets:
                assert json.loads(ws.recv(timeout=10))["event_type"] == "state.snapshot"
            with httpx.Client(base_url=server.base_url) as http:
                sid = http.post("/sessions", json={"node_id": "concurrent"}).json()["session_id"]
            for ws in sockets:  # every worker's clients get the event, whoever served it
                event = json.loads(ws.recv(timeout=10))
                assert (event["event_type"], event["data"]["session_id"]) == (
                    "session.created",
                    sid,
                )

        def send(index: int) -> int:
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                body = {"strings": [f"s{index:03d}"]}
                return client.post(f"/sessions/{sid}/observe", json=body).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(send, range(120)))
        assert statuses == [200] * 120
        with httpx.Client(base_url=server.base_url) as http:
            stm = http.get(f"/sessions/{sid}/stm").json()["stm"]
            time_ = http.get(f"/sessions/{sid}/cognition-data").json()["cognition_data"]["time"]
        assert sorted(event[0] for event in stm) == [f"s{i:03d}" for i in range(120)]
        assert time_ == 120
