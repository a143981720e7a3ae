"""A synthetic namespace at scale for the RCA benchmark: Deployments of running pods with
Services, Endpoints and events, one crash-looping workload among them, and an OpenMetrics
history with ten kube-state/cAdvisor series per pod plus two request series per Service.

Everything is a deterministic function of the sizes asked for (no random state), so runs
compare.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools import bundles

__all__ = ["FAULTY", "NAMESPACE", "scale_bundle"]

NAMESPACE = "scale"
FAULTY = "svc-0137"
_PODS_PER_DEPLOYMENT = 10
_PODS_PER_NODE = 55
_SERIES_PER_POD = 10
_STEP_S = 120
_HOURS = 2.0
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Obj = dict[str, Any]


def _suffix(*parts: object, n: int) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:n])


def _uid(*parts: object) -> str:
    h = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(name: str, index: int, created: datetime) -> Obj:
    conditions = [{"type": t, "status": s, "reason": r, "message": m,
                   "lastHeartbeatTime": _iso(created), "lastTransitionTime": _iso(created)}
                  for t, s, r, m in (
                      ("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                      ("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                      ("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                      ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": _uid("node", name),
                         "creationTimestamp": _iso(created),
                         "labels": {"kubernetes.io/hostname": name}},
            "status": {"addresses": [{"type": "InternalIP", "address": f"10.1.{index}.10"}],
                       "allocatable": {"cpu": "31", "memory": "125Gi", "pods": "110"},
                       "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                       "conditions": conditions}}


def _template(name: str, image: str) -> Obj:
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{
                "name": "app", "image": image,
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                              "requests": {"cpu": "100m", "memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                                   "periodSeconds": 10}}],
                "restartPolicy": "Always"}}


def _pod_status(name: str, image: str, created: datetime, node_ip: str, ip: str,
                crashing: bool, end: datetime) -> Obj:
    ready = not crashing
    if crashing:
        last = {"exitCode": 2, "reason": "Error", "startedAt": _iso(end - timedelta(minutes=3)),
                "finishedAt": _iso(end - timedelta(minutes=3) + timedelta(seconds=4))}
        state: Obj = {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": f"back-off 5m0s restarting failed container=app "
                                             f"pod={name}"}}
        status = {"name": "app", "image": image, "ready": False, "restartCount": 9,
                  "started": False, "state": state, "lastState": {"terminated": last}}
    else:
        status = {"name": "app", "image": image, "ready": True, "restartCount": 0,
                  "started": True, "state": {"running": {"startedAt": _iso(created)}},
                  "lastState": {}}
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   "lastTransitionTime": _iso(created)},
                  {"type": "PodScheduled", "status": "True",
                   "lastTransitionTime": _iso(created)}]
    return {"phase": "Running", "conditions": conditions, "containerStatuses": [status],
            "hostIP": node_ip, "podIP": ip, "startTime": _iso(created), "qosClass": "Burstable"}


def _objects(pods: int, end: datetime) -> tuple[list[Obj], list[str], dict[tuple[str, str, bool],
                                                                           str]]:
    created = end - timedelta(days=20)
    nodes = [f"scale-node-{i:03d}" for i in range(math.ceil(pods / _PODS_PER_NODE))]
    objects: list[Obj] = [_node(n, i, created) for i, n in enumerate(nodes)]
    logs: dict[tuple[str, str, bool], str] = {}
    pod_names: list[str] = []
    for d in range(math.ceil(pods / _PODS_PER_DEPLOYMENT)):
        name = f"svc-{d:04d}"
        image = f"registry.example.com/scale/{name}:1.{d % 7}.0"
        template = _template(name, image)
        dep_uid, pth = _uid("dep", name), _suffix("rs", name, n=10)
        rs_name = f"{name}-{pth}"
        replicas = min(_PODS_PER_DEPLOYMENT, pods - d * _PODS_PER_DEPLOYMENT)
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
            "name": name, "namespace": NAMESPACE, "uid": dep_uid, "generation": 1,
            "creationTimestamp": _iso(created), "labels": {"app": name},
            "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": template}, "status": {}})
        rs_template = {"metadata": {"labels": {"app": name, "pod-template-hash": pth}},
                       "spec": template["spec"]}
        rs_uid = _uid("rs", rs_name)
        objects.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": rs_name, "namespace": NAMESPACE, "uid": rs_uid,
            "creationTimestamp": _iso(created), "labels": rs_template["metadata"]["labels"],
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                 "uid": dep_uid, "controller": True}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": rs_template["metadata"][
                "labels"]}, "template": rs_template}, "status": {}})
        for p in range(replicas):
            index = d * _PODS_PER_DEPLOYMENT + p
            node = nodes[index // _PODS_PER_NODE]
            pod_name = f"{rs_name}-{_suffix('pod', name, p, n=5)}"
            pod_names.append(pod_name)
            ip = f"10.2.{index // 250}.{index % 250 + 2}"
            crashing = name == FAULTY
            objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": pod_name, "namespace": NAMESPACE, "uid": _uid("pod", pod_name),
                "creationTimestamp": _iso(created),
                "labels": rs_template["metadata"]["labels"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": rs_name, "uid": rs_uid, "controller": True}]},
                "spec": {**template["spec"], "nodeName": node},
                "status": _pod_status(pod_name, image, created, f"10.1.{nodes.index(node)}.10",
                                      ip, crashing, end)})
            if crashing:
                logs[(pod_name, "app", True)] = (
                    f"{_iso(end - timedelta(minutes=3))} INFO starting {name}\n"
                    f"{_iso(end - timedelta(minutes=3))} panic: runtime error: index out of "
                    "range [3] with length 3\n")
                logs[(pod_name, "app", False)] = f"{_iso(end)} INFO starting {name}\n"
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": name, "namespace": NAMESPACE, "uid": _uid("svc", name),
            "creationTimestamp": _iso(created)},
            "spec": {"selector": {"app": name}, "clusterIP": f"10.96.{d // 250}.{d % 250 + 2}",
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    return objects, pod_names, logs


def _metrics(pod_names: list[str], services: int, end: datetime) -> str:
    """Ten series per pod and two per Service, `_HOURS` of history every `_STEP_S`."""
    stop = int(end.timestamp())
    stamps = list(range(stop - int(_HOURS * 3600), stop + 1, _STEP_S))
    families: dict[str, list[str]] = {}

    def add(family: str, labels: str, values: list[float]) -> None:
        families.setdefault(family, []).extend(
            f"{family}{{{labels}}} {v:.6g} {t}" for t, v in zip(stamps, values, strict=True))

    for i, pod in enumerate(pod_names):
        base = f'container="app",namespace="{NAMESPACE}",pod="{pod}"'
        wobble = [0.5 + 0.1 * math.sin(t / 900.0 + i) for t in stamps]
        cpu = 0.0
        used = []
        for w in wobble:
            cpu += 0.05 * w * _STEP_S
            used.append(cpu)
        add("container_cpu_usage_seconds_total", base, used)
        add("container_memory_working_set_bytes", base,
            [(90 + 10 * w) * 2**20 for w in wobble])
        add("container_cpu_cfs_periods_total", base, [10.0 * (t - stamps[0]) for t in stamps])
        add("container_cpu_cfs_throttled_periods_total", base,
            [0.1 * (t - stamps[0]) for t in stamps])
        for resource, limit, request in (("cpu", 0.5, 0.1), ("memory", 256 * 2**20,
                                                             128 * 2**20)):
            add("kube_pod_container_resource_limits", f'{base},resource="{resource}"',
                [limit] * len(stamps))
            add("kube_pod_container_resource_requests", f'{base},resource="{resource}"',
                [request] * len(stamps))
        add("kube_pod_container_status_restarts_total", base, [0.0] * len(stamps))
        add("kube_pod_container_status_ready", base, [1.0] * len(stamps))
    for d in range(services):
        for code, share in (("200", 0.998), ("500", 0.002)):
            labels = f'code="{code}",namespace="{NAMESPACE}",service="svc-{d:04d}"'
            add("http_requests_total", labels, [20 * share * (t - stamps[0]) for t in stamps])
    lines = []
    for family, body in families.items():
        lines.append(f"# TYPE {family} unknown")
        lines += body
    return "\n".join([*lines, "# EOF"]) + "\n"


def scale_bundle(pods: int = 2000, series: int = 20000, *,
                 end: datetime | None = None) -> tuple[bundles.Bundle, int]:
    """(bundle, number of series) for a namespace of `pods` pods; `series` is met by the
    ten per-pod series (pods * 10) and two per Service."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    if series > pods * _SERIES_PER_POD + 2 * math.ceil(pods / _PODS_PER_DEPLOYMENT):
        raise ValueError(f"{series} series need more pods than {pods}")
    objects, pod_names, logs = _objects(pods, end)
    services = math.ceil(pods / _PODS_PER_DEPLOYMENT)
    metrics = _metrics(pod_names, services, end)
    count = len(pod_names) * _SERIES_PER_POD + 2 * services
    meta = {"name": f"synthetic-{pods}-pods", "namespace": NAMESPACE,
            "question": f"what is wrong in {NAMESPACE}?", "end": _iso(end)}
    return bundles.Bundle(path=Path("synthetic"), meta=meta, objects=objects, logs=logs,
                          metrics=metrics), count
