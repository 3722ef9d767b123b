"""Schemathesis against a real server: every route, fixed seed, zero 5xx, zero schema violations.

Small budget here (about 40 s on 2 cores); the longer run is ``python -m bench.fuzz``.
"""

from __future__ import annotations

from pathlib import Path

from bench.fuzz import fuzz
from tests.service.server import KatoServer

SEED = 20261126
EXAMPLES = 6  # per operation and generation mode (positive, negative)


def test_fuzz_every_operation_without_5xx_or_schema_violation(tmp_path: Path) -> None:
    with KatoServer(tmp_path) as server:
        report = fuzz(server.base_url, examples=EXAMPLES, seed=SEED)
        assert server.process is not None and server.process.poll() is None  # still serving
    problems = "\n\n".join(
        f"[{failure.mode}] {failure.operation}\n{failure.message}\n{failure.curl}"
        for failure in report.failures
    )
    assert not report.failures, f"{report.summary()}\n\n{problems}"
    assert report.operations >= 37  # every route of api.md §4 is in the document
    assert report.calls >= report.operations * EXAMPLES
    assert all(status < 500 for status in report.statuses)
    assert report.statuses.get(200, 0) > report.calls // 2  # live sessions: mostly real work
