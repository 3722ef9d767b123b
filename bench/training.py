"""Training throughput over HTTP: observe with predictions on, a learn every few observations.

    .venv/bin/python -m bench.training --observations 40000 --workers 2 --clients 4
    .venv/bin/python -m bench.training --backend distributed ...

Starts ``kato serve`` on the embedded backend (fresh data directory) on a free
loopback port, or with ``--backend distributed`` on Redis + ClickHouse started by
``scripts/services.sh`` on free loopback ports (as ``bench.predictions`` does). Then
``--clients`` threads, each owning a session, send the observations (``POST /observe``)
with a ``POST /learn`` after every ``--learn-every``, and it prints the throughput of each
tenth of the run, the ratio of the last tenth to the first, the total time, and the CPU
per observation of the server's processes (start-up included; the distributed backend's
Redis and ClickHouse are not counted) and of the client threads.

Each tenth's row also has the server's CPU per observation over that tenth (its processes
sampled as the tenth's last observation is answered). A tenth's throughput moves with the
machine's phase as much as with the code; its CPU cost moves less, so the cost ratio (the
first tenth's CPU per observation over the last's) shows how much of the throughput ratio
is the work itself growing with the knowledge base.

The work is a queue of chunks of ``--learn-every`` observations: client ``i``'s share of
the stream is every ``clients``-th event from the ``i``-th, cut into chunks, and the
chunks are queued share by share, round by round. A learn clears the STM, so a chunk
learns the same pattern whichever session observes it, and each client takes the next
chunk when it is free: all clients stay busy to the end, where fixed shares left the
last tenth to whichever clients had work left. A chunk shorter than ``--learn-every``
(the end of a share) is not learned; its session's STM is cleared after it.

The load generator is a plain ``http.client`` connection per client thread, sending no
``Idempotency-Key`` (as KATO 3.10.1 clients do), for the reason ``bench.overhead`` uses
``wrk``: the clients share the machine's two cores with the server, and the KATO client
(httpx) used about 3 ms of CPU per observation, a fifth of the machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import resource
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from bench.chaos import backend_services
from bench.generate import Generator
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


def _chunks(events: list[list[str]], clients: int, learn_every: int) -> list[list[list[str]]]:
    """The shares' chunks in queue order: every share's first chunk, then every second…"""
    shares = [events[i::clients] for i in range(clients)]
    cut = [
        [share[k : k + learn_every] for k in range(0, len(share), learn_every)] for share in shares
    ]
    rounds = max((len(chunks) for chunks in cut), default=0)
    return [chunks[r] for r in range(rounds) for chunks in cut if r < len(chunks)]


# Workers share one listening socket and a keep-alive connection stays on the worker that
# accepted it: a client reconnects this often so its requests spread over the workers the
# way a proxy's many connections would (with 4 fixed connections one worker often got all).
RECONNECT_EVERY = 50


class _Connection:
    """Keep-alive HTTP/1.1 POSTs of JSON to the server, reopened every RECONNECT_EVERY."""

    def __init__(self, base_url: str) -> None:
        self.netloc = urlsplit(base_url).netloc
        self.connection: http.client.HTTPConnection | None = None
        self.sent = 0

    def post(self, path: str, body: object = None) -> bytes:
        if self.connection is None or self.sent % RECONNECT_EVERY == 0:
            self.close()
            self.connection = http.client.HTTPConnection(self.netloc, timeout=120.0)
        self.sent += 1
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        self.connection.request("POST", path, body=data, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status} {answer[:300]!r}")
        return answer

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class _TenthSampler:
    """The server processes' CPU seconds each time another tenth of the observations has
    been answered (call :meth:`answered` under the clients' lock)."""

    def __init__(self, server_pid: int, observations: int) -> None:
        self.root = psutil.Process(server_pid)
        self.tenth = max(1, observations // 10)
        self.samples = [self.server_cpu()]

    def server_cpu(self) -> float:
        processes = [self.root, *self.root.children(recursive=True)]
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:  # a worker restarted: its CPU is lost to the sample
                continue
            total += times.user + times.system
        return total

    def answered(self, count: int) -> None:
        if count % self.tenth == 0 and len(self.samples) <= 10:
            self.samples.append(self.server_cpu())

    def per_observation_ms(self) -> list[float]:
        """Server CPU milliseconds per observation of each tenth sampled."""
        return [
            (after - before) / self.tenth * 1000
            for before, after in zip(self.samples, self.samples[1:], strict=False)
        ]


def _client_run(
    url: str,
    node: str,
    chunks: queue.SimpleQueue[list[list[str]]],
    learn_every: int,
    stamps: list[float],
    sampler: _TenthSampler,
    outcomes: list[float | Exception],
    lock: threading.Lock,
) -> None:
    """Send chunks until the queue is empty; appends the thread's CPU seconds, or its error."""
    try:
        _send_chunks(url, node, chunks, learn_every, stamps, sampler, lock)
    except Exception as error:
        with lock:
            outcomes.append(error)
    else:
        with lock:
            outcomes.append(time.thread_time())


def _send_chunks(
    url: str,
    node: str,
    chunks: queue.SimpleQueue[list[list[str]]],
    learn_every: int,
    stamps: list[float],
    sampler: _TenthSampler,
    lock: threading.Lock,
) -> None:
    connection = _Connection(url)
    session = json.loads(connection.post("/sessions", {"node_id": node}))["session_id"]
    while True:
        try:
            chunk = chunks.get_nowait()
        except queue.Empty:
            break
        for event in chunk:
            connection.post(f"/sessions/{session}/observe", {"strings": event})
            with lock:
                stamps.append(time.perf_counter())
                sampler.answered(len(stamps))
        action = "learn" if len(chunk) == learn_every else "clear-stm"
        connection.post(f"/sessions/{session}/{action}")
    connection.close()


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
    chunks: queue.SimpleQueue[list[list[str]]] = queue.SimpleQueue()
    events = _events(observations, seed=11)
    for chunk in _chunks(events, clients, learn_every):
        chunks.put(chunk)
    stamps: list[float] = []
    outcomes: list[float | Exception] = []
    lock = threading.Lock()
    cpu_before = _children_cpu()
    with (
        tempfile.TemporaryDirectory() as data_dir,
        KatoServer(Path(data_dir), workers=workers, env=env) as server,
    ):
        assert server.process is not None
        sampler = _TenthSampler(server.process.pid, len(events))
        start = time.perf_counter()
        threads = [
            threading.Thread(
                target=_client_run,
                args=(server.base_url, node, chunks, learn_every, stamps, sampler, outcomes, lock),
            )
            for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = time.perf_counter() - start
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise RuntimeError("a training client failed") from outcome
    client_cpu = sum(outcome for outcome in outcomes if isinstance(outcome, float))
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
    costs = sampler.per_observation_ms()
    print(f"{'tenth':>6} {'obs/s':>10} {'server CPU ms/obs':>18}")
    for k, rate in enumerate(rates, start=1):
        cost = f"{costs[k - 1]:>18.2f}" if k <= len(costs) else f"{'-':>18}"
        print(f"{k:>6} {rate:>10.1f} {cost}")
    ratio = rates[-1] / rates[0]
    cost_ratio = costs[0] / costs[-1] if len(costs) == 10 and costs[-1] > 0 else float("nan")
    backend = (env or {}).get("KATO_STORAGE", "embedded")
    print(
        f"observations={len(stamps)} workers={workers} clients={clients} "
        f"learn_every={learn_every} backend={backend}"
    )
    print(f"total {total:.1f} s, last/first tenth throughput ratio {ratio:.2f}")
    print(f"server CPU per observation, first tenth / last tenth: {cost_ratio:.2f}")
    # Steadier than wall time, which swings with where the clients' connections land.
    per_observation = server_cpu / len(stamps) * 1000
    print(f"server CPU {server_cpu:.1f} s (start-up included), {per_observation:.2f} ms/obs")
    client_per_observation = client_cpu / len(stamps) * 1000
    print(f"client CPU {client_cpu:.1f} s, {client_per_observation:.2f} ms/obs")
    return {
        "observations": len(stamps),
        "total_seconds": total,
        "ratio": ratio,
        "cost_ratio": cost_ratio,
        "server_cpu_ms_per_observation": per_observation,
        "client_cpu_ms_per_observation": client_per_observation,
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
