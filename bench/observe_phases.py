"""Where an observe's CPU time goes once the knowledge base fills the ensemble (no HTTP).

    .venv/bin/python -m bench.observe_phases --train 38000 --measure 2000
    .venv/bin/python -m tests.engine.interpreted bench.observe_phases --train 38000 \
        --measure 2000 --phases
    .venv/bin/python -m bench.observe_phases --train 38000 --measure 2000 --parts

Trains ``--train`` observations of the training benchmark's event stream
(``bench.training``; a learn every 5) into a fresh embedded store with predictions off,
then warms up as a worker does (the index built, the summaries cached), observes the
next ``--measure`` events with predictions on (the default configuration) and prints the
CPU time per observe (``time.process_time``, steadier than wall time on a shared
machine). The garbage collector runs at a worker's pace (``KATO_GC_THRESHOLD``).

With ``--phases`` it also prints each phase of the prediction, timed by wrappers; nested
phases are indented and included in their parent's time, and the wrappers add a little
overhead of their own. Wrappers cannot reach inside the compiled engine
(kato/engine/compiled.py), so ``--phases`` needs the interpreted one: the second command.
``--parts`` times what the engine calls on the objects it is handed, the index (its
compiled search) and the store, which works on either engine, and prints the rest of an
observe as the engine's own Python. Wrappers count only inside observes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.training import _events
from kato.engine import EngineConfig, NodeEngine, compiled, kernels, prediction
from kato.engine.types import Observation, SessionState
from kato.service.settings import load_settings
from kato.service.warmup import pace_collector, warm_up
from kato.storage.embedded import EmbeddedBackend
from kato.storage.keys import node_key

LEARN_EVERY = 5


class _Totals(defaultdict[str, float]):
    """CPU seconds by label, counted only while ``observing``."""

    def __init__(self) -> None:
        super().__init__(float)
        self.observing = False


def _timed(owner: Any, name: str, label: str, totals: _Totals) -> None:
    """Replace ``owner.name`` by a wrapper adding its CPU time to ``totals[label]``."""
    function: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            if totals.observing:
                totals[label] += time.process_time() - start

    setattr(owner, name, timed)


def _parts(index: Any, kb: Any) -> list[tuple[Any, str, str]]:
    """The index's and the store's entry points an observe calls (none nested in another)."""
    return [
        (index, "split_overlaps", "index: overlap counts and split"),
        (index, "score_candidates", "index: compiled kernel"),
        (index, "matching_blocks", "index: matching blocks"),
        (index, "single_symbol_blocks", "index: single-symbol blocks"),
        (index, "pattern_member_frequencies", "index: symbol counts"),
        (index, "sync", "index: sync (its store reads too)"),
        *(
            (kb, name, "store reads")
            for name in (
                "summary_changes",
                "pattern_summaries",
                "global_stats",
                "precomputed_metrics",
            )
        ),
    ]


def run(train: int, measure: int, phases: bool = False, parts: bool = False) -> dict[str, float]:
    """CPU milliseconds per observe (``observe``) and, with ``phases`` or ``parts``, of each
    phase or part, printed."""
    running = compiled.running_compiled()
    if phases and running:
        raise RuntimeError(
            "phases are timed on the interpreted engine: "
            "python -m tests.engine.interpreted bench.observe_phases ... --phases"
        )
    kernels.warm_up()
    pace_collector(load_settings().kato_gc_threshold)
    totals = _Totals()
    with tempfile.TemporaryDirectory() as data_dir:
        backend = EmbeddedBackend(Path(data_dir))
        handle = backend.node(node_key("kato", "phases"))
        engine = NodeEngine(handle.kb, handle.vectors, handle.index)
        wrapped: list[tuple[Any, str, str]] = [
            (handle.index, "sync", "index sync"),
            (prediction, "_fast_path", "single-symbol fast path"),
            (prediction, "_indexed_ensemble", "ensemble search"),
            (handle.index, "split_overlaps", "  overlap counts and split"),
            (handle.index, "score_candidates", "  compiled kernel"),
            (prediction, "_from_bulk", "  single-symbol members"),
            (handle.index.summaries, "get", "frequencies and emotives (cached)"),
            (handle.kb, "pattern_summaries", "  store reads"),
            (handle.kb, "precomputed_metrics", "store: precomputed metrics"),
            (prediction._EnsembleContext, "core", "ensemble fields"),
            (prediction, "_future_groups", "future groups"),
            (prediction, "rank", "ranking"),
            (prediction._EnsembleContext, "completed", "output objects"),
        ]
        timed = wrapped if phases else _parts(handle.index, handle.kb) if parts else []
        for owner, name, label in timed:
            _timed(owner, name, label, totals)
        off = EngineConfig(process_predictions=False)
        on = EngineConfig()
        events = _events(train + measure, seed=11)
        state = SessionState()
        for i, event in enumerate(events[:train], start=1):
            engine.observe(state, Observation(strings=event), off)
            if i % LEARN_EVERY == 0:
                engine.learn(state, off)
        patterns = handle.kb.global_stats().total_unique_patterns
        # as a worker starts: the index built and every summary cached, so the measured
        # observes do not pay for them (before session 16 the first one built the index)
        warm_up(backend, indexes=True)
        totals.clear()
        observing = 0.0
        for i, event in enumerate(events[train:], start=1):
            totals.observing = True
            start = time.process_time()
            engine.observe(state, Observation(strings=event), on)
            observing += time.process_time() - start
            totals.observing = False
            if i % LEARN_EVERY == 0:
                engine.learn(state, on)
        backend.close()
    per_observe = {"observe": observing / measure * 1000}
    per_observe.update({label: totals[label] / measure * 1000 for _, _, label in timed})
    if parts:
        per_observe["the rest: the engine's Python"] = (
            per_observe["observe"] - sum(totals.values()) / measure * 1000
        )
    engine_kind = "compiled" if running else "interpreted"
    print(f"{patterns} patterns learned; {measure} observes with predictions on ({engine_kind})")
    for label, milliseconds in per_observe.items():
        print(f"{label:34} {milliseconds:7.2f} ms CPU")
    return per_observe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=38000)
    parser.add_argument("--measure", type=int, default=2000)
    parser.add_argument("--phases", action="store_true", help="time each phase (interpreted)")
    parser.add_argument("--parts", action="store_true", help="time the index's and store's parts")
    args = parser.parse_args()
    run(args.train, args.measure, args.phases, args.parts)


if __name__ == "__main__":
    main()
