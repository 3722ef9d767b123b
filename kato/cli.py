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
    uvicorn.run(
        ASGI_APP,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        log_level=log_level,
        timeout_graceful_shutdown=30,
    )


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
