"""Investigate a target: collect, detect, follow failing dependencies, rank.

The cause is where the failure starts: when the target's logs blame a host and that host
is a Service whose workload has its own problem, that problem ranks above the target's
symptom, and the target's own symptoms (probe failures, dependency errors) count less.
A pod is investigated as the workload that owns it: the fix (a rollback, a resource
change) belongs to the workload.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from graph import targets
from graph.rca import calibrate, collect, detect_infra, detect_metrics, detect_pods, follow, model
from tools import summaries

__all__ = ["Investigation", "investigate"]

_MAX_DEPTH = 2
_MAX_NAMESPACE_WORKLOADS = 15
# What the target shows because something downstream fails.
_SYMPTOMS = ("DependencyFailure", "ProbeFailure", "Unknown")
_SYMPTOM_WEIGHT = 0.6
# A saturated workload whose autoscaler is at its maximum: the ceiling is the cause.
_CAPPED_CPU_WEIGHT = 0.85
_THROTTLED_PROBE_WEIGHT = 0.6
_TAINTED_OUT_WEIGHT = 0.75
_NODE_CONDITION_TAINT = re.compile(r"node\.kubernetes\.io/(?:disk-pressure|memory-pressure|"
                                   r"pid-pressure|not-ready|unreachable|network-unavailable)")
# Failures found around a healthy target: only clear ones, and a little less sure, since
# the question pointed elsewhere.
_AROUND_MIN_SCORE = 0.6
_AROUND_WEIGHT = 0.9


@dataclass
class Investigation:
    target: targets.Target
    causes: list[model.Cause] = field(default_factory=list)
    facts: list[model.WorkloadFacts] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)


def _symptomatic(facts: model.WorkloadFacts, causes: list[model.Cause],
                 window: collect.Window) -> bool:
    """The target misbehaves (errors up, pods failing) whether or not a cause is known."""
    for shift in (detect_metrics.error_shift(facts, window.start),
                  detect_metrics.recent_error_shift(facts, window)):
        if shift and shift[1].after > 0.01 and shift[1].after > 2 * shift[1].before:
            return True
    if any(c.kind in ("DependencyFailure", "CrashLoop", "ProbeFailure") for c in causes):
        return True
    return any(not s.get("ready") for p in facts.pods
               if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
               for s in p.get("status", {}).get("containerStatuses") or [])


def _interplay(causes: list[model.Cause]) -> None:
    """Adjust causes of one workload that explain each other."""
    kinds = {c.kind for c in causes}
    if "HPAMaxed" in kinds:
        for cause in causes:
            if cause.kind == "CPUSaturation":
                cause.score *= _CAPPED_CPU_WEIGHT
    if "NodeFailure" in kinds:
        for cause in causes:
            if cause.kind == "Unschedulable" and any(
                    _NODE_CONDITION_TAINT.search(e.text) for e in cause.evidence):
                # Kept off a node by its pressure taint: the node's condition is upstream.
                cause.score *= _TAINTED_OUT_WEIGHT
    if "CPUSaturation" in kinds:
        for cause in causes:
            probes = [e.text for e in cause.evidence if e.source == "event"
                      and "probe failed" in e.text.lower()]
            if cause.kind == "ProbeFailure" and probes and all(
                    detect_pods.probe_timed_out(p) for p in probes):
                # A throttled process answers its probes late: the timeouts follow the CPU.
                cause.score *= _THROTTLED_PROBE_WEIGHT


async def _investigate_one(tools: targets.ToolCaller, target: targets.Target,
                           window: collect.Window, depth: int, seen: set[str],
                           result: Investigation) -> tuple[list[model.Cause],
                                                           model.WorkloadFacts]:
    facts = await collect.collect_workload(tools, target, window)
    result.facts.append(facts)
    result.checked.append(target.ref)
    result.missing += facts.missing
    causes = (detect_pods.detect_pod_causes(facts, window)
              + detect_infra.detect_infra_causes(facts, window)
              + detect_metrics.detect_metric_causes(facts, window))
    _interplay(causes)
    for cause in causes:
        cause.depth = depth
    if depth < _MAX_DEPTH:
        async def deeper(dep: targets.Target, level: int) -> tuple[
                list[model.Cause], model.WorkloadFacts]:
            return await _investigate_one(tools, dep, window, level, seen, result)

        async def facts_of(dep: targets.Target) -> model.WorkloadFacts:
            return await collect.collect_workload(tools, dep, window)

        downstream = await follow.follow(tools, facts, _symptomatic(facts, causes, window),
                                         window, depth, seen, deeper, facts_of)
        for cause in downstream:
            cause.depth = max(cause.depth, depth + 1)
        if downstream:
            for cause in causes:
                if cause.kind in _SYMPTOMS:
                    cause.score *= _SYMPTOM_WEIGHT
            causes += downstream
    if not causes and _symptomatic(facts, causes, window) and facts.obj is not None:
        causes.append(_unknown(facts, window))
    return causes, facts


def _unknown(facts: model.WorkloadFacts, window: collect.Window) -> model.Cause:
    evidence = []
    errors = detect_metrics.recent_error_shift(facts, window)
    if errors:
        evidence.append(model.Evidence("metric", f"5xx ratio of {errors[0]} "
                                       f"{errors[1].before:.1%} -> {errors[1].after:.1%}"))
    for pod in facts.pods[:3]:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            if not status.get("ready"):
                evidence.append(model.Evidence("status", f"{pod['metadata']['name']}/"
                                               f"{status['name']} not ready"))
    return model.Cause("Unknown", facts.ref, f"{facts.name} misbehaves but no known pattern "
                       "explains it", 0.3, evidence[:4])


async def _owner(tools: targets.ToolCaller, target: targets.Target) -> targets.Target:
    """The workload a pod belongs to (Deployment, StatefulSet, DaemonSet), else the pod."""
    found = await tools.call("describe", kind="Pod", name=target.name,
                             namespace=target.namespace)
    if found.get("status") != "ok":
        return target
    owner = summaries.pod_workload(found["data"]["object"])
    kind, _, name = owner.partition("/")
    if kind == "ReplicaSet":
        rs = await tools.call("describe", kind="ReplicaSet", name=name,
                              namespace=target.namespace)
        owners = (rs.get("data") or {}).get("object", {}).get("metadata", {}).get(
            "ownerReferences") or [] if rs.get("status") == "ok" else []
        kind, name = (owners[0]["kind"], owners[0]["name"]) if owners else ("", "")
    if kind in ("Deployment", "StatefulSet", "DaemonSet") and name:
        return targets.Target(kind, target.namespace, name)
    return target


async def investigate(tools: targets.ToolCaller, target: targets.Target,
                      window: collect.Window) -> Investigation:
    result = Investigation(target=target)
    if target.kind == "Namespace":
        await _investigate_namespace(tools, target.name, window, result)
    else:
        if target.kind == "Pod":
            target = await _owner(tools, target)
        causes, _ = await _investigate_one(tools, target, window, 0, {target.ref}, result)
        result.causes = causes
        if not causes:
            result.causes = await _around(tools, target, window, result)
    result.causes = calibrate.calibrate(_dedupe(result.causes))
    return result


async def _around(tools: targets.ToolCaller, target: targets.Target,
                  window: collect.Window, result: Investigation) -> list[model.Cause]:
    """Clear failures elsewhere in the namespace of a target that looks healthy: a
    question names what people see ("orders are not processed"), and the queue it named
    may be fine while the worker that drains it crashes."""
    nearby = Investigation(target=targets.Target("Namespace", "", target.namespace))
    await _investigate_namespace(tools, target.namespace, window, nearby,
                                 skip={target.ref})
    result.checked += nearby.checked
    result.missing += nearby.missing
    found = [c for c in nearby.causes if c.score >= _AROUND_MIN_SCORE]
    for cause in found:
        cause.score *= _AROUND_WEIGHT
        cause.evidence.insert(0, model.Evidence(
            "status", f"{target.kind} {target.name} itself looks healthy; this failure is "
            f"elsewhere in namespace {target.namespace}"))
    return found


async def _investigate_namespace(tools: targets.ToolCaller, namespace: str,
                                 window: collect.Window, result: Investigation,
                                 skip: frozenset[str] | set[str] = frozenset()) -> None:
    """A whole namespace: every workload when there are few, else the unhealthy ones and
    those with recent warnings (a bad rollout leaves replicas "available")."""
    workloads = await tools.call("list_workloads", namespace=namespace)
    rows = list(workloads.get("data") or [])
    if len(rows) > _MAX_NAMESPACE_WORKLOADS:
        events = await tools.call("list_events", namespace=namespace, limit=500)
        # Warnings, and rollouts inside the window: a bad rollout keeps its replicas
        # "available" and shows only in its metrics.
        noisy = {str(e["object"]).partition("/")[2] for e in events.get("data") or []
                 if e["type"] == "Warning" or (
                     e["reason"] == "ScalingReplicaSet"
                     and _after(e.get("last_seen"), window.start - 1800))}
        rows = [r for r in rows if not r["healthy"] or any(
            n.startswith(str(r["name"])) for n in noisy)][:_MAX_NAMESPACE_WORKLOADS]
    rows = [r for r in rows if f"{r['kind']}/{r['namespace']}/{r['name']}" not in skip]
    seen = {f"{r['kind']}/{r['namespace']}/{r['name']}" for r in rows} | set(skip)
    found = await asyncio.gather(*(_investigate_one(
        tools, targets.Target(str(r["kind"]), str(r["namespace"]), str(r["name"])), window, 0,
        seen, result) for r in rows))
    result.causes = [cause for causes, _ in found for cause in causes]


def _after(stamp: Any, since: float) -> bool:
    when = summaries.parse_time(str(stamp)) if stamp else None
    return when is not None and when.timestamp() >= since


def _dedupe(causes: list[model.Cause]) -> list[model.Cause]:
    """One cause per (kind, resource): the strongest, keeping the deepest finding."""
    best: dict[tuple[str, str], model.Cause] = {}
    for cause in causes:
        key = (cause.kind, cause.resource)
        if key not in best or (cause.score, cause.depth) > (best[key].score, best[key].depth):
            best[key] = cause
    return list(best.values())
