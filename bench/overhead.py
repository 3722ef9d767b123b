"""Serving overhead and worker scaling, measured side by side with one load generator.

    .venv/bin/python -m bench.overhead --seconds 15 --concurrency 16

1. A bare FastAPI route returning a constant, served by uvicorn with the same settings as
   ``kato serve`` (1 worker), against ``POST /sessions/{id}/observe`` on ``kato serve`` (1
   worker, embedded backend, default configuration; each load-generator task owns a session
   and clears its STM every 5 observations so the work per request stays constant).
2. The same observe load against ``kato serve --workers 1`` and ``--workers 2``.

The load generator is ``wrk`` (Debian's package; one thread, ``--concurrency``
connections, a Lua script spreading observes over sessions) when it is installed and
``--generator wrk`` (the default), else an asyncio httpx client in this process, which
competes with the servers for the two cores. It prints requests per second and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.service.server import KatoServer, free_port

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "healthy"}


@app.post("/constant")
def constant() -> dict[str, str]:
    return {"status": "okay"}
"""


async def _load(base_url: str, seconds: float, concurrency: int, observe: bool) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, limits=limits) as client:
        sessions: list[str] = []
        if observe:
            for _ in range(concurrency):
                created = await client.post("/sessions", json={"node_id": "overhead"})
                sessions.append(created.json()["session_id"])
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(number: int) -> None:
            nonlocal done
            i = 0
            while time.perf_counter() < deadline:
                if observe:
                    session = sessions[number]
                    if i % 5 == 4:
                        await client.post(f"/sessions/{session}/clear-stm")
                    response = await client.post(
                        f"/sessions/{session}/observe", json={"strings": [f"s{i % 7}"]}
                    )
                else:
                    response = await client.post("/constant")
                response.raise_for_status()
                done += 1
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return done / (time.perf_counter() - start)


WRK_SCRIPT = """
local sessions = {%s}
local n = 0
request = function()
  local s = sessions[(n %% #sessions) + 1]
  local round = math.floor(n / #sessions)
  n = n + 1
  if round %% 5 == 4 then
    return wrk.format("POST", "/sessions/" .. s .. "/clear-stm")
  end
  return wrk.format("POST", "/sessions/" .. s .. "/observe",
    {["Content-Type"] = "application/json"}, '{"strings":["s' .. (round %% 7) .. '"]}')
end
"""


def _wrk(base_url: str, seconds: float, concurrency: int, observe: bool, tmp: Path) -> float:
    script = tmp / "load.lua"
    if observe:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            sessions = [
                client.post("/sessions", json={"node_id": "overhead"}).json()["session_id"]
                for _ in range(concurrency * 4)
            ]
        script.write_text(WRK_SCRIPT % ", ".join(f'"{s}"' for s in sessions))
        target = base_url
    else:
        script.write_text('wrk.method = "POST"\n')
        target = base_url + "/constant"
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "-s", str(script), target]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]


def _bare_server(directory: Path) -> KatoServer:
    (directory / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--app-dir", str(directory), "--log-level", "warning"]
    return KatoServer(directory, command=command, port=port)


def run(seconds: float, concurrency: int, generator: str) -> dict[str, float]:
    """Requests per second of the bare route and of observe on 1 and 2 workers, printed."""
    use_wrk = generator == "wrk" and shutil.which("wrk") is not None

    def load(base_url: str, observe: bool, tmp: Path) -> float:
        if use_wrk:
            return _wrk(base_url, seconds, concurrency, observe, tmp)
        return asyncio.run(_load(base_url, seconds, concurrency, observe))

    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare_dir = root / "bare"
        bare_dir.mkdir()
        with _bare_server(bare_dir) as bare:
            rates["bare FastAPI constant, 1 worker"] = load(bare.base_url, False, root)
        for workers in (1, 2):
            with KatoServer(root / f"kato{workers}", workers=workers) as kato:
                rates[f"kato observe, {workers} worker(s)"] = load(kato.base_url, True, root)
    print(f"load generator: {'wrk -t1' if use_wrk else 'httpx asyncio (in process)'}")
    for label, rate in rates.items():
        print(f"{label:<36} {rate:>9.1f} req/s")
    one = rates["kato observe, 1 worker(s)"]
    print(f"observe / bare (1 worker): {one / rates['bare FastAPI constant, 1 worker']:.2f}")
    print(f"2 workers / 1 worker (observe): {rates['kato observe, 2 worker(s)'] / one:.2f}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--generator", choices=["wrk", "httpx"], default="wrk")
    args = parser.parse_args()
    run(args.seconds, args.concurrency, args.generator)


if __name__ == "__main__":
    main()
