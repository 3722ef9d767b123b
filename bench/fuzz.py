"""Schema-driven fuzzing of the HTTP service with schemathesis (docs/limits.md, "Fuzzing").

Every operation of the service's own OpenAPI document is called with generated
requests, valid (positive) and invalid (negative) ones, from a fixed seed. Each
response must be a non-5xx answer that conforms to the document: a documented
status code, the documented content type and, for documented bodies, the schema.
Session routes get a live session id most of the time (a random id only ever
reaches the session guard's 404).

The test suite runs a small budget (tests/reliability/test_fuzz.py). The longer
run starts its own server (embedded storage, fresh data directory) on loopback::

    .venv/bin/python -m bench.fuzz --examples 200 --seed 20261126

or fuzzes a running server::

    .venv/bin/python -m bench.fuzz --base-url http://127.0.0.1:8000 --examples 200

Exit status 0 when no failure was found; failures are printed with a curl command.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Deleting the shared session or the node's knowledge would only make other cases weaker.
_SESSION_CONSUMING = {("DELETE", "/sessions/{session_id}")}


@dataclass
class Failure:
    operation: str
    mode: str
    message: str
    curl: str


@dataclass
class Report:
    operations: int = 0
    calls: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.operations} operations, {self.calls} calls in {self.seconds:.1f} s, "
            f"statuses {{{codes}}}, {len(self.failures)} failures"
        )


class LiveSessions:
    """A live session id for session routes (recreated when a case deleted it)."""

    def __init__(self, client: httpx.Client, node_id: str) -> None:
        self.client = client
        self.node_id = node_id
        self.session_id = self._create()

    def _create(self) -> str:
        r = self.client.post("/sessions", json={"node_id": self.node_id})
        r.raise_for_status()
        return str(r.json()["session_id"])

    def current(self) -> str:
        exists = self.client.get(f"/sessions/{self.session_id}/exists").json()["exists"]
        if not exists:
            self.session_id = self._create()
        return self.session_id


def fuzz(
    base_url: str,
    *,
    examples: int,
    seed: int,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    headers: dict[str, str] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> Report:
    """Fuzz every operation of ``base_url``'s OpenAPI document; return what was found."""
    started = time.monotonic()
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = Report()
    with httpx.Client(base_url=base_url, timeout=60.0, headers=headers) as client:
        sessions = LiveSessions(client, "fuzz-node")
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here
            report.operations += 1
            for mode in modes:
                _fuzz_operation(
                    operation, mode, base_url, examples, seed, sessions, headers, report
                )
            report.seconds = time.monotonic() - started
            log(f"{operation.method.upper():6} {operation.path}: {report.summary()}")
    report.seconds = time.monotonic() - started
    return report


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    examples: int,
    seed: int,
    sessions: LiveSessions,
    headers: dict[str, str] | None,
    report: Report,
) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    uses_session = "{session_id}" in operation.path
    consuming = (operation.method.upper(), operation.path) in _SESSION_CONSUMING
    seen: set[str] = set()

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[
            Phase.explicit,
            Phase.generate,
        ],  # no shrinking: a failure is recorded, not minimised
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), live=st.integers(0, 9))
    def run(case: Any, live: int) -> None:
        # Most cases use a live session (9 in 10 positive, 7 in 10 negative), never for DELETE.
        threshold = 0 if mode is GenerationMode.POSITIVE else 2
        if uses_session and not consuming and live > threshold:
            live_id = sessions.current()
            case.path_parameters = {**(case.path_parameters or {}), "session_id": live_id}
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=60)
        except Exception as exc:  # transport failure: the server dropped the connection
            report.failures.append(Failure(label, mode.value, repr(exc), case.as_curl_command()))
            return
        report.calls += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # FailureGroup: every failed check
            message = str(exc)
            key = message.splitlines()[0] if message else repr(exc)
            if key not in seen:  # one report per distinct problem and operation
                seen.add(key)
                report.failures.append(Failure(label, mode.value, message, case.as_curl_command()))

    with contextlib.suppress(Unsatisfiable):  # negative mode: an operation without input
        run()


def _serve(data_dir: Path) -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.service.server import KatoServer

    return KatoServer(data_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="fuzz this running server instead of starting one")
    parser.add_argument("--examples", type=int, default=200, help="examples per operation/mode")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--api-key", help="send this key (servers with authentication on)")
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else None
    if args.base_url:
        report = fuzz(
            args.base_url, examples=args.examples, seed=args.seed, headers=headers, log=print
        )
    else:
        with tempfile.TemporaryDirectory(prefix="kato-fuzz-") as tmp, _serve(Path(tmp)) as server:
            report = fuzz(
                server.base_url, examples=args.examples, seed=args.seed, headers=headers, log=print
            )
    for failure in report.failures:
        print(f"\nFAIL [{failure.mode}] {failure.operation}\n{failure.message}\n{failure.curl}")
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
