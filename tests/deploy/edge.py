"""nginx in front of a test server: the binary, a self-signed certificate, the rendered config.

Shared by the nginx, recycling and reliability tests and by bench/stack.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from tests.deploy.procs import REPO, Proc, free_port


def load_renderer() -> ModuleType:
    """deploy/nginx/render_nginx.py, the renderer of the shipped nginx template."""
    spec = importlib.util.spec_from_file_location(
        "render_nginx", REPO / "deploy" / "nginx" / "render_nginx.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nginx_binary() -> str:
    """Debian's nginx, installed by scripts/install-deploy-deps.sh when missing."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-deploy-deps.sh")], check=True, timeout=900
        )
        found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found


def make_certificate(base: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem) in ``base``."""
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "2"),
            *("-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def render_config(
    base: Path,
    upstream_ports: list[int],
    *,
    https_port: int,
    rate: str,
    http_port: int | None = None,
    burst: int | None = None,
    server_name: str = "127.0.0.1",
    log_prefix: str = "",
) -> Path:
    """Write the shipped template, bound to loopback test ports, to ``base/nginx.conf``."""
    renderer = load_renderer()
    cert, key = make_certificate(base)
    temp = base / f"{log_prefix}temp"
    temp.mkdir(exist_ok=True)
    values = dict(renderer.PRODUCTION)
    values.update(
        {
            "USER_DIRECTIVE": "user root;" if os.geteuid() == 0 else "",
            "PID_FILE": str(base / "nginx.pid"),
            "ERROR_LOG": str(base / f"{log_prefix}error.log"),
            "ACCESS_LOG": str(base / f"{log_prefix}access.log"),
            "TEMP_PATHS": renderer.temp_path_lines(temp),
            "RATE": rate,
            "UPSTREAM_SERVERS": renderer.upstream_lines([f"127.0.0.1:{p}" for p in upstream_ports]),
            "LISTEN_HTTP": f"127.0.0.1:{http_port or free_port()}",
            "LISTEN_HTTPS": f"127.0.0.1:{https_port}",
            "SERVER_NAME": server_name,
            "REDIRECT_HOST": f"$host:{https_port}",
            "SSL_CERTIFICATE": str(cert),
            "SSL_CERTIFICATE_KEY": str(key),
        }
    )
    if burst is not None:
        values["BURST"] = str(burst)
    conf = base / "nginx.conf"
    conf.write_text(renderer.render(values))
    return conf


def start_nginx(conf: Path, base: Path, log_prefix: str = "") -> Proc:
    """nginx in the foreground on a rendered config, its error log in ``base``."""
    error_log = str(base / f"{log_prefix}error.log")
    argv = [nginx_binary(), "-c", str(conf), "-p", str(base), "-e", error_log]
    return Proc([*argv, "-g", "daemon off;"], base, "nginx")
