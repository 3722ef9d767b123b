"""The seed's load test through nginx (TLS) to gunicorn with 4 uvicorn workers.

    .venv/bin/python -m bench.load --ab-requests 10000 --ab-concurrency 100 --mixed-seconds 30

1. ``ab -n N -c C`` on ``/health`` (Debian's apache2-utils; HTTPS through nginx): failed
   requests, non-2xx answers, requests per second and latency percentiles from ab's output.
2. A mixed load from a loopback asyncio generator (httpx, HTTP/1.1 keep-alive): ``--clients``
   clients, each with its own session on one node, loop for ``--mixed-seconds`` over
   observe (keyed) x3, learn (keyed), predictions; per-operation counts, errors, throughput
   and latency percentiles. Bounded by time and by ``--max-operations``.

Loopback only; every process is stopped on exit. Exit status 0 only with zero failures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import ssl
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.stack import Stack, edge_stack


@dataclass
class AbResult:
    complete: int
    failed: int  # connect, receive and exception failures (real failures)
    length_varied: int  # ab's "Length" failures: /health bodies differ in length (uptime)
    non_2xx: int
    requests_per_second: float
    percentiles_ms: dict[int, float]


def ab_binary() -> str:
    found = shutil.which("ab") or ("/usr/bin/ab" if Path("/usr/bin/ab").exists() else None)
    if found is None:
        raise SystemExit(
            "ab not found: apt-get install -y -o DPkg::Lock::Timeout=600 apache2-utils"
        )
    return found


def parse_ab(text: str) -> AbResult:
    def number(pattern: str) -> float:
        match = re.search(pattern, text)
        if match is None:
            raise ValueError(f"ab output lacks {pattern!r}:\n{text[-2000:]}")
        return float(match.group(1))

    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", text)
    breakdown = re.search(
        r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)", text
    )
    connect, receive, length, exceptions = (
        (int(g) for g in breakdown.groups()) if breakdown else (0, 0, 0, 0)
    )
    total_failed = int(number(r"Failed requests:\s+(\d+)"))
    real_failed = connect + receive + exceptions if breakdown else total_failed
    percentiles = {
        int(p): float(ms) for p, ms in re.findall(r"^\s+(\d+)%\s+(\d+)", text, re.MULTILINE)
    }
    return AbResult(
        complete=int(number(r"Complete requests:\s+(\d+)")),
        failed=real_failed,
        length_varied=length,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        requests_per_second=number(r"Requests per second:\s+([\d.]+)"),
        percentiles_ms=percentiles,
    )


def run_ab(url: str, requests: int, concurrency: int) -> AbResult:
    completed = subprocess.run(
        [
            ab_binary(),
            "-q",
            "-n",
            str(requests),
            "-c",
            str(concurrency),
            "-s",
            "30",
            f"{url}/health",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"ab failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return parse_ab(completed.stdout)


@dataclass
class MixedResult:
    seconds: float
    operations: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(self.operations.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile(self, operation: str, p: float) -> float:
        values = sorted(self.latencies[operation])
        if not values:
            return 0.0
        return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] * 1000


async def _client(
    http: httpx.AsyncClient,
    node: str,
    deadline: float,
    budget: list[int],
    result: MixedResult,
    seed: int,
) -> None:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(200)]

    async def call(
        operation: str, method: str, path: str, **kwargs: object
    ) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as error:
            result.errors[f"{operation}: {type(error).__name__}"] += 1
            return None
        result.latencies[operation].append(time.perf_counter() - start)
        result.operations[operation] += 1
        if response.status_code != 200:
            result.errors[f"{operation}: HTTP {response.status_code}"] += 1
        return response

    created = await call("create", "POST", "/sessions", json={"node_id": node})
    if created is None or created.status_code != 200:
        return
    sid = created.json()["session_id"]
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 5
        for _ in range(3):
            strings = rng.sample(vocabulary, rng.randint(1, 3))
            key = {"Idempotency-Key": uuid.uuid4().hex}
            await call(
                "observe",
                "POST",
                f"/sessions/{sid}/observe",
                json={"strings": strings},
                headers=key,
            )
        await call(
            "learn", "POST", f"/sessions/{sid}/learn", headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        await call(
            "observe",
            "POST",
            f"/sessions/{sid}/observe",
            json={"strings": rng.sample(vocabulary, 2)},
        )
        await call("predictions", "GET", f"/sessions/{sid}/predictions")


async def mixed_load(
    url: str, verify: ssl.SSLContext | bool, clients: int, seconds: float, max_operations: int
) -> MixedResult:
    result = MixedResult(seconds=0.0)
    node = f"load-{uuid.uuid4().hex[:8]}"
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    start = time.monotonic()
    budget = [max_operations]
    async with httpx.AsyncClient(base_url=url, verify=verify, timeout=60.0, limits=limits) as http:
        await asyncio.gather(
            *(_client(http, node, start + seconds, budget, result, seed) for seed in range(clients))
        )
    result.seconds = round(time.monotonic() - start, 2)
    return result


def report(ab: AbResult | None, mixed: MixedResult | None) -> str:
    lines: list[str] = []
    if ab is not None:
        p = ab.percentiles_ms
        lines.append(
            f"ab /health: {ab.complete} complete, {ab.failed} failed (connect/receive/exception), "
            f"{ab.non_2xx} non-2xx, {ab.length_varied} bodies of another length, "
            f"{ab.requests_per_second:.0f} req/s, p50 {p.get(50)} ms, p95 {p.get(95)} ms, "
            f"p99 {p.get(99)} ms, max {p.get(100)} ms"
        )
    if mixed is not None:
        lines.append(
            f"mixed: {mixed.total} operations in {mixed.seconds}s = "
            f"{mixed.total / max(mixed.seconds, 1e-9):.0f} ops/s, errors {mixed.error_count}"
        )
        lines.append(
            f"{'operation':12} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'mean ms':>8}"
        )
        for operation in sorted(mixed.operations):
            values = mixed.latencies[operation]
            lines.append(
                f"{operation:12} {mixed.operations[operation]:>7} "
                f"{mixed.percentile(operation, 50):>8.1f} {mixed.percentile(operation, 95):>8.1f} "
                f"{mixed.percentile(operation, 99):>8.1f} {statistics.fmean(values) * 1000:>8.1f}"
            )
        for error, count in mixed.errors.most_common(5):
            lines.append(f"error: {error} x{count}")
    return "\n".join(lines)


def run(
    base: Path,
    *,
    ab_requests: int,
    ab_concurrency: int,
    clients: int,
    mixed_seconds: float,
    max_operations: int,
    workers: int = 4,
) -> tuple[AbResult | None, MixedResult | None, Stack]:
    with edge_stack(base, workers=workers) as stack:
        ab = run_ab(stack.url, ab_requests, ab_concurrency) if ab_requests > 0 else None
        mixed = (
            asyncio.run(mixed_load(stack.url, stack.verify, clients, mixed_seconds, max_operations))
            if mixed_seconds > 0
            else None
        )
    return ab, mixed, stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ab-requests", type=int, default=10000)
    parser.add_argument("--ab-concurrency", type=int, default=100)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--mixed-seconds", type=float, default=30.0)
    parser.add_argument("--max-operations", type=int, default=200000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kato-load-") as tmp:
        ab, mixed, _ = run(
            Path(tmp),
            ab_requests=args.ab_requests,
            ab_concurrency=args.ab_concurrency,
            clients=args.clients,
            mixed_seconds=args.mixed_seconds,
            max_operations=args.max_operations,
            workers=args.workers,
        )
    print(report(ab, mixed))
    failures = (ab.failed + ab.non_2xx if ab else 0) + (mixed.error_count if mixed else 0)
    raise SystemExit(0 if failures == 0 else 1)


if __name__ == "__main__":
    main()
