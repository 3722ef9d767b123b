"""Service log lines are JSON objects that carry the trace id of their request."""

from __future__ import annotations

import time

import httpx

from tests.observability.servers import Kato

ACCESS_FIELDS = {"trace_id", "method", "route", "status", "duration_ms", "node_id", "session_id"}


def _wait_for_trace(kato: Kato, trace_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while trace_id not in kato.proc.output()[0]:
        assert time.monotonic() < deadline, f"no log line with trace id {trace_id}"
        time.sleep(0.05)


def test_access_lines_are_json_with_the_request_trace_id(kato: Kato) -> None:
    with httpx.Client(base_url=kato.base_url, timeout=30) as client:
        created = client.post(
            "/sessions", json={"node_id": "logs node"}, headers={"X-Trace-ID": "logs-create"}
        )
        session_id = created.json()["session_id"]
        observed = client.post(
            f"/sessions/{session_id}/observe",
            json={"strings": ["a"]},
            headers={"X-Trace-ID": "logs-observe", "X-API-Key": "secret-key-must-not-leak"},
        )
        assert observed.headers["x-trace-id"] == "logs-observe"
        generated = client.get("/no/such/path").headers["x-trace-id"]
    assert generated.startswith("kato-") and len(generated) == 37
    _wait_for_trace(kato, generated)  # a worker writes its access line after the response
    out, _ = kato.proc.output()
    lines = [line for line in out.splitlines() if line.strip()]
    entries = kato.log_entries()
    service_lines = [line for line in lines if '"logger": "kato' in line]
    assert service_lines and len(service_lines) == len(
        [e for e in entries if e["logger"].startswith("kato")]
    )
    by_trace = {e.get("trace_id"): e for e in entries if e["logger"] == "kato.access"}
    observe = by_trace["logs-observe"]
    assert observe.keys() >= ACCESS_FIELDS
    assert (observe["route"], observe["method"], observe["status"]) == (
        "/sessions/{session_id}/observe",
        "POST",
        200,
    )
    assert (observe["node_id"], observe["session_id"]) == ("logs node", session_id)
    assert isinstance(observe["duration_ms"], float) and observe["duration_ms"] > 0
    create = by_trace["logs-create"]
    assert (create["route"], create["node_id"], create["session_id"]) == (
        "/sessions",
        "logs node",
        session_id,
    )
    missing = by_trace[generated]
    assert (missing["route"], missing["status"]) == ("unmatched", 404)
    assert "secret-key-must-not-leak" not in out
