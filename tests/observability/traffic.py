"""Known amounts of traffic, spread over gunicorn's workers (a new connection per request)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

NODE_ID = "observability"
CLOSE = {"Connection": "close"}  # each request is accepted anew: workers share the load


@dataclass
class Traffic:
    sessions: list[str] = field(default_factory=list)
    observes: int = 0
    learns: int = 0
    predictions: int = 0
    not_found: int = 0
    trace_ids: list[str] = field(default_factory=list)


def _request(client: httpx.Client, method: str, path: str, trace_id: str, **kw: object) -> int:
    response = client.request(
        method,
        path,
        headers={**CLOSE, "X-Trace-ID": trace_id},
        **kw,  # type: ignore[arg-type]
    )
    assert response.headers["x-trace-id"] == trace_id
    return response.status_code


def drive(base_url: str, prefix: str) -> Traffic:
    """5 sessions, 37 observes, 5 learns, 11 predictions and 3 unknown paths (404)."""
    traffic = Traffic()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for index in range(5):
            trace_id = f"{prefix}-create-{index}"
            response = client.post(
                "/sessions",
                json={"node_id": NODE_ID},
                headers={**CLOSE, "X-Trace-ID": trace_id},
            )
            assert response.status_code == 200, response.text
            traffic.sessions.append(response.json()["session_id"])
            traffic.trace_ids.append(trace_id)

        def observe(session: int, count: int, phase: str) -> int:
            session_id = traffic.sessions[session]
            for step in range(count):
                trace_id = f"{prefix}-observe-{phase}-{session}-{step}"
                status = _request(
                    client,
                    "POST",
                    f"/sessions/{session_id}/observe",
                    trace_id,
                    json={"strings": [f"s{step}", "x"]},
                )
                assert status == 200
                traffic.trace_ids.append(trace_id)
            return count

        def learn(session: int) -> int:
            trace_id = f"{prefix}-learn-{session}"
            status = _request(
                client, "POST", f"/sessions/{traffic.sessions[session]}/learn", trace_id
            )
            assert status == 200
            traffic.trace_ids.append(trace_id)
            return 1

        def predict(call: int) -> int:
            trace_id = f"{prefix}-predict-{call}"
            session_id = traffic.sessions[call % 5]
            status = _request(client, "GET", f"/sessions/{session_id}/predictions", trace_id)
            assert status == 200
            traffic.trace_ids.append(trace_id)
            return 1

        with ThreadPoolExecutor(max_workers=5) as pool:
            traffic.observes += sum(pool.map(observe, range(5), [6, 6, 6, 6, 6], ["a"] * 5))
            traffic.learns += sum(pool.map(learn, range(5)))
            # STM is cleared by the learn: refill it so predictions have candidates.
            traffic.observes += sum(pool.map(observe, range(5), [2, 2, 1, 1, 1], ["b"] * 5))
            traffic.predictions += sum(pool.map(predict, range(11)))
        for index in range(3):
            trace_id = f"{prefix}-missing-{index}"
            assert _request(client, "GET", f"/no-such-route/{prefix}/{index}", trace_id) == 404
            traffic.trace_ids.append(trace_id)
            traffic.not_found += 1
    assert (traffic.observes, traffic.learns, traffic.predictions) == (37, 5, 11)
    return traffic
