"""The engine alone answering the predictions benchmark's queries, in process (no HTTP).

    .venv/bin/python -m bench.engine_queries --size 1000000 --queries 12 --rounds 3

Builds the knowledge base of ``bench.predictions`` (N learns of bench/generate.py) in an
in-memory store, builds its index, compiles the kernels, and times ``NodeEngine.predict``
on the benchmark's noisy-prefix queries with the default configuration: CPU time per query
(``time.process_time``, steadier than wall time on a shared machine), averaged over the
queries, best of ``--rounds``. The collector runs at a worker's pace (``KATO_GC_THRESHOLD``)
with the knowledge base frozen out of it, as a worker freezes its start-up objects. For
comparing two commits, run it from a worktree of each, alternated.
"""

from __future__ import annotations

import argparse
import gc
import time

from bench.generate import Generator
from bench.predictions import NODE, build
from kato.engine import EngineConfig, NodeEngine, kernels
from kato.service.settings import load_settings
from kato.service.warmup import pace_collector
from kato.storage.keys import node_key
from kato.storage.memory import MemoryBackend


def run(size: int, queries: int, rounds: int) -> float:
    """Milliseconds of CPU per query, best of ``rounds``; printed."""
    store = MemoryBackend()
    build(store, size)
    handle = store.node(node_key("kato", NODE))
    engine = NodeEngine(handle.kb, handle.vectors, handle.index)
    handle.index.sync(handle.kb)
    kernels.warm_up()
    config = EngineConfig()
    batch = Generator(size).queries(queries)
    threshold = gc.get_threshold()
    gc.freeze()
    pace_collector(load_settings().kato_gc_threshold)
    try:
        engine.predict(batch[0], config)  # first-use costs (caches) outside the timing
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            for query in batch:
                engine.predict(query, config)
            best = min(best, (time.process_time() - start) / len(batch))
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
    print(f"N={size} queries={len(batch)} rounds={rounds}: {best * 1000:.2f} ms CPU per query")
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.size, args.queries, args.rounds)


if __name__ == "__main__":
    main()
