"""``python -m tests.engine.interpreted MODULE [ARGS]``: run MODULE as a script with the engine
interpreted — the compiled modules' sources load instead of their extensions
(kato/engine/compiled.py). The names of the modules that ran compiled (none, unless this
breaks) go to stderr as a JSON list."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ENGINE = Path(__file__).resolve().parents[2] / "kato" / "engine"


class SourcesFirst(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        source = ENGINE / f"{name}.py"
        if package != "kato.engine" or not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


if __name__ == "__main__":
    sys.meta_path.insert(0, SourcesFirst())
    sys.argv = sys.argv[1:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    from kato.engine import compiled

    sys.stderr.write(json.dumps(compiled.running_compiled()))
