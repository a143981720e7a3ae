"""Placing pods on nodes, and the namespace ResourceQuota that can refuse them.

Enough of kube-scheduler to be believable: a pod fits a node when its requests fit the
node's allocatable CPU, memory and pod count; among fitting nodes, replicas of the same
owner spread out, then the least loaded node wins.
"""

from __future__ import annotations

from typing import Any

from tools.sandbox import quantity
from tools.sandbox.objects import Objects, controller_of
from tools.sandbox.workloads import pod_requests

__all__ = ["quota_refusal", "quota_usage", "schedule"]

Obj = dict[str, Any]


def _ready(node: Obj) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def schedule(objs: Objects, pod: Obj) -> tuple[str | None, str]:
    """The node for a pod, or None and the scheduler's FailedScheduling message."""
    nodes = objs.list("Node")
    pods = [p for p in objs.list("Pod") if (p.get("spec") or {}).get("nodeName")]
    wanted = pod_requests(pod)
    owner = (controller_of(pod) or {}).get("uid")
    candidates = []
    reasons: dict[str, int] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        if not _ready(node) or (node.get("spec") or {}).get("unschedulable"):
            reasons["node(s) were unschedulable"] = reasons.get(
                "node(s) were unschedulable", 0) + 1
            continue
        alloc = (node.get("status") or {}).get("allocatable") or {}
        here = [p for p in pods if p["spec"]["nodeName"] == name]
        used = {"cpu": 0.0, "memory": 0.0}
        siblings = 0
        for other in here:
            req = pod_requests(other)
            used["cpu"] += req["requests.cpu"]
            used["memory"] += req["requests.memory"]
            if owner and (controller_of(other) or {}).get("uid") == owner:
                siblings += 1
        short = []
        if used["cpu"] + wanted["requests.cpu"] > quantity.parse(alloc.get("cpu", 0)):
            short.append("Insufficient cpu")
        if used["memory"] + wanted["requests.memory"] > quantity.parse(alloc.get("memory", 0)):
            short.append("Insufficient memory")
        if len(here) + 1 > quantity.parse(alloc.get("pods", 110)):
            short.append("Too many pods")
        for reason in short:
            reasons[reason] = reasons.get(reason, 0) + 1
        if not short:
            load = used["cpu"] / max(quantity.parse(alloc.get("cpu", 1)), 1e-9) + used[
                "memory"] / max(quantity.parse(alloc.get("memory", 1)), 1.0)
            candidates.append((siblings, round(load, 6), name))
    if candidates:
        return min(candidates)[2], ""
    detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    total = len(nodes)
    return None, (f"0/{total} nodes are available: {detail}. preemption: 0/{total} nodes are "
                  f"available: {total} No preemption victims found for incoming pod.")


_TRACKED = ("pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def quota_usage(objs: Objects, namespace: str) -> dict[str, float]:
    used = dict.fromkeys(_TRACKED, 0.0)
    for pod in objs.list("Pod", namespace):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        used["pods"] += 1
        for key, value in pod_requests(pod).items():
            used[key] += value
    return used


def _show(key: str, value: float) -> str:
    if key.endswith("memory"):
        return quantity.format_bytes(value)
    if key.endswith("cpu"):
        return quantity.format_cpu(value)
    return str(int(value))


def quota_refusal(objs: Objects, pod: Obj) -> str | None:
    """The API's "exceeded quota" message when creating `pod` would break a quota."""
    namespace = pod["metadata"]["namespace"]
    quotas = objs.list("ResourceQuota", namespace)
    if not quotas:
        return None
    used = quota_usage(objs, namespace)
    wanted = dict(pod_requests(pod), pods=1.0)
    for quota in quotas:
        hard = (quota.get("spec") or {}).get("hard") or {}
        over = [k for k in _TRACKED if k in hard
                and used[k] + wanted[k] > quantity.parse(hard[k]) + 1e-9]
        if over:
            name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
            fmt = ",".join
            return (f'pods "{name}" is forbidden: exceeded quota: {quota["metadata"]["name"]}, '
                    f"requested: {fmt(f'{k}={_show(k, wanted[k])}' for k in over)}, "
                    f"used: {fmt(f'{k}={_show(k, used[k])}' for k in over)}, "
                    f"limited: {fmt(f'{k}={hard[k]}' for k in over)}")
    return None
