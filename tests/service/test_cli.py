"""The ``kato`` command line: start-up refusal on a bad environment, and sub-command extension."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.service.server import REPO_ROOT


def test_serve_refuses_to_start_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kato.cli", "serve", "--port", "0"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "MAX_PREDICTIONS": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MAX_PREDICTIONS: Must be an integer between 1 and 10000" in result.stderr


def test_modules_in_kato_commands_add_sub_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hello.py").write_text(
        "import typer\n\n"
        "def register(app: typer.Typer) -> None:\n"
        "    @app.command()\n"
        "    def hello(name: str = 'kato') -> None:\n"
        "        typer.echo(f'hello {name}')\n"
    )
    package = types.ModuleType("kato.commands")
    package.__path__ = [str(tmp_path)]
    monkeypatch.setitem(sys.modules, "kato.commands", package)
    import kato.cli

    cli = importlib.reload(kato.cli)
    try:
        result = CliRunner().invoke(cli.app, ["hello", "--name", "world"])
        assert (result.exit_code, result.output.strip()) == (0, "hello world")
        assert "serve" in CliRunner().invoke(cli.app, ["--help"]).output
    finally:
        monkeypatch.delitem(sys.modules, "kato.commands")
        sys.modules.pop("kato.commands.hello", None)
        importlib.reload(kato.cli)
