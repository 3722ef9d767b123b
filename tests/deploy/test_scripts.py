"""scripts/deploy-*.sh and scripts/install-deploy-deps.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.deploy.procs import REPO

SCRIPTS = [
    *sorted((REPO / "scripts").glob("deploy-*.sh")),
    REPO / "scripts" / "install-deploy-deps.sh",
]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_are_strict(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


def test_self_signed_certificate_script(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "deploy-self-signed-cert.sh"), str(tmp_path), "kato.test"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    info = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(tmp_path / "cert.pem"),
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "CN = kato.test" in info
    assert "DNS:kato.test" in info and "IP Address:127.0.0.1" in info
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600


def test_install_script_is_idempotent() -> None:
    first = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-deploy-deps.sh")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-deploy-deps.sh")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert "already present" in second.stdout


def test_kubernetes_script_refuses_unknown_overlay() -> None:
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "deploy-kubernetes.sh"), "staging"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "no overlay deploy/kubernetes/overlays/staging" in result.stderr
