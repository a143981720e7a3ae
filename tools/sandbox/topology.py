"""The shop the scenarios run: nodes, namespaces and the workloads of namespace `shop`
(plus CoreDNS in kube-system), as plain Kubernetes objects.

An `App` describes one workload and its release history; `objects_for` turns it into the
Deployment or StatefulSet (at its first release), Service, ConfigMap and Secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["App", "Release", "base_objects", "container_spec", "objects_for"]

Obj = dict[str, Any]
DAY = 86400.0
NODES = ("node-1", "node-2", "node-3")
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")


@dataclass(frozen=True)
class Release:
    at: float  # seconds relative to the scenario start (negative: in the past)
    image: str
    cause: str


@dataclass(frozen=True)
class App:
    name: str
    namespace: str
    replicas: int
    port: int
    releases: tuple[Release, ...]
    requests: tuple[str, str]  # cpu, memory
    limits: tuple[str, str]
    env: tuple[tuple[str, str], ...] = ()
    config: dict[str, str] = field(default_factory=dict)  # ConfigMap <name>-config, envFrom
    secret_keys: tuple[str, ...] = ()
    probe_path: str = "/ready"
    kind: str = "Deployment"
    tier: str = "backend"
    headless: bool = False
    volume_size: str = ""  # StatefulSet data volume


def _labels(app: App) -> dict[str, str]:
    return {"app": app.name, "app.kubernetes.io/name": app.name,
            "app.kubernetes.io/part-of": "shop" if app.namespace == "shop" else "kubernetes",
            "tier": app.tier}


def container_spec(app: App, image: str) -> Obj:
    spec: Obj = {
        "name": app.name, "image": image,
        "ports": [{"name": "http" if app.port not in (5432, 6379, 53) else "tcp",
                   "containerPort": app.port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": app.requests[0], "memory": app.requests[1]},
                      "limits": {"cpu": app.limits[0], "memory": app.limits[1]}},
    }
    if app.env:
        spec["env"] = [{"name": k, "value": v} for k, v in app.env]
    if app.config:
        spec["envFrom"] = [{"configMapRef": {"name": f"{app.name}-config"}}]
    if app.probe_path.startswith("/"):
        probe = {"httpGet": {"path": app.probe_path, "port": app.port, "scheme": "HTTP"},
                 "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                 "failureThreshold": 3}
        spec["readinessProbe"] = dict(probe, initialDelaySeconds=5)
        spec["livenessProbe"] = dict(probe, initialDelaySeconds=30, periodSeconds=20)
    elif app.probe_path:
        spec["readinessProbe"] = {"exec": {"command": app.probe_path.split()},
                                  "periodSeconds": 10, "timeoutSeconds": 1,
                                  "successThreshold": 1, "failureThreshold": 3}
    return spec


def objects_for(app: App) -> list[tuple[str, Obj]]:
    """The objects of one app at its first release."""
    first = app.releases[0]
    labels = _labels(app)
    meta = {"name": app.name, "namespace": app.namespace, "labels": labels}
    container = container_spec(app, first.image)
    template: Obj = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
    out: list[tuple[str, Obj]] = []
    if app.config:
        out.append(("ConfigMap", {"metadata": {"name": f"{app.name}-config",
                                               "namespace": app.namespace, "labels": labels},
                                  "data": dict(app.config)}))
    if app.secret_keys:
        out.append(("Secret", {"metadata": {"name": f"{app.name}-credentials",
                                            "namespace": app.namespace, "labels": labels},
                               "type": "Opaque",
                               "data": dict.fromkeys(app.secret_keys, "")}))
    workload: Obj = {"metadata": dict(meta, annotations={
        "kubernetes.io/change-cause": first.cause}),
        "spec": {"replicas": app.replicas, "selector": {"matchLabels": {"app": app.name}},
                 "template": template}}
    if app.kind == "StatefulSet":
        workload["spec"]["serviceName"] = app.name
        if app.volume_size:
            container["volumeMounts"] = [
                {"name": "data", "mountPath": "/var/lib/postgresql/data"}]
            workload["spec"]["volumeClaimTemplates"] = [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard",
                         "resources": {"requests": {"storage": app.volume_size}}}}]
    out.append((app.kind, workload))
    port_name = "http" if app.port not in (5432, 6379, 53) else "tcp"
    service: Obj = {"metadata": meta, "spec": {
        "selector": {"app": app.name},
        "ports": [{"name": port_name, "port": 80 if port_name == "http" else app.port,
                   "targetPort": port_name, "protocol": "TCP"}]}}
    if app.headless:
        service["spec"]["clusterIP"] = "None"
    if app.name == "coredns":
        service["metadata"] = dict(meta, name="kube-dns")
        service["spec"]["clusterIP"] = "10.96.0.10"
        service["spec"]["ports"] = [{"name": "dns", "port": 53, "targetPort": 53,
                                     "protocol": "UDP"},
                                    {"name": "dns-tcp", "port": 53, "targetPort": 53,
                                     "protocol": "TCP"}]
    out.append(("Service", service))
    return out


def _node(index: int, name: str) -> Obj:
    conditions = []
    for kind, status, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID "
             "available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")):
        conditions.append({"type": kind, "status": status, "reason": reason,
                           "message": message, "lastHeartbeatTime": None,
                           "lastTransitionTime": None})
    return {
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "m5.xlarge",
            "topology.kubernetes.io/region": "eu-west-1",
            "topology.kubernetes.io/zone": ZONES[index]},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": f"10.244.{index + 1}.0/24", "podCIDRs": [f"10.244.{index + 1}.0/24"],
                 "providerID": f"aws:///{ZONES[index]}/i-0{index + 1}3f9c2a7d1e4b6c8"},
        "status": {
            "capacity": {"cpu": "4", "memory": "16069816Ki", "pods": "110",
                         "ephemeral-storage": "101430960Ki"},
            "allocatable": {"cpu": "3920m", "memory": "14819000Ki", "pods": "110",
                            "ephemeral-storage": "93478772582"},
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": f"10.0.{index + 1}.{20 + index}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"ec2{index}a9f0c1d2e3f4a5b6c7d8e9f0a1b2c3d",
                "systemUUID": f"ec2{index}a9f0-c1d2-e3f4-a5b6-c7d8e9f0a1b2",
                "bootID": f"5f1c{index}e2a-7b3d-4c8e-9f0a-1b2c3d4e5f6{index}",
                "kernelVersion": "6.1.112-122.189.amzn2023.x86_64",
                "osImage": "Amazon Linux 2023.6.20241031",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.31.4", "kubeProxyVersion": "v1.31.4",
                "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


def base_objects() -> list[tuple[str, Obj]]:
    """Namespaces and nodes."""
    out: list[tuple[str, Obj]] = [
        ("Namespace", {"metadata": {"name": name}})
        for name in ("default", "kube-system", "kube-public", "kube-node-lease", "shop")]
    out += [("Node", _node(i, name)) for i, name in enumerate(NODES)]
    return out
