"""`kato serve --workers N` (N > 1): /metrics/prometheus counts the requests of every worker.

The CLI sets PROMETHEUS_MULTIPROC_DIR before uvicorn starts its workers (a fresh temporary
directory, removed at exit, unless the operator set one), so any worker answering a scrape
reads all workers' files.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import psutil
import pytest

from tests.service.server import KatoServer

REQUESTS = 60
BANNER_SERIES = re.compile(
    r'^kato_http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="/")'
    r'(?=[^}]*status="200")[^}]*\} ([0-9.e+]+)$',
    re.MULTILINE,
)


def _worker_pids(server: KatoServer) -> set[int]:
    assert server.process is not None
    root = psutil.Process(server.process.pid)
    return {child.pid for child in root.children(recursive=True)}


def _served_by(server: KatoServer, directory: Path) -> set[int]:
    """Worker pids that wrote counter files in the multiprocess directory."""
    pids = {
        int(match)
        for match in re.findall(
            r"counter_(\d+)\.db", " ".join(path.name for path in directory.glob("counter_*.db"))
        )
    }
    return pids & _worker_pids(server)


def _banner_count(text: str) -> float:
    values = [float(value) for value in BANNER_SERIES.findall(text)]
    assert len(values) == 1, text[:2000]
    return values[0]


def _send_and_scrape(server: KatoServer) -> list[float]:
    fresh = httpx.Limits(max_keepalive_connections=0)  # new connections: both workers serve
    with httpx.Client(base_url=server.base_url, timeout=30.0, limits=fresh) as http:
        for _ in range(REQUESTS):
            assert http.get("/").status_code == 200
        scrapes = [http.get("/metrics/prometheus") for _ in range(12)]
    assert all(scrape.status_code == 200 for scrape in scrapes)
    return [_banner_count(scrape.text) for scrape in scrapes]


def _directory_of(server: KatoServer) -> Path:
    environments = [psutil.Process(pid).environ() for pid in _worker_pids(server)]
    directories = {env.get("PROMETHEUS_MULTIPROC_DIR") for env in environments}
    assert len(directories) == 1 and None not in directories, directories
    return Path(str(directories.pop()))


def test_workers_share_a_fresh_metrics_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with KatoServer(tmp_path / "data", workers=2) as server:
        directory = _directory_of(server)
        assert directory.name.startswith("kato-prometheus-")
        counts = _send_and_scrape(server)
        assert len(_served_by(server, directory)) == 2
    # Whichever worker answered, every scrape saw all REQUESTS banner requests.
    assert counts == [float(REQUESTS)] * len(counts)
    assert not directory.exists()  # created by the CLI, removed at exit


def test_operator_directory_is_used_and_emptied_of_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale")  # a previous run's file
    (directory / "notes.txt").write_text("kept")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    with KatoServer(tmp_path / "data", workers=2) as server:
        assert _directory_of(server) == directory
        assert not (directory / "counter_999999.db").exists()
        counts = _send_and_scrape(server)
    assert counts == [float(REQUESTS)] * len(counts)
    assert (directory / "notes.txt").read_text() == "kept"  # the operator's directory stays


def test_one_worker_keeps_its_own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with KatoServer(tmp_path / "data", workers=1) as server:
        assert server.process is not None
        assert "PROMETHEUS_MULTIPROC_DIR" not in psutil.Process(server.process.pid).environ()
        counts = _send_and_scrape(server)
    assert counts == [float(REQUESTS)] * len(counts)
