"""Short runs of the performance benchmarks (docs/performance.md has the full commands).

They check that each benchmark still runs end to end and that what it reports holds
together; the timings themselves are printed by the full runs, never asserted.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from bench import engine_queries, observe_phases, overhead, predictions, training

ROOT = Path(__file__).resolve().parents[2]


def test_predictions_benchmark_checks_http_answers_against_brute_force() -> None:
    row = predictions.measure(n_patterns=400, queries=6, checked=3, backend="embedded")
    assert row["identical"] == row["checked"] == 3
    assert row["unique"] <= 400
    assert 0 < row["p50_ms"] <= row["p99_ms"]
    assert 0 < row["raw_p50_ms"] <= row["raw_p99_ms"]
    assert row["same"] == row["queries"] == 6  # the observe-then-GET loop's answers
    assert row["observe_p50_ms"] > 0 and row["loop_p50_ms"] > 0 and row["loop_raw_p50_ms"] > 0
    assert row["rss_mib"] > 0


def test_training_benchmark_counts_every_observation() -> None:
    result = training.run(observations=300, workers=1, clients=2, learn_every=5)
    assert result["observations"] == 300
    assert result["total_seconds"] > 0
    assert result["ratio"] > 0
    assert result["cost_ratio"] > 0  # every tenth's server CPU was sampled
    assert result["server_cpu_ms_per_observation"] > 0  # the server's exit was waited for
    assert result["client_cpu_ms_per_observation"] > 0


def test_training_chunks_are_the_shares_cut_in_learn_sized_pieces_round_by_round() -> None:
    events = [[f"e{i}"] for i in range(23)]
    chunks = training._chunks(events, clients=2, learn_every=5)
    # share 0 is e0, e2, ..., e22 (12 events), share 1 is e1, e3, ..., e21 (11 events)
    assert [len(chunk) for chunk in chunks] == [5, 5, 5, 5, 2, 1]
    assert chunks[0] == [["e0"], ["e2"], ["e4"], ["e6"], ["e8"]]
    assert chunks[1] == [["e1"], ["e3"], ["e5"], ["e7"], ["e9"]]
    assert chunks[4] == [["e20"], ["e22"]] and chunks[5] == [["e21"]]
    assert sorted(event[0] for chunk in chunks for event in chunk) == sorted(e[0] for e in events)


def test_engine_queries_benchmark_times_the_engine_and_leaves_the_collector_as_it_was() -> None:
    threshold = gc.get_threshold()
    assert engine_queries.run(size=300, queries=3, rounds=2) > 0
    assert gc.get_threshold() == threshold  # the worker's pace only while it timed


def test_observe_phases_benchmark_times_the_compiled_observe() -> None:
    result = observe_phases.run(train=400, measure=60)
    assert list(result) == ["observe"]
    assert result["observe"] > 0
    with pytest.raises(RuntimeError, match="interpreted"):  # wrappers cannot time compiled code
        observe_phases.run(train=400, measure=60, phases=True)


def test_observe_phases_benchmark_splits_the_compiled_observe_into_its_parts() -> None:
    result = observe_phases.run(train=400, measure=60, parts=True)
    rest = result.pop("the rest: the engine's Python")
    observe = result.pop("observe")
    assert set(result) == {label for _, _, label in observe_phases._parts(None, None)}
    assert result["index: compiled kernel"] > 0 and result["store reads"] > 0
    assert all(value >= 0 for value in result.values())
    assert rest > 0 and rest + sum(result.values()) == pytest.approx(observe)


def test_observe_phases_benchmark_times_the_prediction_phases_interpreted() -> None:
    command = ["tests.engine.interpreted", "bench.observe_phases", "--train", "400"]
    done = subprocess.run(
        [sys.executable, "-m", *command, "--measure", "60", "--phases"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "(interpreted)" in done.stdout
    phases = {
        line[:34].rstrip(): float(line[34:].split()[0])
        for line in done.stdout.splitlines()[1:]
        if line
    }
    assert phases["observe"] > 0
    assert phases["ensemble search"] > 0
    assert phases["output objects"] > 0
    # nested phases are part of their parent
    assert phases["  compiled kernel"] <= phases["ensemble search"]


@pytest.mark.timeout(240)
def test_overhead_benchmark_measures_every_workload_on_one_and_two_workers() -> None:
    rates = overhead.run(seconds=1.0, concurrency=4, generator="httpx", patterns=30, rounds=2)
    assert set(rates) == {(w, n) for w in ("constant", "observe", "trained") for n in (1, 2)}
    assert all(len(by_round) == 2 and min(by_round) > 0 for by_round in rates.values())


def test_overhead_ratios_are_taken_within_each_round() -> None:
    rates = {
        ("constant", 1): [1000.0, 2000.0],
        ("constant", 2): [1500.0, 3000.0],
        ("observe", 1): [400.0, 600.0],
        ("observe", 2): [800.0, 600.0],
        ("trained", 1): [100.0, 200.0],
        ("trained", 2): [180.0, 300.0],
    }
    assert overhead.ratios(rates) == {
        "overhead": [0.4, 0.3],
        "scaling constant": [1.5, 1.5],
        "scaling observe": [2.0, 1.0],
        "scaling trained": [1.8, 1.5],
    }
