"""The engine modules compiled to C extensions with mypyc, and a check that builds are current.

Installing KATO (``setup.py``) compiles :data:`COMPILED_MODULES` with mypyc: the same
source, type-annotated Python, run as C — the same operations on the same values, so the
same results, for 7–21 % less CPU per prediction at 10k patterns and 15–25 % per observe at
7,600 (in process; docs/performance.md). Interpreted and compiled runs are compared byte for byte by
``tests/engine/test_compiled.py``.

An extension sits beside its source and wins the import. A source edited after the build
would therefore silently not run, so the build records each source's SHA-256 in
:data:`MANIFEST_NAME`, and importing :mod:`kato.engine` refuses an extension whose source
has changed since (``scripts/bootstrap.sh`` rebuilds).

This module uses the standard library only: ``setup.py`` and ``scripts/bootstrap.sh`` load
it by path, without the engine's dependencies (``python kato/engine/compiled.py --check``).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import sys
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent
MANIFEST_NAME = "compiled_sources.json"

# Pure-Python hot paths. Not compiled: kernels (numba), index (NumPy and numba objects
# everywhere, patched by tests), matcher (tests drive it with integer codes), node (the
# service subclasses NodeEngine), validation (it checks values of any type), and what runs
# once per request or less.
COMPILED_MODULES = (
    "alignment",
    "bulk",
    "emotives",
    "learning",
    "metrics",
    "observing",
    "prediction",
    "prediction_basis",
    "pruning",
    "summaries",
)


class StaleBuildError(RuntimeError):
    def __init__(self, modules: list[str]) -> None:
        names = ", ".join(f"kato/engine/{m}.py" for m in modules)
        super().__init__(
            f"{names} changed since the engine was compiled; rebuild with scripts/bootstrap.sh "
            "(or pip install -e .), or delete the stale kato/engine/*.so to run interpreted"
        )


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(engine_dir: Path = ENGINE_DIR) -> None:
    """Record the digest of every compiled module's source (called by ``setup.py``)."""
    digests = {name: source_digest(engine_dir / f"{name}.py") for name in COMPILED_MODULES}
    (engine_dir / MANIFEST_NAME).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


def extension_files(engine_dir: Path = ENGINE_DIR) -> dict[str, Path]:
    """The engine's extension modules on disk, by module name."""
    found: dict[str, Path] = {}
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for path in engine_dir.glob(f"*{suffix}"):
            found.setdefault(path.name.removesuffix(suffix), path)
    return found


def stale_modules(engine_dir: Path = ENGINE_DIR) -> list[str]:
    """Modules whose extension was not built from their current source."""
    manifest_path = engine_dir / MANIFEST_NAME
    recorded: dict[str, str] = (
        json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    )
    stale = []
    for name in sorted(extension_files(engine_dir)):
        source = engine_dir / f"{name}.py"
        if not source.exists():
            continue  # an installation without sources runs what it was built from
        if recorded.get(name) != source_digest(source):
            stale.append(name)
    return stale


def ensure_current(engine_dir: Path = ENGINE_DIR) -> None:
    stale = stale_modules(engine_dir)
    if stale:
        raise StaleBuildError(stale)


def running_compiled() -> list[str]:
    """The compiled modules loaded from their extensions in this process."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return [
        name
        for name in COMPILED_MODULES
        if str(getattr(sys.modules.get(f"kato.engine.{name}"), "__file__", "")).endswith(suffixes)
    ]


def _check() -> int:
    """Exit status for ``--check``: 0 when every listed module is compiled and current."""
    missing = sorted(set(COMPILED_MODULES) - set(extension_files()))
    stale = stale_modules()
    for name in missing:
        print(f"kato/engine/{name}.py is not compiled")
    for name in stale:
        print(f"kato/engine/{name}.py changed since it was compiled")
    return 1 if missing or stale else 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python kato/engine/compiled.py --check")
    sys.exit(_check())
