"""Chaos run: train through nginx while workers are recycled, SIGKILLed and reloaded.

    .venv/bin/python -m bench.chaos --observations 40000 --batch-size 5000

1. Reference: the same training on a quiet server (gunicorn, one worker, no recycling, no
   proxy, nothing killed); export of the node (kato.storage.transfer).
2. Chaos: gunicorn with ``--workers`` uvicorn workers recycled every ``--max-requests``
   (+ jitter) requests, behind nginx with TLS; while it trains, a random worker is SIGKILLed
   every ``--kill-every`` seconds (at most ``--max-kills``), gunicorn gets one SIGHUP halfway,
   and with ``--backend distributed`` Redis is stopped and restarted once.
3. The exports are compared byte for byte; a table of results is printed. Exit status 0 only
   when the exports are identical and no client operation failed after retries.

Loopback only; bounded by ``--max-seconds`` (the chaos thread stops on its own, and every
process is stopped on exit). The training is ``bench.training_run`` in ``--batch-size``
batches (the seed's Phase 0 test: 40,000 observations in batches of 5,000), each batch
trained by ``--streams`` concurrent sessions of one node.
"""

from __future__ import annotations

import argparse
import random
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import Stack, edge_stack, export_text, quiet_server
from bench.training_run import RunResult, iter_batches, train
from tests.deploy.procs import REPO

SERVICES = REPO / "scripts" / "services.sh"


@dataclass
class Chaos:
    kills: list[int] = field(default_factory=list)
    hups: int = 0
    redis_restarts: int = 0
    worker_sets: int = 0


@dataclass
class Report:
    quiet: RunResult
    chaos: RunResult
    events: Chaos
    identical: bool
    export_lines: int
    quiet_export: str
    chaos_export: str


def merge(results: list[RunResult]) -> RunResult:
    total = RunResult(
        node_id=results[0].node_id,
        observations=sum(r.observations for r in results),
        episodes=sum(r.episodes for r in results),
    )
    for r in results:
        total.calls += r.calls
        total.failed_calls += r.failed_calls
        total.attempts += r.attempts
        total.transport_errors += r.transport_errors
        total.gateway_errors += r.gateway_errors
        total.replays += r.replays
        total.clock_mismatches += r.clock_mismatches
        total.seconds = round(total.seconds + r.seconds, 2)
        total.errors.extend(r.errors)
    return total


def train_batches(
    stack: Stack, node_id: str, observations: int, batch: int, streams: int
) -> RunResult:
    results = []
    for number, size in enumerate(iter_batches(observations, batch)):
        results.append(
            train(
                stack.url,
                observations=size,
                node_id=node_id,
                streams=streams,
                verify=stack.verify,
                seed=7 + 1000 * number,
            )
        )
    return merge(results)


def services_env(directory: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in (directory / "env.sh").read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export ") :].partition("=")
            env[name.strip()] = shlex.split(value)[0] if value.strip() else ""
    return env


@contextmanager
def distributed_services(directory: Path) -> Iterator[dict[str, str]]:
    subprocess.run(["bash", str(SERVICES), "start", str(directory)], check=True, timeout=300)
    try:
        env = services_env(directory)
        env["KATO_STORAGE"] = "distributed"
        yield env
    finally:
        subprocess.run(["bash", str(SERVICES), "stop", str(directory)], timeout=120)


@contextmanager
def no_services() -> Iterator[dict[str, str]]:
    yield {}


def backend_services(backend: str, directory: Path) -> AbstractContextManager[dict[str, str]]:
    """The servers ``backend`` needs, as the environment pointing a KATO server at them:
    none for ``embedded``; Redis and ClickHouse started under ``directory`` otherwise."""
    return no_services() if backend == "embedded" else distributed_services(directory)


def restart_redis(directory: Path) -> None:
    subprocess.run(["bash", str(SERVICES), "stop-one", str(directory), "redis"], timeout=60)
    time.sleep(1.0)
    subprocess.run(
        ["bash", str(SERVICES), "start-one", str(directory), "redis"], check=True, timeout=120
    )


def chaos_thread(
    stack: Stack,
    done: threading.Event,
    events: Chaos,
    *,
    kill_every: float,
    max_kills: int,
    hup_after: float,
    redis_dir: Path | None,
    deadline: float,
    seed: int,
) -> threading.Thread:
    rng = random.Random(seed)

    def run() -> None:
        start = time.monotonic()
        hupped = redis_done = False
        while not done.wait(kill_every) and time.monotonic() < deadline:
            if len(events.kills) < max_kills:
                victim = stack.kill_random_worker(rng)
                if victim is not None:
                    events.kills.append(victim)
            if not hupped and time.monotonic() - start >= hup_after:
                stack.reload()
                events.hups += 1
                hupped = True
            if (
                redis_dir is not None
                and not redis_done
                and time.monotonic() - start >= hup_after / 2
            ):
                restart_redis(redis_dir)
                events.redis_restarts += 1
                redis_done = True

    thread = threading.Thread(target=run, name="chaos", daemon=True)
    thread.start()
    return thread


def run(
    base: Path,
    *,
    observations: int,
    batch_size: int,
    workers: int = 4,
    max_requests: int = 200,
    jitter: int = 40,
    kill_every: float = 3.0,
    max_kills: int = 20,
    hup_after: float = 4.0,
    streams: int = 4,
    backend: str = "embedded",
    max_seconds: float = 900.0,
    seed: int = 11,
) -> Report:
    deadline = time.monotonic() + max_seconds
    with backend_services(backend, base / "services") as extra:
        with quiet_server(base / "quiet", env=extra) as quiet_stack:
            quiet = train_batches(quiet_stack, "chaos-quiet", observations, batch_size, streams)
        quiet_export = export_text(quiet_stack.env, "chaos-quiet")
        events = Chaos()
        with edge_stack(
            base / "chaos", workers=workers, max_requests=max_requests, jitter=jitter, env=extra
        ) as stack:
            done = threading.Event()
            thread = chaos_thread(
                stack,
                done,
                events,
                kill_every=kill_every,
                max_kills=max_kills,
                hup_after=hup_after,
                redis_dir=base / "services" if backend == "distributed" else None,
                deadline=deadline,
                seed=seed,
            )
            try:
                chaos = train_batches(stack, "chaos-run", observations, batch_size, streams)
            finally:
                done.set()
                thread.join(timeout=60)
        chaos_export = export_text(stack.env, "chaos-run")
    return Report(
        quiet=quiet,
        chaos=chaos,
        events=events,
        identical=quiet_export == chaos_export,
        export_lines=len(chaos_export.splitlines()),
        quiet_export=quiet_export,
        chaos_export=chaos_export,
    )


def table(report: Report) -> str:
    rows = [
        ("observations", report.quiet.observations, report.chaos.observations),
        ("client calls", report.quiet.calls, report.chaos.calls),
        ("failed calls (after retries)", report.quiet.failed_calls, report.chaos.failed_calls),
        ("HTTP attempts", report.quiet.attempts, report.chaos.attempts),
        ("dropped connections", report.quiet.transport_errors, report.chaos.transport_errors),
        ("502/503/504 answers", report.quiet.gateway_errors, report.chaos.gateway_errors),
        ("replayed by idempotency key", report.quiet.replays, report.chaos.replays),
        ("session clock mismatches", report.quiet.clock_mismatches, report.chaos.clock_mismatches),
        ("workers SIGKILLed", 0, len(report.events.kills)),
        ("SIGHUP reloads", 0, report.events.hups),
        ("Redis restarts", 0, report.events.redis_restarts),
        ("training seconds", report.quiet.seconds, report.chaos.seconds),
        ("export lines", len(report.quiet_export.splitlines()), report.export_lines),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  {'quiet (1 worker)':>18}  {'chaos':>12}"]
    lines += [f"{name:{width}}  {quiet!s:>18}  {chaos!s:>12}" for name, quiet, chaos in rows]
    lines.append(f"exports identical (byte for byte): {report.identical}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=40000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=200)
    parser.add_argument("--jitter", type=int, default=40)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--max-kills", type=int, default=40)
    parser.add_argument("--hup-after", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--backend", choices=("embedded", "distributed"), default="embedded")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kato-chaos-") as tmp:
        report = run(
            Path(tmp),
            observations=args.observations,
            batch_size=args.batch_size,
            workers=args.workers,
            max_requests=args.max_requests,
            jitter=args.jitter,
            kill_every=args.kill_every,
            max_kills=args.max_kills,
            hup_after=args.hup_after,
            streams=args.streams,
            backend=args.backend,
            max_seconds=args.max_seconds,
            seed=args.seed,
        )
    print(table(report))
    for error in report.chaos.errors[:5]:
        print("error:", error)
    ok = report.identical and report.chaos.failed_calls == 0 and report.quiet.failed_calls == 0
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
