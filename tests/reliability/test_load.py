"""The seed's load test, short: ab on /health through nginx with zero failures, and a mixed
observe/learn/predict load from an asyncio generator with zero errors."""

from __future__ import annotations

import pytest

from bench.load import parse_ab, report, run

pytestmark = pytest.mark.nginx


def test_ab_health_and_mixed_load_through_nginx(tmp_path_factory: pytest.TempPathFactory) -> None:
    ab, mixed, _ = run(
        tmp_path_factory.mktemp("load"),
        ab_requests=2000,
        ab_concurrency=100,
        clients=16,
        mixed_seconds=8.0,
        max_operations=20000,
    )
    assert ab is not None and mixed is not None
    print(report(ab, mixed))
    assert ab.complete == 2000 and ab.failed == 0 and ab.non_2xx == 0
    assert ab.requests_per_second > 0 and ab.percentiles_ms[100] >= ab.percentiles_ms[50]
    assert mixed.error_count == 0, mixed.errors
    assert {"create", "observe", "learn", "predictions"} <= set(mixed.operations)
    assert mixed.operations["create"] == 16
    assert mixed.operations["observe"] == 4 * mixed.operations["learn"]


def test_ab_output_parser_reads_failures() -> None:
    text = (
        "Complete requests:      10\nFailed requests:        6\n"
        "   (Connect: 1, Receive: 0, Length: 4, Exceptions: 1)\nNon-2xx responses:      3\n"
        "Requests per second:    123.45 [#/sec] (mean)\n"
        "  50%      4\n  95%      9\n 100%     12 (longest request)\n"
    )
    parsed = parse_ab(text)
    assert (parsed.complete, parsed.failed, parsed.length_varied, parsed.non_2xx) == (10, 2, 4, 3)
    assert parsed.requests_per_second == 123.45
    assert parsed.percentiles_ms == {50: 4.0, 95: 9.0, 100: 12.0}
