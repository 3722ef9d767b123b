"""Kubernetes manifests: rendered with kustomize, validated offline, cross-references checked,
and the pod's own command run for real (SIGTERM: not ready at once, in-flight requests finish)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from kato import gunicorn_conf
from tests.deploy.http1 import SlowPost, connect_refused
from tests.deploy.procs import REPO, Proc, free_port, wait_http
from tests.deploy.settings_names import readable_names

OVERLAYS = ("development", "production")
KUBERNETES_VERSION = "1.30.0"
Doc = dict[str, Any]


def render(overlay: str) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    result = subprocess.run(
        [kubectl, "kustomize", str(REPO / "deploy" / "kubernetes" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    return request.param, render(request.param)


@pytest.fixture(scope="module")
def app_paths() -> set[str]:
    try:
        from kato.service.app import app
    except ImportError:
        pytest.skip("kato.service.app is not importable yet")
    return set(app.openapi()["paths"])


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)}"
    return found[0]


def kinds(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def container_ports(workload: Doc) -> dict[str, int]:
    ports: dict[str, int] = {}
    for container in workload["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            ports[port.get("name", str(port["containerPort"]))] = port["containerPort"]
    return ports


def kato_container(docs: list[Doc]) -> Doc:
    return one(docs, "Deployment", "kato")["spec"]["template"]["spec"]["containers"][0]


def config_data(docs: list[Doc]) -> dict[str, str]:
    return one(docs, "ConfigMap", "kato-config")["data"]


def validate_service_monitor(doc: Doc) -> None:
    """Structural check of the monitoring.coreos.com/v1 ServiceMonitor fields used here."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    spec = doc["spec"]
    assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
    assert isinstance(spec["selector"]["matchLabels"], dict)
    assert spec["endpoints"]
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert isinstance(endpoint["port"], str) and endpoint["path"].startswith("/")
        for key in ("interval", "scrapeTimeout"):
            assert endpoint[key][:-1].isdigit() and endpoint[key][-1] == "s"
        assert int(endpoint["scrapeTimeout"][:-1]) <= int(endpoint["interval"][:-1])


def test_every_manifest_validates_offline(rendered: tuple[str, list[Doc]]) -> None:
    overlay, docs = rendered
    expected = {
        "Namespace",
        "ConfigMap",
        "Service",
        "Deployment",
        "StatefulSet",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
    }
    assert expected <= {d["kind"] for d in docs}
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            validate_service_monitor(doc)
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    namespace = one(docs, "Namespace", "kato")["metadata"]["name"]
    assert namespace == {"development": "kato-dev", "production": "kato"}[overlay]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace


def test_validation_rejects_a_broken_manifest(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    broken = json.loads(json.dumps(one(docs, "Deployment", "kato")))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_pod_command_is_the_documented_single_process_command(
    rendered: tuple[str, list[Doc]],
) -> None:
    _, docs = rendered
    container = kato_container(docs)
    assert tuple(container["command"]) == gunicorn_conf.UVICORN_POD_COMMAND
    assert "args" not in container
    flags = dict(a.split("=", 1) for a in container["command"] if a.startswith("--") and "=" in a)
    port = int(flags["--port"])
    assert container_ports(one(docs, "Deployment", "kato")) == {"http": port}
    # /concurrency reports what the command really runs.
    data = config_data(docs)
    assert data["UVICORN_WORKERS"] == flags["--workers"] == "1"
    assert data["UVICORN_LIMIT_CONCURRENCY"] == flags["--limit-concurrency"]


def test_graceful_shutdown_budget(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    pod = one(docs, "Deployment", "kato")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    graceful = gunicorn_conf.POD_GRACEFUL_SHUTDOWN_SECONDS
    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + graceful + 1
    # Readiness fails within the preStop window's first seconds after SIGTERM.
    readiness = container["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] <= int(pre_stop[1])


def test_probes_hit_real_routes_and_ports(
    rendered: tuple[str, list[Doc]], app_paths: set[str]
) -> None:
    _, docs = rendered
    deployment = one(docs, "Deployment", "kato")
    container = kato_container(docs)
    ports = container_ports(deployment)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in app_paths, (probe, get["path"])
        assert get["port"] in ports
    monitor = one(docs, "ServiceMonitor", "kato")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics/prometheus"
    assert "/metrics/prometheus" in app_paths
    for workload in workloads(docs):
        for c in workload["spec"]["template"]["spec"]["containers"]:
            assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(c), c["name"]
            assert set(c["resources"]) == {"requests", "limits"}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                get = c[probe].get("httpGet")
                if get is not None:
                    assert get["port"] in container_ports(workload), (c["name"], probe)


def test_environment_names_and_values_are_settings(
    rendered: tuple[str, list[Doc]], monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay, docs = rendered
    container = kato_container(docs)
    data = config_data(docs)
    names = set(data) | {e["name"] for e in container["env"]}
    unknown = names - readable_names()
    assert not unknown, f"variables nothing reads: {sorted(unknown)}"
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "from-the-secret")
    from kato.service.settings import load_settings

    settings = load_settings()
    assert settings.storage.backend == "distributed"
    assert settings.log_level == ("DEBUG" if overlay == "development" else "INFO")
    # Each backend address is a Service of this rendering with that port.
    services = {s["metadata"]["name"]: s for s in kinds(docs, "Service")}
    redis_url = settings.storage.effective_redis_url()
    assert redis_url == "redis://redis:6379/0"
    targets = [
        ("redis", 6379),
        (settings.storage.clickhouse_host, settings.storage.clickhouse_port),
        (settings.storage.qdrant_host, settings.storage.qdrant_port),
    ]
    for host, port in targets:
        assert host in services, host
        assert port in {p["port"] for p in services[host]["spec"]["ports"]}


def test_secret_references(rendered: tuple[str, list[Doc]]) -> None:
    overlay, docs = rendered
    refs = {
        (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for w in workloads(docs)
        for c in w["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs
    secrets = {s["metadata"]["name"]: s for s in kinds(docs, "Secret")}
    if overlay == "development":
        for name, key in refs:
            assert name in secrets and key in secrets[name]["data"]
    else:
        # Created out of band; the documented command creates exactly these names and keys.
        assert not secrets
        docs_text = (REPO / "docs" / "deployment.md").read_text()
        for name, key in refs:
            assert f"create secret generic {name}" in docs_text
            assert f"--from-literal={key}=" in docs_text


def test_selectors_services_and_policies_match(rendered: tuple[str, list[Doc]]) -> None:
    _, docs = rendered
    pods = {w["metadata"]["name"]: w for w in workloads(docs)}
    for workload in pods.values():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selects(workload["spec"]["selector"]["matchLabels"], labels)
    for service in kinds(docs, "Service"):
        selected = [
            w
            for w in pods.values()
            if selects(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        ports = container_ports(selected[0])
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports or target in ports.values(), (service["metadata"]["name"], port)
    for sts in kinds(docs, "StatefulSet"):
        service = one(docs, "Service", sts["spec"]["serviceName"])
        assert service["spec"]["clusterIP"] == "None"
        assert sts["spec"]["volumeClaimTemplates"]
    hpa = one(docs, "HorizontalPodAutoscaler", "kato")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == one(docs, "Deployment", "kato")["metadata"]["name"]
    pdb = one(docs, "PodDisruptionBudget", "kato")
    assert selects(
        pdb["spec"]["selector"]["matchLabels"],
        pods["kato"]["spec"]["template"]["metadata"]["labels"],
    )
    monitor = one(docs, "ServiceMonitor", "kato")
    kato_service = one(docs, "Service", "kato")
    assert selects(monitor["spec"]["selector"]["matchLabels"], kato_service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] in {
        p["name"] for p in kato_service["spec"]["ports"]
    }
    for ingress in kinds(docs, "Ingress"):
        tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in tls_hosts
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = one(docs, "Service", backend["name"])
                assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    # Every NetworkPolicy selects pods, and each allowed port is a port of the peer pods.
    for policy in kinds(docs, "NetworkPolicy"):
        selected = [
            w
            for w in pods.values()
            if selects(
                policy["spec"]["podSelector"]["matchLabels"],
                w["spec"]["template"]["metadata"]["labels"],
            )
        ]
        assert selected, policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress", []):
            own_ports = set().union(*(container_ports(w).values() for w in selected))
            assert {p["port"] for p in rule["ports"]} <= own_ports
        for rule in policy["spec"].get("egress", []):
            peer = rule["to"][0].get("podSelector")
            if peer is None:
                continue
            peers = [
                w
                for w in pods.values()
                if selects(peer["matchLabels"], w["spec"]["template"]["metadata"]["labels"])
            ]
            assert peers
            assert {p["port"] for p in rule["ports"]} <= set(container_ports(peers[0]).values())


def test_autoscaling_matches_the_psmp(rendered: tuple[str, list[Doc]]) -> None:
    overlay, docs = rendered
    hpa = one(docs, "HorizontalPodAutoscaler", "kato")["spec"]
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    assert hpa["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 300,
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
    }
    assert hpa["behavior"]["scaleUp"] == {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30}],
    }
    replicas = one(docs, "Deployment", "kato")["spec"]["replicas"]
    expected = {"development": (1, 1, 3), "production": (4, 2, 20)}[overlay]
    assert (replicas, hpa["minReplicas"], hpa["maxReplicas"]) == expected
    resources = kato_container(docs)["resources"]
    if overlay == "production":
        assert resources == {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        }


@pytest.fixture
def pod_process(tmp_path: Path) -> Iterator[tuple[Proc, int]]:
    """The production Deployment's container command, on a loopback port, embedded storage."""
    try:
        import kato.service.app  # noqa: F401
    except ImportError:
        pytest.skip("kato.service.app is not importable yet")
    docs = render("production")
    command = list(kato_container(docs)["command"])
    port = free_port()
    log_config = str(REPO / "deploy" / "uvicorn" / "logging.json")
    argv = []
    for arg in command:
        if arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("--port="):
            arg = f"--port={port}"
        elif arg.startswith("--log-config="):
            arg = f"--log-config={log_config}"
        argv.append(arg)
    proc = Proc(
        argv,
        tmp_path,
        "pod",
        env={"KATO_DATA_DIR": str(tmp_path / "data"), "KATO_STORAGE": "embedded"},
    )
    try:
        yield proc, port
    finally:
        proc.stop()


def test_pod_sigterm_unready_at_once_in_flight_finishes(pod_process: tuple[Proc, int]) -> None:
    proc, port = pod_process
    wait_http(proc, f"http://127.0.0.1:{port}/health")
    in_flight = SlowPost(port, "/sessions", {"node_id": "pod-shutdown"})
    time.sleep(0.3)
    proc.signal(signal.SIGTERM)
    # The readiness probe (a new connection to /health) fails within a second.
    deadline = time.monotonic() + 1.0
    while not connect_refused(port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert connect_refused(port), "the pod still accepts connections after SIGTERM"
    status, body = in_flight.finish()
    assert status == 200, body
    assert json.loads(body)["node_id"] == "pod-shutdown"
    code = proc.wait(gunicorn_conf.POD_GRACEFUL_SHUTDOWN_SECONDS + 5)
    assert code in (0, -signal.SIGTERM), proc.describe()
    _, err = proc.output()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in lines]
    assert "Shutting down" in messages
    assert any(m.startswith("Finished server process") for m in messages)
