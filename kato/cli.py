"""The ``kato`` command line.

``kato serve`` runs the HTTP service with uvicorn. Other packages add commands
without editing this file: every module in the ``kato.commands`` package (when it
exists) that defines ``register(app: typer.Typer) -> None`` is called at start-up,
and so is every ``kato.cli`` entry point, e.g.::

    # kato/commands/export.py
    def register(app: typer.Typer) -> None:
        app.add_typer(export_app, name="export")
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="kato",
    help="KATO: deterministic, explainable memory for agents.",
    no_args_is_help=True,
    add_completion=False,
)

ASGI_APP = "kato.service.app:app"


@app.callback()
def kato() -> None:
    """KATO: deterministic, explainable memory for agents."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data directory of the embedded storage (sets KATO_DATA_DIR)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Run the HTTP service (settings otherwise from the environment)."""
    import uvicorn

    from kato.service.settings import SettingsError, load_settings

    if data_dir is not None:
        os.environ["KATO_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("UVICORN_WORKERS", str(workers))
    try:
        load_settings()  # refuse to start on a bad environment, naming the variable
    except SettingsError as exc:
        typer.echo(f"kato: {exc}", err=True)
        raise typer.Exit(code=2) from None
    created = _prepare_metrics_directory(workers)
    try:
        uvicorn.run(
            ASGI_APP,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_level=log_level,
            timeout_graceful_shutdown=30,
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


def _prepare_metrics_directory(workers: int) -> Path | None:
    """With several workers, make /metrics/prometheus aggregate all of them.

    prometheus_client's multiprocess mode needs ``PROMETHEUS_MULTIPROC_DIR`` set before the
    workers start (they inherit it) and empty of other runs' files (docs/observability.md).
    An operator's directory is used and its stale ``*.db`` files are removed; otherwise a
    fresh temporary directory is created, and returned so that it is removed at exit.
    With one worker nothing changes (one process: its own registry is complete).
    """
    if workers <= 1:
        return None
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
        return None
    created = Path(tempfile.mkdtemp(prefix="kato-prometheus-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(created)
    return created


def _register_extensions() -> None:
    """Let other modules add sub-commands (see the module docstring)."""
    try:
        package = importlib.import_module("kato.commands")
    except ModuleNotFoundError:
        package = None
    if package is not None and hasattr(package, "__path__"):
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"kato.commands.{module_info.name}")
            register = getattr(module, "register", None)
            if callable(register):
                register(app)
    for entry_point in importlib.metadata.entry_points(group="kato.cli"):
        entry_point.load()(app)


_register_extensions()


def main() -> None:
    app(prog_name="kato")


if __name__ == "__main__":
    main()
