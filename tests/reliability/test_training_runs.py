"""Issue 5's training runs through nginx (TLS) to gunicorn with 4 uvicorn workers.

Each run trains the same observations (bench.training_run: keyed observe-sequence and learn
calls from 4 concurrent sessions of one node) and must end with zero failed client calls,
every session clock equal to what it sent, and an export byte-identical to the same training
on a quiet single-worker server. The suite runs 4,000 observations; the ``slow`` variant 20,000.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.stack import Stack, edge_stack, export_text, quiet_server
from bench.training_run import RunResult, train
from tests.deploy.test_images import wait_workers

pytestmark = pytest.mark.nginx

SHORT = 4000
LONG = 20000
_reference: dict[int, str] = {}


def reference_export(tmp_path_factory: pytest.TempPathFactory, observations: int) -> str:
    if observations not in _reference:
        base = tmp_path_factory.mktemp(f"quiet-{observations}")
        with quiet_server(base) as stack:
            result = train(stack.url, observations=observations, node_id="training")
        assert result.failed_calls == 0 and result.clock_mismatches == 0, result.summary()
        _reference[observations] = export_text(stack.env, "training")
    return _reference[observations]


def assert_clean(result: RunResult) -> None:
    assert result.failed_calls == 0, result.summary()
    assert result.clock_mismatches == 0, result.summary()


def recycled_run(base: Path, observations: int) -> tuple[RunResult, str, int]:
    with edge_stack(base, workers=4, max_requests=200, jitter=40) as stack:
        before = stack.workers()
        result = train(
            stack.url, observations=observations, node_id="training", verify=stack.verify
        )
        replaced = len(before - stack.workers())
    return result, export_text(stack.env, "training"), replaced


@pytest.mark.parametrize("observations", [SHORT, pytest.param(LONG, marks=pytest.mark.slow)])
def test_training_with_recycling_workers_matches_a_quiet_run(
    tmp_path_factory: pytest.TempPathFactory, observations: int
) -> None:
    expected = reference_export(tmp_path_factory, observations)
    result, exported, replaced = recycled_run(tmp_path_factory.mktemp("recycled"), observations)
    assert_clean(result)
    assert replaced >= 2, "max requests 200 should have recycled workers during the run"
    assert exported == expected
    patterns = exported.count('{"type":"pattern"')
    assert patterns > 0 and f'"total_pattern_frequencies":{patterns}' in exported


def run_with(
    stack: Stack, observations: int, action: Callable[[threading.Event], None]
) -> RunResult:
    done = threading.Event()
    chaos = threading.Thread(target=action, args=(done,), daemon=True)
    chaos.start()
    try:
        return train(stack.url, observations=observations, node_id="training", verify=stack.verify)
    finally:
        done.set()
        chaos.join(timeout=30)


def test_sigkilled_workers_are_replaced_and_nothing_is_lost_or_duplicated(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    expected = reference_export(tmp_path_factory, SHORT)
    killed: list[int] = []
    rng = random.Random(5)
    with edge_stack(
        tmp_path_factory.mktemp("killed"), workers=4, max_requests=200, jitter=40
    ) as stack:
        # Every 0.75 s: the kills are timed and the training is not, and with the compiled
        # engine the run can be over in a few seconds.
        def kill(done: threading.Event) -> None:
            while not done.wait(0.75) and len(killed) < 4:
                victim = stack.kill_random_worker(rng)
                if victim is not None:
                    killed.append(victim)

        result = run_with(stack, SHORT, kill)
        workers = wait_workers(stack.master_pid, 4)
        assert not workers & set(killed)
    assert len(killed) >= 2
    assert_clean(result)
    assert export_text(stack.env, "training") == expected


def test_graceful_reload_under_training_drops_no_request(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    expected = reference_export(tmp_path_factory, SHORT)
    with edge_stack(tmp_path_factory.mktemp("hup"), workers=4) as stack:
        old = wait_workers(stack.master_pid, 4)
        hups: list[float] = []

        def reload(done: threading.Event) -> None:
            for _ in range(2):
                if done.wait(2.0):
                    return
                stack.reload()
                hups.append(time.monotonic())

        result = run_with(stack, SHORT, reload)
        new = wait_workers(stack.master_pid, 4)
    assert len(hups) == 2 and not (old & new)
    assert_clean(result)
    # A graceful reload drains: no attempt needed a retry.
    assert result.transport_errors == 0 and result.gateway_errors == 0, result.summary()
    assert export_text(stack.env, "training") == expected
