"""kubectl against the sandbox through the generated kubeconfig."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.sandbox.testing import SandboxHandle

Factory = Callable[..., SandboxHandle]
pytestmark = pytest.mark.timeout(180)
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_reading_commands(sandbox_factory: Factory, kubectl: Kubectl) -> None:
    box = sandbox_factory("crashloop")
    k: Path = box.kubeconfig
    pods = kubectl(k, "get", "pods", "-n", "shop").stdout
    assert pods.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    crashing = next(line.split() for line in pods.splitlines() if "CrashLoopBackOff" in line)
    name = crashing[0]
    assert crashing[1] == "0/1" and "ago)" in " ".join(crashing)
    wide = kubectl(k, "get", "deploy", "-A", "-o", "wide").stdout
    assert "kube-system" in wide and "shop/worker:4.2.0" in wide
    described = kubectl(k, "describe", "pod", name).stdout
    assert "CrashLoopBackOff" in described and "Back-off restarting failed container" in \
        described
    assert "Exit Code:    1" in described
    previous = kubectl(k, "logs", name, "--previous").stdout
    assert "KeyError: 'QUEUE_URL'" in previous
    history = kubectl(k, "rollout", "history", "deploy/worker").stdout
    assert "rename queue settings to QUEUE_ENDPOINT" in history
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == \
        ["1", "2", "3", "4"]
    everything = kubectl(k, "get", "all,ep,cm,secret,pvc,hpa,quota,ev", "-n", "shop").stdout
    for short in ("service/postgres", "horizontalpodautoscaler.autoscaling/checkout-api",
                  "resourcequota/shop-quota", "persistentvolumeclaim/data-postgres-0"):
        assert short in everything
    assert "Ready" in kubectl(k, "get", "no").stdout
    as_json = json.loads(kubectl(k, "get", "po", name, "-o", "json").stdout)
    assert as_json["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == \
        "CrashLoopBackOff"
    top = kubectl(k, "top", "pods", "-n", "shop").stdout
    assert top.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert name not in top  # a container waiting to restart uses nothing
    assert "node-1" in kubectl(k, "top", "nodes").stdout
    assert kubectl(k, "auth", "can-i", "delete", "pods").stdout.strip() == "yes"
    missing = kubectl(k, "get", "pod", "nope", check=False)
    assert missing.returncode != 0 and 'pods "nope" not found' in missing.stderr


def test_changing_commands(sandbox_factory: Factory, kubectl: Kubectl) -> None:
    box = sandbox_factory("crashloop")
    k = box.kubeconfig
    kubectl(k, "scale", "deploy/frontend", "--replicas=5")
    assert len(box.pods("app=frontend")) == 5
    kubectl(k, "rollout", "restart", "deploy/orders")
    template = box.apps.read_namespaced_deployment("orders", "shop").spec.template
    assert "kubectl.kubernetes.io/restartedAt" in template.metadata.annotations
    box.clock.advance(120)
    box.cluster.reconcile()
    orders = box.pods("app=orders")
    assert len(orders) == 3 and len({p.metadata.labels["pod-template-hash"] for p in orders}) == 1
    dry = kubectl(k, "rollout", "undo", "deploy/worker", "--dry-run=server").stdout
    assert "rolled back" in dry
    assert box.apps.read_namespaced_deployment("worker", "shop").metadata.annotations[
        "deployment.kubernetes.io/revision"] == "4"
    kubectl(k, "rollout", "undo", "deploy/worker", "--to-revision=3")
    box.clock.advance(60)
    statuses = kubectl(k, "get", "pods", "-l", "app=worker").stdout
    assert "CrashLoopBackOff" not in statuses
    assert kubectl(k, "rollout", "status", "deploy/worker", "--timeout=10s").returncode == 0
    history = kubectl(k, "rollout", "history", "deploy/worker").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == \
        ["1", "2", "4", "5"]
    manifest = Path(box.kubeconfig).with_name("cm.yaml")
    for value in ("1", "2"):
        manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: demo, "
                            f"namespace: shop}}\ndata: {{level: '{value}'}}\n")
        kubectl(k, "apply", "-f", str(manifest))
    assert box.core.read_namespaced_config_map("demo", "shop").data == {"level": "2"}
    victim = box.pods("app=redis-cache")[0].metadata.name
    assert f'pod "{victim}" deleted' in kubectl(k, "delete", "pod", victim).stdout
    replacement = box.pods("app=redis-cache")
    assert len(replacement) == 1 and replacement[0].metadata.name != victim
