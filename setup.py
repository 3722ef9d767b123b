"""Compiles the engine's hot modules with mypyc (kato/engine/compiled.py says which and why).

Everything else about the package is in pyproject.toml.
"""

import importlib.util
from pathlib import Path

from mypyc.build import mypycify
from setuptools import setup

ENGINE = Path(__file__).resolve().parent / "kato" / "engine"

# Loaded by path: importing the kato package would need its runtime dependencies, which an
# isolated build environment does not have.
spec = importlib.util.spec_from_file_location("kato_engine_compiled", ENGINE / "compiled.py")
assert spec is not None and spec.loader is not None
compiled = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compiled)

# Extensions of modules no longer listed would shadow their sources: remove them.
for name, path in compiled.extension_files(ENGINE).items():
    if name not in compiled.COMPILED_MODULES:
        path.unlink()
compiled.write_manifest(ENGINE)

setup(
    ext_modules=mypycify(
        # Third-party packages are typed Any, whatever the build's interpreter has installed
        # (it can be a project venv), so that every build compiles the same code.
        ["--no-site-packages", "--ignore-missing-imports", "--cache-dir=/dev/null"]
        + [f"kato/engine/{name}.py" for name in compiled.COMPILED_MODULES],
        group_name="kato_engine",
    ),
    package_data={"kato.engine": [compiled.MANIFEST_NAME]},
)
