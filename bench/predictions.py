"""GET /predictions latency over HTTP at growing knowledge-base sizes, checked against brute force.

    .venv/bin/python -m bench.predictions --sizes 1000 10000 100000 --queries 200

For each N: builds the benchmark knowledge base of bench/generate.py (N learns; repeated
patterns become frequencies) directly in a fresh embedded data directory through the bulk
restore port, starts ``kato serve`` (1 worker, default configuration) on it, and times
``GET /sessions/{id}/predictions`` for noisy-prefix queries (observed with
``process_predictions`` off, so only the predictions request is timed). In the same run it
opens the data directory in-process and compares, for a sample of queries, the HTTP answer
with the engine's brute-force evaluation (every pattern scored, no index), and times the
indexed engine against the brute-force one. Prints one table row per N. The answers kept for
that comparison are frozen out of this process's garbage collector as they arrive, so the
client's collections do not pause inside a timed request. ``p50``/``p99`` are timed with
the KATO client (httpx, body decoded into Python objects, as a user of the client sees it);
``raw`` repeats each request on a plain ``http.client`` connection and reads the body without
decoding it (the server and the transport alone).

A second session with the default configuration runs the usual loop on the same queries:
its last observe computes the predictions (``obs p50``), and the GET /predictions after it
(``loop p50``, and ``loop raw`` on the plain connection) answers from them
(kato/engine/prediction_basis.py). ``same`` counts the queries whose loop answer equals the
computed one.

``--backend distributed`` does the same on Redis + ClickHouse (+ Qdrant in local
mode), started by ``scripts/services.sh`` on free loopback ports for each N.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from bench.chaos import backend_services
from bench.generate import Generator
from kato.client import KatoClient
from kato.engine import EngineConfig, NodeEngine, kernels
from kato.engine.naming import pattern_hash
from kato.engine.prediction import predict
from kato.engine.types import GlobalStats, PatternRecord, SymbolStats
from kato.storage.embedded import EmbeddedBackend
from kato.storage.factory import build_backend
from kato.storage.keys import node_key
from kato.storage.ports import Backend
from kato.storage.settings import StorageSettings
from tests.service.server import KatoServer

NODE = "bench"


def open_backend(backend: str, data_dir: Path) -> Backend:
    """The benchmark's store: the embedded data directory, or the distributed services
    named by the environment (set from ``bench.chaos.distributed_services``)."""
    if backend == "embedded":
        return EmbeddedBackend(data_dir)
    return build_backend(StorageSettings(kato_storage="distributed", kato_data_dir=data_dir))


def build(store: Backend, n_patterns: int) -> GlobalStats:
    """Learn N generated patterns into ``store`` (bulk restore, exact counters)."""
    records: dict[str, PatternRecord] = {}
    sym_freq: Counter[str] = Counter()
    pmf: Counter[str] = Counter()
    for data in Generator(n_patterns).patterns():
        name = pattern_hash(data)
        counts = Counter(s for event in data for s in event)
        sym_freq.update(counts)
        if name in records:
            records[name].frequency += 1
            continue
        records[name] = PatternRecord(name, data, 1, [], {})
        pmf.update(counts.keys())
    stats = GlobalStats(len(records), len(records), sum(sym_freq.values()), len(pmf))
    kb = store.node(node_key("kato", NODE)).kb
    kb.restore(
        [records[name] for name in sorted(records)],
        [SymbolStats(s, sym_freq[s], pmf[s]) for s in sorted(sym_freq)],
        {},
        stats,
    )
    return stats


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _raw_get(connection: http.client.HTTPConnection, path: str) -> float:
    """Seconds to send a GET and read the whole body without decoding it: the server and
    the transport, without the client library's work."""
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status}")
    return elapsed


def measure(n_patterns: int, queries: int, checked: int, backend: str) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        backend_services(backend, Path(tmp) / "services") as env,
    ):
        os.environ.update(env)
        return _measure(Path(tmp) / "data", n_patterns, queries, checked, backend, env)


def _measure(
    data_dir: Path, n_patterns: int, queries: int, checked: int, backend: str, env: dict[str, str]
) -> dict[str, float]:
    started = time.perf_counter()
    store = open_backend(backend, data_dir)
    stats = build(store, n_patterns)
    store.close()
    build_seconds = time.perf_counter() - started
    batch = Generator(n_patterns).queries(queries)
    latencies: list[float] = []
    raw_latencies: list[float] = []
    observe_latencies: list[float] = []
    loop_latencies: list[float] = []
    raw_loop_latencies: list[float] = []
    same = 0
    answers: list[dict[str, object]] = []
    warm = time.perf_counter()
    with (
        # the worker builds its index before it answers /health (KATO_WARM_INDEXES)
        KatoServer(data_dir, workers=1, startup_timeout=3600, env=env) as server,
        KatoClient(server.base_url, timeout=600) as kato,
    ):
        session = kato.create_session(NODE, config={"process_predictions": False})["session_id"]
        looping = kato.create_session(NODE)["session_id"]  # default configuration
        for event in batch[0]:
            kato.observe(session, event)
        kato.predictions(session)
        warm_seconds = time.perf_counter() - warm
        raw = http.client.HTTPConnection(urlsplit(server.base_url).netloc, timeout=600)
        for query in batch:
            kato.clear_stm(session)
            for event in query:
                kato.observe(session, event)
            start = time.perf_counter()
            answer = kato.predictions(session)
            latencies.append(time.perf_counter() - start)
            answers.append(answer)
            # The kept answers are millions of objects the client's own cyclic collector
            # would rescan inside later timed requests (50-100 ms pauses at 10k, the p99):
            # they are never garbage, so they leave its generations.
            gc.freeze()
            raw_latencies.append(_raw_get(raw, f"/sessions/{session}/predictions"))
            kato.clear_stm(looping)
            for event in query[:-1]:
                kato.observe(looping, event)
            start = time.perf_counter()
            kato.observe(looping, query[-1])
            observe_latencies.append(time.perf_counter() - start)
            start = time.perf_counter()
            looped = kato.predictions(looping)
            loop_latencies.append(time.perf_counter() - start)
            same += int({**looped, "session_id": session} == answer)
            del looped
            raw_loop_latencies.append(_raw_get(raw, f"/sessions/{looping}/predictions"))
        raw.close()
        rss = psutil.Process(server.process.pid).memory_info().rss  # type: ignore[union-attr]
        for child in psutil.Process(server.process.pid).children(recursive=True):  # type: ignore[union-attr]
            rss = max(rss, child.memory_info().rss)
    # The answers stay frozen through the timing below: a full collection over them inside
    # the indexed engine's 10 queries (~150 ms in all at 100k) once took the measured
    # speed-up over brute force from 77x to 32x.
    store = open_backend(backend, data_dir)
    handle = store.node(node_key("kato", NODE))
    engine = NodeEngine(handle.kb, handle.vectors, handle.index)
    config = EngineConfig()
    handle.index.sync(handle.kb)
    kernels.warm_up()  # load the compiled kernels before timing, as a worker does at start
    identical = 0
    indexed_time = brute_time = 0.0
    for query, answer in list(zip(batch, answers, strict=True))[:checked]:
        start = time.perf_counter()
        fast = engine.predict(query, config)
        indexed_time += time.perf_counter() - start
        start = time.perf_counter()
        predicted = predict(engine, query, config, brute_force=True)
        slow = (predicted.predictions, predicted.future_potentials())
        brute_time += time.perf_counter() - start
        same_as_http = (answer["predictions"], answer["future_potentials"]) == slow
        same_in_process = (fast.predictions, fast.future_potentials) == slow
        identical += int(same_as_http and same_in_process)
    store.close()
    gc.unfreeze()
    return {
        "n": n_patterns,
        "unique": stats.total_unique_patterns,
        "build_s": build_seconds,
        "warm_s": warm_seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "raw_p50_ms": statistics.median(raw_latencies) * 1000,
        "raw_p99_ms": _percentile(raw_latencies, 0.99) * 1000,
        "observe_p50_ms": statistics.median(observe_latencies) * 1000,
        "loop_p50_ms": statistics.median(loop_latencies) * 1000,
        "loop_raw_p50_ms": statistics.median(raw_loop_latencies) * 1000,
        "same": same,
        "queries": len(batch),
        "speedup": brute_time / indexed_time if indexed_time else float("nan"),
        "identical": identical,
        "checked": min(checked, len(batch)),
        "rss_mib": rss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--checked", type=int, default=20, help="queries compared with brute force")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--backend",
        choices=("embedded", "distributed"),
        default="embedded",
        help="distributed: starts Redis and ClickHouse (scripts/services.sh) for each size",
    )
    args = parser.parse_args()
    rows = []
    header = (
        f"{'N':>9} {'unique':>9} {'p50 ms':>8} {'p99 ms':>8} {'raw p50':>8} {'raw p99':>8} "
        f"{'obs p50':>8} {'loop p50':>8} {'loop raw':>8} {'same':>9} {'idx/brute':>9} "
        f"{'identical':>10} {'RSS MiB':>8} {'build s':>8} {'warm s':>7}"
    )
    print(header)
    for n in args.sizes:
        row = measure(n, args.queries, args.checked, args.backend)
        rows.append(row)
        print(
            f"{row['n']:>9} {row['unique']:>9} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
            f"{row['raw_p50_ms']:>8.1f} {row['raw_p99_ms']:>8.1f} "
            f"{row['observe_p50_ms']:>8.1f} {row['loop_p50_ms']:>8.1f} "
            f"{row['loop_raw_p50_ms']:>8.1f} "
            f"{row['same']:>4}/{row['queries']:<4} "
            f"{row['speedup']:>8.1f}x {row['identical']:>4}/{row['checked']:<5} "
            f"{row['rss_mib']:>8.0f} {row['build_s']:>8.1f} {row['warm_s']:>7.1f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
