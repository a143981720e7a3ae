"""Defaulting and validation on write, the way the API server fills and checks objects.

Defaults matter beyond looks: the deployment controller compares pod templates, and a
template patched back by `kubectl rollout undo` must equal the stored one.
"""

from __future__ import annotations

import copy
from typing import Any

from tools.sandbox import apierrors, ids
from tools.sandbox.resources import ResourceType
from tools.sandbox.selection import LabelSelector

__all__ = ["apply_defaults", "default_pod_spec", "validate"]

Obj = dict[str, Any]


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("containers") or []:
        image = str(container.get("image", ""))
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else "latest"
        container.setdefault("imagePullPolicy", "Always" if tag == "latest" else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _template(spec: Obj) -> None:
    template = spec.setdefault("template", {})
    meta = template.setdefault("metadata", {})
    if meta.get("creationTimestamp", "") is None:
        del meta["creationTimestamp"]  # Go clients send it as null; the API drops it
    default_pod_spec(template.setdefault("spec", {}))


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    _template(spec)


def _statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                       "rollingUpdate": {"partition": 0}})
    _template(spec)


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    meta = obj.get("metadata", {})
    if spec["type"] != "ExternalName" and "clusterIP" not in spec:
        key = ids.digest("clusterip", meta.get("namespace"), meta.get("name"))
        spec["clusterIP"] = f"10.96.{key % 250 + 1}.{(key >> 8) % 250 + 2}"
    if "clusterIP" in spec:
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def apply_defaults(rtype: ResourceType, obj: Obj) -> Obj:
    """A defaulted copy of `obj`."""
    obj = copy.deepcopy(obj)
    kind = rtype.kind
    if kind == "Deployment":
        _deployment(obj)
    elif kind == "ReplicaSet":
        obj.setdefault("spec", {}).setdefault("replicas", 1)
        _template(obj["spec"])
    elif kind == "StatefulSet":
        _statefulset(obj)
    elif kind == "Pod":
        default_pod_spec(obj.setdefault("spec", {}))
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    elif kind == "Service":
        _service(obj)
    elif kind == "Namespace":
        name = obj.get("metadata", {}).get("name", "")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
    return obj


def _container_causes(spec: Obj, prefix: str) -> list[tuple[str, str]]:
    causes = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append((f"{prefix}.containers", "Required value"))
    for i, container in enumerate(containers):
        if not container.get("name"):
            causes.append((f"{prefix}.containers[{i}].name", "Required value"))
        if not container.get("image"):
            causes.append((f"{prefix}.containers[{i}].image", "Required value"))
    return causes


def validate(rtype: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Raise a 422 `Invalid` for the mistakes the real API server refuses."""
    name = obj.get("metadata", {}).get("name", "")
    causes: list[tuple[str, str]] = []
    spec = obj.get("spec") or {}
    if rtype.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 0:
            causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater "
                           "than or equal to 0"))
        selector = LabelSelector.from_spec(spec.get("selector"))
        labels = (spec.get("template") or {}).get("metadata", {}).get("labels") or {}
        if selector.empty:
            causes.append(("spec.selector", "Required value"))
        elif not selector.matches(labels):
            causes.append(("spec.template.metadata.labels",
                           f"Invalid value: {labels}: `selector` does not match template "
                           "`labels`"))
        if old is not None and spec.get("selector") != (old.get("spec") or {}).get(
                "selector"):
            causes.append(("spec.selector", "field is immutable"))
        causes += _container_causes((spec.get("template") or {}).get("spec") or {},
                                    "spec.template.spec")
    elif rtype.kind == "Pod" and old is None:
        causes += _container_causes(spec, "spec")
    if causes:
        raise apierrors.invalid(rtype.kind, name, causes, rtype.group)
