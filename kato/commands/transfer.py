"""``kato export`` and ``kato import``: a node's knowledge base to and from a kato-kb file.

Storage settings come from the environment exactly as for ``kato serve`` (``KATO_STORAGE``,
``KATO_DATA_DIR``, ``REDIS_URL``, ``CLICKHOUSE_*``, ...), so the same command moves a node
between the embedded and the distributed backend by changing only the environment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from kato.storage.ports import Backend, NodeHandle, StorageUnavailableError

NodeOption = Annotated[str, typer.Option("--node", help="Node id (as in POST /sessions).")]
ServiceOption = Annotated[
    str | None,
    typer.Option(help="SERVICE_NAME the node belongs to (default: the environment's)."),
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"kato: {message}", err=True)
    return typer.Exit(code=code)


@contextmanager
def _node(node_id: str, service_name: str | None) -> Iterator[tuple[NodeHandle, str]]:
    """The node's stores under the environment's settings; the backend is closed after."""
    from kato.service.settings import SettingsError, load_settings
    from kato.storage.factory import build_backend
    from kato.storage.keys import node_key

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(str(exc), 2) from None
    service = service_name if service_name is not None else settings.service_name
    try:
        backend: Backend = build_backend(settings.storage)
    except StorageUnavailableError as exc:
        raise _fail(f"storage unavailable: {exc}", 3) from None
    try:
        yield backend.node(node_key(service, node_id)), service
    except StorageUnavailableError as exc:
        raise _fail(f"storage unavailable: {exc}", 3) from None
    finally:
        backend.close()


def export_command(
    node: NodeOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write ('-': stdout).")],
    service_name: ServiceOption = None,
) -> None:
    """Write one node's knowledge base as a kato-kb file (docs/storage.md)."""
    from kato.storage.transfer import export_node

    start = time.perf_counter()
    with _node(node, service_name) as (handle, service):
        if str(output) == "-":
            stream = typer.get_text_stream("stdout")
            lines = export_node(handle, stream, service_name=service, node_id=node)
        else:
            # Written next to the target and renamed: a failed export leaves no partial file.
            partial = output.with_name(output.name + ".partial")
            try:
                with partial.open("w", encoding="ascii", newline="\n") as out:
                    lines = export_node(handle, out, service_name=service, node_id=node)
                partial.replace(output)
            except OSError as exc:
                raise _fail(f"cannot write {output}: {exc}", 2) from None
            finally:
                partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    typer.echo(f"exported node {node!r}: {lines} lines in {seconds:.2f} s", err=True)


def import_command(
    node: NodeOption,
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="kato-kb file to read ('-': stdin).")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite a node that already has knowledge.")
    ] = False,
    service_name: ServiceOption = None,
) -> None:
    """Load a kato-kb file into one node, atomically (the node must be empty unless --replace)."""
    from kato.storage.transfer import NodeNotEmptyError, TransferError, import_node

    start = time.perf_counter()
    try:
        if str(input_file) == "-":
            lines = list(typer.get_text_stream("stdin"))
        else:
            with input_file.open(encoding="utf-8", newline="\n") as handle_in:
                lines = list(handle_in)
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {input_file}: {exc}", 2) from None
    with _node(node, service_name) as (handle, _service):
        try:
            dump = import_node(handle, lines, replace=replace)
        except NodeNotEmptyError as exc:
            raise _fail(f"{exc}", 1) from None
        except TransferError as exc:
            raise _fail(f"{input_file}: {exc}", 2) from None
    seconds = time.perf_counter() - start
    typer.echo(
        f"imported node {node!r}: {len(dump.patterns)} patterns, {len(dump.symbols)} symbols, "
        f"{len(dump.vectors)} vectors in {seconds:.2f} s",
        err=True,
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
    app.command("import")(import_command)
