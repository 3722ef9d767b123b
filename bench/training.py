"""Training throughput over HTTP: observe with predictions on, a learn every few observations.

    .venv/bin/python -m bench.training --observations 40000 --workers 2 --clients 4
    .venv/bin/python -m bench.training --backend distributed ...

Starts ``kato serve`` on the embedded backend (fresh data directory) on a free
loopback port, or with ``--backend distributed`` on Redis + ClickHouse started by
``scripts/services.sh`` on free loopback ports (as ``bench.predictions`` does). Then runs
``--clients`` threads that each own a session and send their share of the observations one
by one (``POST /observe``) with a ``POST /learn`` after every ``--learn-every``
observations, and prints the throughput of each tenth of the run, the ratio of the last
tenth to the first, the total time, and the CPU the server's processes used per observation
(start-up included; the distributed backend's Redis and ClickHouse are not counted).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
from pathlib import Path

from bench.chaos import backend_services
from bench.generate import Generator
from kato.client import KatoClient
from tests.service.server import KatoServer


def _events(count: int, seed: int) -> list[list[str]]:
    """A stream of events taken pattern by pattern from the benchmark generator."""
    generator = Generator(max(1000, count), seed=seed)  # ~4 events per pattern: plenty
    events: list[list[str]] = []
    for pattern in generator.patterns():
        events.extend(pattern)
        if len(events) >= count:
            break
    return events[:count]


# Workers share one listening socket and a keep-alive connection stays on the worker that
# accepted it: a client reconnects this often so its requests spread over the workers the
# way a proxy's many connections would (with 4 fixed connections one worker often got all).
RECONNECT_EVERY = 50


def _client_run(
    url: str,
    node: str,
    events: list[list[str]],
    learn_every: int,
    stamps: list[float],
    lock: threading.Lock,
) -> None:
    with KatoClient(url, timeout=120.0) as kato:
        session = kato.create_session(node)["session_id"]
    for start in range(0, len(events), RECONNECT_EVERY):
        with KatoClient(url, timeout=120.0) as kato:
            for i, event in enumerate(events[start : start + RECONNECT_EVERY], start=start + 1):
                kato.observe(session, event)
                if i % learn_every == 0:
                    kato.learn(session)
                with lock:
                    stamps.append(time.perf_counter())


def run(
    observations: int,
    workers: int,
    clients: int,
    learn_every: int,
    env: dict[str, str] | None = None,
    node: str = "training-bench",
) -> dict[str, float]:
    """Throughput per tenth, printed; ``env`` points the server at distributed services
    (``node`` must then be new to them: the run measures a growing knowledge base)."""
    events = _events(observations, seed=11)
    shares = [events[i::clients] for i in range(clients)]
    stamps: list[float] = []
    lock = threading.Lock()
    cpu_before = _children_cpu()
    with (
        tempfile.TemporaryDirectory() as data_dir,
        KatoServer(Path(data_dir), workers=workers, env=env) as server,
    ):
        start = time.perf_counter()
        threads = [
            threading.Thread(
                target=_client_run,
                args=(server.base_url, node, share, learn_every, stamps, lock),
            )
            for share in shares
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = time.perf_counter() - start
    # The server and its workers have exited and been waited for: their CPU is counted.
    server_cpu = _children_cpu() - cpu_before
    stamps.sort()
    tenth = len(stamps) // 10
    rates = []
    previous = start
    for k in range(10):
        end = stamps[(k + 1) * tenth - 1]
        rates.append(tenth / (end - previous))
        previous = end
    print(f"{'tenth':>6} {'obs/s':>10}")
    for k, rate in enumerate(rates, start=1):
        print(f"{k:>6} {rate:>10.1f}")
    ratio = rates[-1] / rates[0]
    backend = (env or {}).get("KATO_STORAGE", "embedded")
    print(
        f"observations={len(stamps)} workers={workers} clients={clients} "
        f"learn_every={learn_every} backend={backend}"
    )
    print(f"total {total:.1f} s, last/first tenth throughput ratio {ratio:.2f}")
    # Steadier than wall time, which swings with where the clients' connections land.
    per_observation = server_cpu / len(stamps) * 1000
    print(f"server CPU {server_cpu:.1f} s (start-up included), {per_observation:.2f} ms/obs")
    return {
        "observations": len(stamps),
        "total_seconds": total,
        "ratio": ratio,
        "server_cpu_ms_per_observation": per_observation,
    }


def _children_cpu() -> float:
    """User and system CPU seconds of this process's exited, waited-for descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--observations", type=int, default=40000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--learn-every", type=int, default=5)
    parser.add_argument("--backend", choices=("embedded", "distributed"), default="embedded")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        backend_services(args.backend, Path(tmp) / "services") as env,
    ):
        run(args.observations, args.workers, args.clients, args.learn_every, env)


if __name__ == "__main__":
    main()
