"""Detectors for what surrounds a workload: nodes, volume claims, quotas, the HPA and
configuration objects it references."""

from __future__ import annotations

import statistics
from typing import Any

from graph import actions
from graph.rca import collect, model
from tools import summaries

__all__ = ["detect_infra_causes"]

_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def _node_condition(node: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """('NotReady' or the pressures, the condition) when the node is unwell now."""
    conditions = {c.get("type"): c for c in node.get("status", {}).get("conditions") or []}
    ready = conditions.get("Ready", {})
    bad = [t for t in _PRESSURE if conditions.get(t, {}).get("status") == "True"]
    if ready.get("status") == "True" and not bad:
        return None
    if ready.get("status") != "True":
        return "NotReady", ready
    return ", ".join(bad), conditions[bad[0]]


def _evictions(facts: model.WorkloadFacts,
               window: collect.Window | None) -> dict[str, list[dict[str, Any]]]:
    """Eviction events of the workload's pods (also of pods deleted since), by node."""
    found: dict[str, list[dict[str, Any]]] = {}
    for event in facts.events:
        if event["reason"] != "Evicted" or not event.get("host"):
            continue
        seen = _epoch(event.get("last_seen"))
        if window is not None and seen is not None and seen < window.start:
            continue
        found.setdefault(str(event["host"]), []).append(event)
    return found


def _nodes(facts: model.WorkloadFacts, window: collect.Window | None) -> list[model.Cause]:
    causes = []
    evicted = _evictions(facts, window)
    used = {p.get("spec", {}).get("nodeName") for p in facts.pods
            if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")}
    for name in sorted(n for n in used | set(evicted) if n):
        node = facts.nodes.get(name)
        unwell = _node_condition(node) if node is not None else None
        if unwell is None and not evicted.get(name):
            continue
        pods_there = [p["metadata"]["name"] for p in facts.pods
                      if p.get("spec", {}).get("nodeName") == name
                      and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
        evidence: list[model.Evidence] = []
        if unwell is not None:
            what, condition = unwell
            evidence.append(model.Evidence("status", f"node {name} {what}: "
                                           f"{condition.get('message', '')[:160]}",
                                           condition.get("lastTransitionTime", "")))
        if pods_there:
            evidence.append(model.Evidence("status", f"pods of {facts.name} on {name}: "
                                           f"{', '.join(pods_there[:5])}"))
        gone = evicted.get(name, [])
        evidence += [model.Evidence("event", f"Evicted {e['object']} on {name}: "
                                    f"{e['message'][:160]}", e.get("last_seen") or "")
                     for e in gone[:2]]
        evidence += [model.Evidence("event", f"{e['reason']} on {e['object']}: "
                                    f"{e['message'][:160]}", e.get("last_seen") or "")
                     for e in facts.events if e["object"] == f"Node/{name}"
                     and e.get("type") == "Warning"][:2]
        if unwell is not None:
            state = unwell[0]
            score = 0.9 if state == "NotReady" else 0.8
            summary = f"node {name} is {state}" if state == "NotReady" else \
                f"node {name} has {state}"
            if pods_there:
                summary += f", hosting {len(pods_there)} pod(s) of {facts.name}"
        else:
            score = 0.6  # the pressure has passed since
            summary = f"node {name} was under pressure"
        if gone:
            score = min(0.92, score + 0.05)
            summary += f"; it evicted {len(gone)} pod(s) of {facts.name}"
        causes.append(model.Cause("NodeFailure", f"Node/{name}", summary, score, evidence,
                                  [actions.cordon(name, "keep new pods off it")]))
    return causes


def _epoch(value: Any) -> float | None:
    when = summaries.parse_time(str(value)) if value else None
    return when.timestamp() if when else None


def _pvcs(facts: model.WorkloadFacts) -> list[model.Cause]:
    causes = []
    for name, pvc in facts.pvcs.items():
        events = [e for e in facts.events if e["object"] == f"PersistentVolumeClaim/{name}"
                  and e["type"] == "Warning"]
        if pvc is None:
            causes.append(model.Cause("PVCPending", facts.ref, f"volume claim {name} does not "
                                      "exist", 0.85, [model.Evidence(
                                          "config", f"{facts.name} mounts PVC {name}, which is "
                                          "missing")]))
        elif pvc.get("status", {}).get("phase") == "Pending":
            evidence = [model.Evidence("status", f"PVC {name} is Pending (storage class "
                                       f"{pvc.get('spec', {}).get('storageClassName', '-')})")]
            evidence += [model.Evidence("event", f"{e['reason']}: {e['message'][:200]}",
                                        e.get("last_seen") or "") for e in events[:2]]
            causes.append(model.Cause("PVCPending", f"PersistentVolumeClaim/{facts.namespace}/"
                                      f"{name}", f"volume claim {name} is not bound",
                                      0.9 if events else 0.8, evidence))
    return causes


def _quota(facts: model.WorkloadFacts) -> list[model.Cause]:
    events = [e for e in facts.events if e["reason"] == "FailedCreate"
              and "exceeded quota" in e["message"].lower()]
    if not events:
        return []
    quota_name = events[0]["message"].split("exceeded quota: ", 1)[-1].split(",")[0].strip()
    evidence = [model.Evidence("event", f"{e['reason']} on {e['object']} (x{e['count']}): "
                               f"{e['message'][:220]}", e.get("last_seen") or "")
                for e in events[:2]]
    for quota in facts.quotas:
        if quota["metadata"]["name"] == quota_name:
            used = quota.get("status", {}).get("used", {})
            hard = quota.get("status", {}).get("hard", {})
            full = [f"{k} {used.get(k)}/{v}" for k, v in hard.items() if used.get(k) == v]
            if full:
                evidence.append(model.Evidence("config", f"quota {quota_name} at its limit: "
                                               + ", ".join(full[:4])))
    resource = f"ResourceQuota/{facts.namespace}/{quota_name}" if quota_name else facts.ref
    return [model.Cause("QuotaExceeded", resource, f"new pods of {facts.name} are refused by "
                        f"quota {quota_name or '(unnamed)'}", 0.9, evidence)]


def _measured_utilisation(facts: model.WorkloadFacts,
                          window: collect.Window | None) -> float | None:
    """CPU of the pods in percent of their requests over the last 10 minutes, from
    Prometheus: the HPA's own status is only a snapshot."""
    points = (facts.metrics.get("cpu_utilisation") or {}).get("points") or []
    if window is not None:
        points = [(t, v) for t, v in points if t >= window.end - 600]
    values = [v for _, v in points[-10:]]
    return 100 * statistics.median(values) if values else None


def _at_max_since(facts: model.WorkloadFacts, name: str, maximum: int) -> str:
    rescales = [e for e in facts.events if e["object"] == f"HorizontalPodAutoscaler/{name}"
                and e["reason"] == "SuccessfulRescale"
                and e["message"].startswith(f"New size: {maximum};")]
    return str(rescales[0].get("last_seen") or "") if rescales else ""


def _hpa(facts: model.WorkloadFacts, window: collect.Window | None) -> list[model.Cause]:
    hpa = facts.hpa
    if hpa is None:
        return []
    spec, status = hpa.get("spec", {}), hpa.get("status", {})
    maximum = int(spec.get("maxReplicas") or 0)
    current = int(status.get("currentReplicas") or 0)
    desired = int(status.get("desiredReplicas") or current)
    limited = any(c.get("type") == "ScalingLimited" and c.get("status") == "True"
                  and "TooMany" in (c.get("reason") or "") for c in status.get("conditions") or [])
    if not maximum or current < maximum or not (limited or desired >= maximum):
        return []
    name = hpa["metadata"]["name"]
    reported = [m.get("resource", {}).get("current", {}).get("averageUtilization")
                for m in status.get("currentMetrics") or []]
    goals = [m.get("resource", {}).get("target", {}).get("averageUtilization")
             for m in spec.get("metrics") or [] if m.get("resource", {}).get("name") == "cpu"]
    goal = goals[0] if goals else None
    used: float | None = reported[0] if reported and reported[0] is not None else None
    source = "HPA status"
    if used is None:
        used, source = _measured_utilisation(facts, window), "Prometheus"
    evidence = [model.Evidence("status", f"HPA {name} at its maximum: {current}/{maximum} "
                               "replicas", _at_max_since(facts, name, maximum))]
    over = used is not None and goal is not None and used > goal
    if used is not None and goal is not None:
        evidence.append(model.Evidence("metric", f"CPU at {used:.0f} % of requests vs the "
                                       f"HPA target of {goal} % ({source})"))
    if limited:
        evidence.append(model.Evidence("status", "ScalingLimited: the desired replica count "
                                       "is more than the maximum"))
    if used is not None and goal is not None and not over:
        return []  # at its maximum but not asking for more: pinned, or the load has passed
    if int(spec.get("minReplicas") or 1) >= maximum and not over:
        return []  # pinned on purpose (min = max): it never was meant to scale
    score = 0.85 if over else 0.75 if limited else 0.5
    return [model.Cause("HPAMaxed", f"HorizontalPodAutoscaler/{facts.namespace}/{name}",
                        f"{facts.name} needs more replicas than its HPA allows ({maximum})"
                        + (f": CPU at {used:.0f} % of requests vs {goal} %" if over else ""),
                        score, evidence,
                        [actions.set_hpa_max(f"HorizontalPodAutoscaler/{facts.namespace}/"
                                             f"{name}", max(maximum + 2, int(maximum * 1.5)),
                                             "room to scale out")])]


def _missing_refs(facts: model.WorkloadFacts) -> list[model.Cause]:
    causes = []
    for kind, refs in (("ConfigMap", facts.configmaps), ("Secret", facts.secrets)):
        for name, obj in refs.items():
            if obj is None:
                causes.append(model.Cause("ConfigError", facts.ref, f"{kind} {name} referenced "
                                          f"by {facts.name} does not exist", 0.75,
                                          [model.Evidence("config", f"{kind} {name} is missing "
                                                          f"in namespace {facts.namespace}")]))
    return causes


def detect_infra_causes(facts: model.WorkloadFacts,
                        window: collect.Window | None = None) -> list[model.Cause]:
    return (_nodes(facts, window) + _pvcs(facts) + _quota(facts) + _hpa(facts, window)
            + _missing_refs(facts))
