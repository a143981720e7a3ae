"""Detectors for what surrounds a workload: nodes, volume claims, quotas, the HPA and
configuration objects it references."""

from __future__ import annotations

from graph import actions
from graph.rca import model

__all__ = ["detect_infra_causes"]

_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


def _nodes(facts: model.WorkloadFacts) -> list[model.Cause]:
    causes = []
    used = {p.get("spec", {}).get("nodeName") for p in facts.pods}
    for name in sorted(n for n in used if n):
        node = facts.nodes.get(name)
        if node is None:
            continue
        conditions = {c.get("type"): c for c in node.get("status", {}).get("conditions") or []}
        ready = conditions.get("Ready", {})
        bad = [t for t in _PRESSURE if conditions.get(t, {}).get("status") == "True"]
        if ready.get("status") == "True" and not bad:
            continue
        pods_there = [p["metadata"]["name"] for p in facts.pods
                      if p.get("spec", {}).get("nodeName") == name]
        what = "NotReady" if ready.get("status") != "True" else ", ".join(bad)
        condition = ready if what == "NotReady" else conditions[bad[0]]
        evidence = [model.Evidence("status", f"node {name} {what}: "
                                   f"{condition.get('message', '')[:160]}",
                                   condition.get("lastTransitionTime", "")),
                    model.Evidence("status", f"pods of {facts.name} on {name}: "
                                   f"{', '.join(pods_there[:5])}")]
        evidence += [model.Evidence("event", f"{e['reason']} on {e['object']}: "
                                    f"{e['message'][:160]}", e.get("last_seen") or "")
                     for e in facts.events if e["object"] == f"Node/{name}"][:2]
        causes.append(model.Cause("NodeFailure", f"Node/{name}", f"node {name} is {what}, "
                                  f"hosting {len(pods_there)} pod(s) of {facts.name}",
                                  0.9 if what == "NotReady" else 0.8, evidence,
                                  [actions.cordon(name, "keep new pods off it")]))
    return causes


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


def _hpa(facts: model.WorkloadFacts) -> list[model.Cause]:
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
    utilisation = [m.get("resource", {}).get("current", {}).get("averageUtilization")
                   for m in status.get("currentMetrics") or []]
    target = [m.get("resource", {}).get("target", {}).get("averageUtilization")
              for m in spec.get("metrics") or []]
    evidence = [model.Evidence("status", f"HPA {name} at its maximum: {current}/{maximum} "
                               f"replicas" + (f", utilisation {utilisation[0]} % vs target "
                                              f"{target[0]} %" if utilisation and target and
                                              utilisation[0] is not None else ""))]
    return [model.Cause("HPAMaxed", f"HorizontalPodAutoscaler/{facts.namespace}/{name}",
                        f"{facts.name} needs more replicas than its HPA allows ({maximum})",
                        0.85 if limited or (utilisation and utilisation[0] and target and
                                            target[0] and utilisation[0] > target[0]) else 0.6,
                        evidence,
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


def detect_infra_causes(facts: model.WorkloadFacts) -> list[model.Cause]:
    return _nodes(facts) + _pvcs(facts) + _quota(facts) + _hpa(facts) + _missing_refs(facts)
