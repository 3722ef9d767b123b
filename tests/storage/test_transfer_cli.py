"""``kato export`` / ``kato import`` as processes: embedded -> file -> distributed -> file -> embedded.

The commands take their storage from the environment like ``kato serve``; the files of every
hop must be byte-identical. The distributed hop runs against the real servers of
tests/distributed/servers.py when they can run here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kato.storage.embedded import EmbeddedBackend
from tests.distributed import servers
from tests.distributed.test_transfer import train

NODE = f"cli-{uuid.uuid4().hex[:8]}"


def kato(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SERVICE_NAME": "kato", **env}
    return subprocess.run(
        [sys.executable, "-m", "kato.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def embedded_env(path: Path) -> dict[str, str]:
    return {"KATO_STORAGE": "embedded", "KATO_DATA_DIR": str(path)}


def distributed_env() -> dict[str, str]:
    settings = servers.shared().settings(servers.DATABASE)
    return {
        "KATO_STORAGE": "distributed",
        "REDIS_URL": servers.shared().redis_url,
        "CLICKHOUSE_HOST": settings.clickhouse_host,
        "CLICKHOUSE_PORT": str(settings.clickhouse_port),
        "CLICKHOUSE_DB": settings.clickhouse_db,
    }


def export_to(env: dict[str, str], path: Path) -> bytes:
    done = kato(env, "export", "--node", NODE, "--output", str(path))
    assert done.returncode == 0, done.stderr
    assert f"exported node '{NODE}'" in done.stderr
    return path.read_bytes()


def import_from(env: dict[str, str], path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return kato(env, "import", "--node", NODE, "--input", str(path), *extra)


def test_round_trip_through_every_backend_is_byte_identical(tmp_path: Path) -> None:
    from kato.storage.keys import node_key

    source = EmbeddedBackend(tmp_path / "source")
    try:
        train(source.node(node_key("kato", NODE)))
    finally:
        source.close()
    first = export_to(embedded_env(tmp_path / "source"), tmp_path / "1.kb")
    assert first.count(b'"type":"pattern"') == 40
    assert first.startswith(b'{"format":"kato-kb","version":1,"service_name":"kato","node_id":')

    hops = [("distributed", distributed_env())] if servers.available() else []
    hops.append(("embedded", embedded_env(tmp_path / "target")))
    current = tmp_path / "1.kb"
    for number, (name, env) in enumerate(hops, start=2):
        done = import_from(env, current)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert "40 patterns" in done.stderr
        current = tmp_path / f"{number}.kb"
        assert export_to(env, current) == first, name
    # Importing again needs --replace, and then gives the same file.
    target = hops[-1][1]
    refused = import_from(target, tmp_path / "1.kb")
    assert refused.returncode == 1 and "not empty" in refused.stderr
    replaced = import_from(target, tmp_path / "1.kb", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert export_to(target, tmp_path / "again.kb") == first


def test_bad_files_exit_2_with_the_reason(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    broken = tmp_path / "broken.kb"
    broken.write_text('{"format":"kato-kb","version":1,"stats":{},"counts":{}}\n')
    done = import_from(env, broken)
    assert done.returncode == 2
    assert "truncated file: no end record" in done.stderr
    missing = import_from(env, tmp_path / "nope.kb")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


@pytest.mark.skipif(not servers.available(), reason="redis/clickhouse servers cannot run here")
def test_unreachable_storage_exits_3(tmp_path: Path) -> None:
    env = {**distributed_env(), "REDIS_URL": "redis://127.0.0.1:1/0", "REQUEST_TIMEOUT": "2"}
    done = kato(env, "export", "--node", NODE, "--output", str(tmp_path / "x.kb"))
    assert done.returncode == 3, done.stderr
    assert "storage unavailable" in done.stderr
    assert not (tmp_path / "x.kb").exists() and not (tmp_path / "x.kb.partial").exists()
