"""The engine compiled by mypyc gives the bytes the interpreted engine gives, and a stale
build is refused (kato/engine/compiled.py)."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kato.engine import compiled

ROOT = Path(__file__).resolve().parents[2]


def _run(*module: str) -> tuple[bytes, bytes]:
    done = subprocess.run(
        [sys.executable, "-m", *module], cwd=ROOT, capture_output=True, check=True, timeout=300
    )
    return done.stdout, done.stderr


def test_the_installed_engine_runs_compiled() -> None:
    for name in compiled.COMPILED_MODULES:
        importlib.import_module(f"kato.engine.{name}")
    assert compiled.running_compiled() == list(compiled.COMPILED_MODULES)


@pytest.mark.parametrize("workload", ["determinism_workload", "scale_workload"])
def test_compiled_and_interpreted_engines_give_the_same_bytes(workload: str) -> None:
    module = f"tests.engine.{workload}"
    from_extensions, _ = _run(module)
    from_sources, report = _run("tests.engine.interpreted", module)
    assert json.loads(report) == []  # nothing ran compiled
    assert len(from_extensions) > 10_000
    assert from_extensions == from_sources


SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _engine_dir(tmp_path: Path, *names: str) -> Path:
    for name in names:
        (tmp_path / f"{name}.py").write_text(f"VALUE = {name!r}\n")
        (tmp_path / f"{name}{SUFFIX}").write_bytes(b"built from the source above")
    digests = {name: compiled.source_digest(tmp_path / f"{name}.py") for name in names}
    (tmp_path / compiled.MANIFEST_NAME).write_text(json.dumps(digests))
    return tmp_path


def test_a_build_of_the_current_sources_is_accepted(tmp_path: Path) -> None:
    engine = _engine_dir(tmp_path, "metrics", "prediction")
    assert compiled.stale_modules(engine) == []
    compiled.ensure_current(engine)


def test_an_extension_whose_source_changed_is_refused(tmp_path: Path) -> None:
    engine = _engine_dir(tmp_path, "metrics", "prediction")
    (engine / "prediction.py").write_text("VALUE = 'edited'\n")
    assert compiled.stale_modules(engine) == ["prediction"]
    with pytest.raises(compiled.StaleBuildError, match=r"kato/engine/prediction\.py changed"):
        compiled.ensure_current(engine)


def test_an_extension_the_build_did_not_record_is_refused(tmp_path: Path) -> None:
    engine = _engine_dir(tmp_path, "metrics")
    (engine / "alignment.py").write_text("VALUE = 1\n")
    (engine / f"alignment{SUFFIX}").write_bytes(b"left over from another build")
    assert compiled.stale_modules(engine) == ["alignment"]


def test_sources_without_extensions_run_interpreted_unchecked(tmp_path: Path) -> None:
    (tmp_path / "metrics.py").write_text("VALUE = 1\n")
    assert compiled.stale_modules(tmp_path) == []
