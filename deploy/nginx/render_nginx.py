"""Render deploy/nginx/nginx.conf.template (stdlib only).

``python deploy/nginx/render_nginx.py`` rewrites deploy/nginx/nginx.conf from
:data:`PRODUCTION`; tests call :func:`render` with loopback ports and temporary paths.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx.conf.template"
OUTPUT = HERE / "nginx.conf"

PRODUCTION: dict[str, str] = {
    "USER_DIRECTIVE": "user nginx;",
    "PID_FILE": "/var/run/nginx.pid",
    "ERROR_LOG": "/dev/stderr",
    "ACCESS_LOG": "/dev/stdout",
    "TEMP_PATHS": "",
    "RATE": "100r/s",
    "BURST": "200",
    "UPSTREAM_SERVERS": "        server kato:8000 max_fails=3 fail_timeout=30s;",
    "LISTEN_HTTP": "80",
    "LISTEN_HTTPS": "443",
    "SERVER_NAME": "_",
    "REDIRECT_HOST": "$host",
    "SSL_CERTIFICATE": "/etc/nginx/ssl/cert.pem",
    "SSL_CERTIFICATE_KEY": "/etc/nginx/ssl/key.pem",
}

_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


def upstream_lines(servers: list[str]) -> str:
    return "\n".join(f"        server {s} max_fails=3 fail_timeout=30s;" for s in servers)


def temp_path_lines(directory: Path) -> str:
    names = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    return "\n".join(f"    {n}_temp_path {directory / n};" for n in names)


def render(values: Mapping[str, str], template: Path = TEMPLATE) -> str:
    text = template.read_text()
    missing = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise KeyError(f"missing nginx template values: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def main() -> int:
    OUTPUT.write_text(render(PRODUCTION))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
