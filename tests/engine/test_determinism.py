"""Same workload, fresh processes, different hash seeds: byte-identical JSON (engine §7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(hash_seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run(
        [sys.executable, "-m", "tests.engine.determinism_workload"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout


def test_workload_is_byte_identical_under_different_hash_seeds() -> None:
    first = _run("1")
    second = _run("2024")
    assert len(first) > 10_000
    assert first == second
