"""Serving overhead and worker scaling, measured side by side with one load generator.

    .venv/bin/python -m bench.overhead --seconds 10 --concurrency 16 --rounds 3

Three workloads, each against 1 and 2 workers:

1. ``constant``: a bare FastAPI route returning a constant, served by uvicorn with the same
   settings as ``kato serve`` (the control: what the machine, the load generator and the
   HTTP server allow).
2. ``observe``: ``POST /sessions/{id}/observe`` on ``kato serve`` (embedded backend, default
   configuration) into an empty node; the requests go round-robin over sessions, and each
   session's STM is cleared every 5 observations so the work per request stays constant.
3. ``trained``: the same load into a node that holds ``--patterns`` patterns of
   :class:`bench.generate.Generator` (learned through the API before the runs), observing
   noisy prefixes of them, so every observe computes predictions (the default
   configuration): the training loop's request, whose server CPU dwarfs the load
   generator's and the loopback's.

It prints requests per second, observe/constant on 1 worker (the serving overhead), and 2
workers / 1 worker for each workload (scaling). On two cores a request as cheap as the
constant's or the empty observe's leaves the second worker less than a core: the load
generator and the kernel's loopback traffic take the rest, and the constant's own ratio shows
how much.

The load generator is ``wrk`` (Debian's package; one thread, ``--concurrency``
connections, a Lua script spreading the requests over sessions) when it is installed and
``--generator wrk`` (the default), else an asyncio httpx client in this process, which
competes with the servers for the two cores.

The four servers (the bare app and ``kato serve``, each on 1 and on 2 workers) stay up for
the whole run, and the six loads run in turn, ``--rounds`` times: a ratio is taken within
one round (six loads, a minute at the default ``--seconds``), and the medians of the rounds'
ratios are printed. On this machine the bare constant's own rate moved by a quarter between two runs
ten minutes apart, and the keep-alive connections of one load can all land on one worker of
two (docs/performance.md, "Scaling"); every round opens new ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.generate import Generator
from tests.service.server import KatoServer, free_port

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "healthy"}


@app.post("/constant")
def constant() -> dict[str, str]:
    return {"status": "okay"}
"""

EMPTY_NODE = "overhead"
TRAINED_NODE = "overhead-trained"
WORKLOADS = ("constant", "observe", "trained")

# Request n goes to session n mod S; every 5th round of a session clears its STM.
WRK_SCRIPT = """
local sessions = {%s}
local bodies = {%s}
local n = 0
request = function()
  local s = sessions[(n %% #sessions) + 1]
  local round = math.floor(n / #sessions)
  n = n + 1
  if round %% 5 == 4 then
    return wrk.format("POST", "/sessions/" .. s .. "/clear-stm")
  end
  return wrk.format("POST", "/sessions/" .. s .. "/observe",
    {["Content-Type"] = "application/json"}, bodies[(round %% #bodies) + 1])
end
"""


def observe_bodies(workload: str, patterns: int) -> list[str]:
    """The observe bodies a workload cycles through."""
    if workload == "observe":
        return [json.dumps({"strings": [f"s{i}"]}) for i in range(7)]
    queries = Generator(patterns, seed=5).queries(50, seed=6)
    return [json.dumps({"strings": event}) for query in queries for event in query]


def train(base_url: str, patterns: int) -> None:
    """Learn the trained node's patterns, one observe-sequence with learn_at_end each."""
    with httpx.Client(base_url=base_url, timeout=120.0) as client:
        session = client.post("/sessions", json={"node_id": TRAINED_NODE}).json()["session_id"]
        for pattern in Generator(patterns, seed=5).patterns():
            items = [{"strings": event} for event in pattern]
            body = {"observations": items, "learn_at_end": True}
            client.post(f"/sessions/{session}/observe-sequence", json=body).raise_for_status()


def _sessions(base_url: str, node: str, count: int) -> list[str]:
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        return [
            client.post("/sessions", json={"node_id": node}).json()["session_id"]
            for _ in range(count)
        ]


async def _httpx_load(
    base_url: str, seconds: float, concurrency: int, sessions: list[str], bodies: list[str]
) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(number: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                if not sessions:
                    response = await client.post("/constant")
                elif i % 5 == 4:
                    response = await client.post(f"/sessions/{sessions[number]}/clear-stm")
                else:
                    response = await client.post(
                        f"/sessions/{sessions[number]}/observe",
                        content=bodies[i % len(bodies)],
                        headers={"content-type": "application/json"},
                    )
                response.raise_for_status()
                done += 1
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done / (time.perf_counter() - start)


def _wrk_load(
    base_url: str,
    seconds: float,
    concurrency: int,
    sessions: list[str],
    bodies: list[str],
    tmp: Path,
) -> float:
    script = tmp / "load.lua"
    if sessions:
        quoted = ", ".join("[[" + body + "]]" for body in bodies)
        script.write_text(WRK_SCRIPT % (", ".join(f'"{s}"' for s in sessions), quoted))
        target = base_url
    else:
        script.write_text('wrk.method = "POST"\n')
        target = base_url + "/constant"
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "-s", str(script), target]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]


def _bare_server(directory: Path, workers: int) -> KatoServer:
    (directory / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--app-dir", str(directory), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    return KatoServer(directory, command=command, port=port)


Rates = dict[tuple[str, int], list[float]]  # requests/s of (workload, workers), by round


def run(
    seconds: float, concurrency: int, generator: str, patterns: int = 2000, rounds: int = 3
) -> Rates:
    """Requests per second of each workload on 1 and 2 workers in each round, printed with
    the ratios."""
    use_wrk = generator == "wrk" and shutil.which("wrk") is not None
    rates: Rates = {(workload, workers): [] for workload in WORKLOADS for workers in (1, 2)}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        root = Path(tmp)

        def load(base_url: str, sessions: list[str], bodies: list[str]) -> float:
            if use_wrk:
                return _wrk_load(base_url, seconds, concurrency, sessions, bodies, root)
            return asyncio.run(_httpx_load(base_url, seconds, concurrency, sessions, bodies))

        # wrk spreads the requests over 4 sessions a connection; httpx gives each task one
        session_count = concurrency * (4 if use_wrk else 1)
        targets: dict[tuple[str, int], tuple[str, list[str], list[str]]] = {}
        for workers in (1, 2):
            bare_dir = root / f"bare{workers}"
            bare_dir.mkdir()
            bare = servers.enter_context(_bare_server(bare_dir, workers))
            targets[("constant", workers)] = (bare.base_url, [], [])
            # one data directory for both: the trained node is learned once, before the
            # 2-worker server starts and loads it
            kato = servers.enter_context(KatoServer(root / "kato", workers=workers))
            if workers == 1:
                train(kato.base_url, patterns)
            for workload, node in (("observe", EMPTY_NODE), ("trained", TRAINED_NODE)):
                sessions = _sessions(kato.base_url, node, session_count)
                targets[(workload, workers)] = (
                    kato.base_url,
                    sessions,
                    observe_bodies(workload, patterns),
                )
        for _ in range(rounds):
            for workers in (1, 2):
                for workload in WORKLOADS:
                    rates[(workload, workers)].append(load(*targets[(workload, workers)]))
    _print(rates, use_wrk, patterns)
    return rates


def ratios(rates: Rates) -> dict[str, list[float]]:
    """Each round's serving overhead (observe / constant on 1 worker) and scaling (2 workers /
    1) of each workload."""
    rounds = range(len(rates[("constant", 1)]))
    by_round = {"overhead": [rates[("observe", 1)][r] / rates[("constant", 1)][r] for r in rounds]}
    for workload in WORKLOADS:
        one, two = rates[(workload, 1)], rates[(workload, 2)]
        by_round[f"scaling {workload}"] = [two[r] / one[r] for r in rounds]
    return by_round


def _print(rates: Rates, use_wrk: bool, patterns: int) -> None:
    labels = {
        "constant": "bare FastAPI constant",
        "observe": "kato observe, empty node",
        "trained": f"kato observe, {patterns:,} patterns",
    }
    print(f"load generator: {'wrk -t1' if use_wrk else 'httpx asyncio (in process)'}")
    print(f"{'req/s, by round':<34} {'1 worker':>24} {'2 workers':>24}")
    for workload in WORKLOADS:
        one, two = (" ".join(f"{rate:7.1f}" for rate in rates[(workload, n)]) for n in (1, 2))
        print(f"{labels[workload]:<34} {one:>24} {two:>24}")
    print(f"{'ratio, by round':<34} {'median':>8}   rounds")
    for name, values in ratios(rates).items():
        shown = " ".join(f"{value:.2f}" for value in values)
        print(f"{name:<34} {statistics.median(values):>8.2f}   {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--generator", choices=["wrk", "httpx"], default="wrk")
    parser.add_argument("--patterns", type=int, default=2000, help="the trained node's size")
    parser.add_argument("--rounds", type=int, default=3, help="times each load runs")
    args = parser.parse_args()
    run(args.seconds, args.concurrency, args.generator, args.patterns, args.rounds)


if __name__ == "__main__":
    main()
