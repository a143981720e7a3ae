"""HorizontalPodAutoscaler and ResourceQuota status.

The HPA here keeps its target within [minReplicas, maxReplicas] and reports CPU
utilization from the metrics model; it does not scale on load (the scenarios keep CPU
below target, so a real HPA would not either).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tools.sandbox import ids, quantity
from tools.sandbox.objects import Objects
from tools.sandbox.scheduling import quota_usage

__all__ = ["Utilization", "sync_hpa", "sync_quota"]

Obj = dict[str, Any]
# (namespace, workload, t) -> average CPU utilization in percent of requests, or None
Utilization = Callable[[str, str, float], float | None]


def _condition(kind: str, status: str, reason: str, message: str, before: list[Obj],
               t: float) -> Obj:
    old = next((c for c in before if c.get("type") == kind), None)
    kept = old.get("lastTransitionTime") if old is not None and old.get("status") == status \
        else None
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": kept or ids.rfc3339(t)}


def sync_hpa(objs: Objects, hpa: Obj, t: float, utilization: Utilization) -> None:
    spec = hpa.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    namespace = hpa["metadata"]["namespace"]
    target = objs.get(ref.get("kind", "Deployment"), namespace, ref.get("name", "")) \
        if ref.get("kind") in ("Deployment", "StatefulSet") else None
    before = (hpa.get("status") or {}).get("conditions") or []
    lo, hi = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    if target is None:
        status: Obj = {"currentReplicas": 0, "desiredReplicas": 0, "conditions": [
            _condition("AbleToScale", "False", "FailedGetScale",
                       f'the HPA controller was unable to get the target\'s current scale: '
                       f'{ref.get("kind", "").lower()}s "{ref.get("name")}" not found',
                       before, t)]}
        objs.set_status(hpa, status)
        return
    replicas = int(target["spec"].get("replicas", 1))
    if not lo <= replicas <= hi:
        bound = lo if replicas < lo else hi
        side = "below Spec.MinReplicas" if replicas < lo else "above Spec.MaxReplicas"
        target = objs.edit(target, lambda o: o["spec"].__setitem__("replicas", bound))
        objs.event(hpa, "Normal", "SuccessfulRescale",
                   f"New size: {bound}; reason: Current number of replicas {side}",
                   "horizontal-pod-autoscaler", at=t)
        replicas = bound
    current = int((target.get("status") or {}).get("replicas", replicas))
    status = {"currentReplicas": current, "desiredReplicas": replicas}
    goal = None
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            goal = (resource.get("target") or {}).get("averageUtilization")
    used = utilization(namespace, ref.get("name", ""), t)
    conditions = [_condition("AbleToScale", "True", "ReadyForNewScale",
                             "recommended size matches current size", before, t)]
    if goal and used is not None:
        status["currentMetrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": round(used)}}}]
        conditions.append(_condition(
            "ScalingActive", "True", "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource "
            "utilization (percentage of request)", before, t))
        wanted = math.ceil(max(current, 1) * used / goal)
        if wanted > hi and replicas >= hi:
            conditions.append(_condition(
                "ScalingLimited", "True", "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
                before, t))
        else:
            conditions.append(_condition("ScalingLimited", "False", "DesiredWithinRange",
                                         "the desired count is within the acceptable range",
                                         before, t))
    else:
        conditions.append(_condition(
            "ScalingActive", "False", "FailedGetResourceMetric",
            "the HPA was unable to compute the replica count: no metrics returned from "
            "resource metrics API", before, t))
    status["conditions"] = conditions
    objs.set_status(hpa, status)


def sync_quota(objs: Objects, quota: Obj) -> None:
    hard = (quota.get("spec") or {}).get("hard") or {}
    used = quota_usage(objs, quota["metadata"]["namespace"])
    shown: dict[str, str] = {}
    for key in hard:
        value = used.get(key, 0.0)
        if key.endswith("memory"):
            shown[key] = quantity.format_bytes(value) if value else "0"
        elif key.endswith("cpu"):
            shown[key] = quantity.format_cpu(value)
        else:
            shown[key] = str(int(value))
    objs.set_status(quota, {"hard": dict(hard), "used": shown})
