"""Detectors over pod, container, scheduling, node, volume and quota state.

Each detector reads `WorkloadFacts` and returns causes with a raw score in [0, 1] that
reflects how directly the evidence shows the cause (a container state the kubelet
reports scores higher than a pattern in a log line).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from graph import actions
from graph.rca import model, signatures

__all__ = ["detect_pod_causes", "parse_quantity", "previous_revision", "rollout_context"]

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_FACTORS = {"": 1, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_quantity(text: str | int | float | None) -> float | None:
    if text is None:
        return None
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _FACTORS:
        return None
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _mib(value: float) -> str:
    return f"{round(value / 2**20)}Mi"


def previous_revision(facts: model.WorkloadFacts) -> dict[str, Any] | None:
    """The newest revision older than the current one: the usual rollback target."""
    current = next((r for r in facts.history if r["current"]), None)
    if current is None:
        return None
    older = [r for r in facts.history if r["revision"] < current["revision"]]
    return max(older, key=lambda r: r["revision"]) if older else None


def rollout_context(facts: model.WorkloadFacts, failing: list[dict[str, Any]]) -> tuple[
        model.Action | None, list[model.Evidence]]:
    """When only the current revision's pods fail, the rollout brought the failure."""
    current = next((r for r in facts.history if r["current"]), None)
    previous = previous_revision(facts)
    if current is None or previous is None or not failing:
        return None, []
    owners = {_owner(p) for p in failing}
    if owners != {current["replicaset"]}:
        return None, []
    changed = "; ".join(current.get("changes") or []) or (
        f"{', '.join(previous['images'])} -> {', '.join(current['images'])}")
    evidence = [model.Evidence("rollout", f"only pods of the new revision {current['revision']} "
                               f"fail; it changed: {changed}; revision {previous['revision']} "
                               "ran fine", current.get("created") or "")]
    action = actions.rollback(facts.ref, previous["revision"],
                              f"back to {', '.join(previous['images'])}")
    return action, evidence


def _owner(pod: dict[str, Any]) -> str:
    owners = pod.get("metadata", {}).get("ownerReferences") or []
    return str(owners[0].get("name")) if owners else ""


def _events_for(facts: model.WorkloadFacts, names: set[str], *reasons: str) -> list[dict[str, Any]]:
    return [e for e in facts.events if e["object"].partition("/")[2] in names
            and (not reasons or e["reason"] in reasons)]


def _event_evidence(events: list[dict[str, Any]], limit: int = 2) -> list[model.Evidence]:
    return [model.Evidence("event", f"{e['reason']} on {e['object']} (x{e['count']}): "
                           f"{e['message'][:200]}", e.get("last_seen") or "")
            for e in events[:limit]]


def _log_signals(facts: model.WorkloadFacts, pod: str) -> list[signatures.LogSignal]:
    found: list[signatures.LogSignal] = []
    for key, texts in facts.logs.items():
        if key.startswith(pod + "/"):
            found += signatures.scan_log(texts.get("previous", ""))
            found += signatures.scan_log(texts.get("current", ""))
    return found


def _crash_cause(facts: model.WorkloadFacts, pod: dict[str, Any], status: dict[str, Any],
                 term: dict[str, Any]) -> model.Cause:
    name = pod["metadata"]["name"]
    container = status["name"]
    reason, code = term.get("reason") or "Error", term.get("exitCode")
    evidence = [model.Evidence("status", f"{name}/{container} restarted "
                               f"{status.get('restartCount', 0)}x, last exit {reason} "
                               f"(code {code})", term.get("finishedAt") or "")]
    signals = _log_signals(facts, name)
    missing = [s for s in signals if s.kind == "missing_config"]
    oom_logs = [s for s in signals if s.kind == "oom"]
    if reason == "OOMKilled" or code == 137 or oom_logs:
        limit = _container_limit(facts, container, "memory")
        peak = _metric_max(facts, "memory")
        target = max(filter(None, [(peak or 0) * 1.5, (limit or 0) * 2])) if (
            peak or limit) else None
        acts = [actions.set_resources(facts.ref, container,
                                      limits={"memory": _mib(_round_up(target))},
                                      why=f"observed peak {_mib(peak)}" if peak else
                                      "double the current limit")] if target else []
        if limit:
            evidence.append(model.Evidence("config", f"memory limit of {container} is "
                                           f"{_mib(limit)}" + (f", peak working set "
                                                               f"{_mib(peak)}" if peak else "")))
        evidence += [model.Evidence("log", s.line[:240]) for s in oom_logs[:1]]
        return model.Cause("OOMKilled", facts.ref, f"{container} is killed for exceeding its "
                           f"memory limit" + (f" of {_mib(limit)}" if limit else ""),
                           0.92 if reason == "OOMKilled" else 0.75, evidence, acts)
    if missing:
        key = missing[-1].detail
        evidence.append(model.Evidence("log", missing[-1].line[:240]))
        return model.Cause("ConfigError", facts.ref, f"{container} exits at start-up: "
                           f"required configuration {key or ''} is missing".replace("  ", " "),
                           0.9, evidence, [])
    deps = [s for s in signals if s.kind in ("dependency", "db_exhausted", "dns")]
    if deps:
        evidence.append(model.Evidence("log", deps[-1].line[:240]))
        return model.Cause("DependencyFailure", facts.ref, f"{container} exits because "
                           f"{deps[-1].detail or 'a dependency'} fails", 0.55, evidence, [])
    exceptions = [s for s in signals if s.kind == "exception"]
    evidence += [model.Evidence("log", s.line[:240]) for s in exceptions[-2:]]
    return model.Cause("CrashLoop", facts.ref, f"{container} keeps exiting with {reason} "
                       f"(code {code})", 0.7 if exceptions else 0.6, evidence, [])


def _round_up(value: float) -> float:
    step = 64 * 2**20
    return float(int((value + step - 1) // step) * step)


def _container_limit(facts: model.WorkloadFacts, container: str, resource: str) -> float | None:
    for spec in facts.containers:
        if spec.get("name") == container:
            return parse_quantity(((spec.get("resources") or {}).get("limits") or {}).get(
                resource))
    return None


def _metric_max(facts: model.WorkloadFacts, key: str) -> float | None:
    points = (facts.metrics.get(key) or {}).get("points") or []
    return max((v for _, v in points), default=None)


def _waiting_cause(facts: model.WorkloadFacts, pod: dict[str, Any], status: dict[str, Any],
                   waiting: dict[str, Any]) -> model.Cause | None:
    name, container = pod["metadata"]["name"], status["name"]
    reason, message = waiting.get("reason", ""), waiting.get("message", "")
    events = _event_evidence(_events_for(facts, {name}, "Failed", "BackOff", "FailedMount"))
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        return model.Cause("ImagePull", facts.ref, f"image {status.get('image')} of {container} "
                           f"cannot be pulled", 0.95,
                           [model.Evidence("status", f"{name}/{container} {reason}: "
                                           f"{message[:200]}"), *events], [])
    if reason in ("CreateContainerConfigError", "CreateContainerError"):
        return model.Cause("ConfigError", facts.ref, f"{container} cannot start: "
                           f"{message[:160] or reason}", 0.93,
                           [model.Evidence("status", f"{name}/{container} {reason}: "
                                           f"{message[:200]}"), *events], [])
    return None


def detect_pod_causes(facts: model.WorkloadFacts) -> list[model.Cause]:
    causes: list[model.Cause] = []
    failing: list[dict[str, Any]] = []
    for pod in facts.pods:
        status = pod.get("status", {})
        name = pod["metadata"]["name"]
        if status.get("reason") == "Evicted":
            causes.append(model.Cause("NodeFailure", facts.ref, f"{name} was evicted: "
                                      f"{status.get('message', '')[:160]}", 0.7,
                                      [model.Evidence("status", f"{name} Evicted: "
                                                      f"{status.get('message', '')[:200]}")]))
            continue
        for cstatus in status.get("containerStatuses") or []:
            state = cstatus.get("state") or {}
            waiting = state.get("waiting")
            cause = _waiting_cause(facts, pod, cstatus, waiting) if waiting else None
            term = (cstatus.get("lastState") or {}).get("terminated") or state.get("terminated")
            crashed = term and term.get("reason") != "Completed" and (
                int(cstatus.get("restartCount") or 0) > 0
                or (waiting or {}).get("reason") == "CrashLoopBackOff")
            if cause is None and crashed and term:
                cause = _crash_cause(facts, pod, cstatus, term)
            if cause is not None:
                causes.append(cause)
                failing.append(pod)
        causes += _pending_causes(facts, pod)
        causes += _probe_causes(facts, pod)
    action, evidence = rollout_context(facts, failing)
    for cause in causes:
        if action and cause.kind in ("ConfigError", "CrashLoop", "ImagePull", "ProbeFailure"):
            cause.actions.insert(0, action)
            cause.evidence += evidence
            cause.score = min(0.97, cause.score + 0.03)
    return _merge(causes)


def _pending_causes(facts: model.WorkloadFacts, pod: dict[str, Any]) -> list[model.Cause]:
    status = pod.get("status", {})
    if status.get("phase") != "Pending":
        return []
    name = pod["metadata"]["name"]
    scheduled: dict[str, Any] = next((c for c in status.get("conditions") or []
                      if c.get("type") == "PodScheduled"), {})
    events = _events_for(facts, {name}, "FailedScheduling")
    message = (events[0]["message"] if events else scheduled.get("message", "")) or ""
    if scheduled.get("status") != "False" and not events:
        return []
    evidence = [model.Evidence("status", f"{name} Pending: {scheduled.get('reason', '')} "
                               f"{scheduled.get('message', '')[:160]}".strip()),
                *_event_evidence(events)]
    if "persistentvolumeclaim" in message.lower() or "unbound" in message.lower():
        return [model.Cause("PVCPending", facts.ref, f"{name} waits for a volume claim",
                            0.85, evidence)]
    return [model.Cause("Unschedulable", facts.ref, f"{name} cannot be scheduled: "
                        f"{message[:160] or 'no node fits'}", 0.9, evidence)]


def _probe_causes(facts: model.WorkloadFacts, pod: dict[str, Any]) -> list[model.Cause]:
    name = pod["metadata"]["name"]
    events = [e for e in _events_for(facts, {name}, "Unhealthy")
              if "probe failed" in e["message"].lower()]
    if not events:
        return []
    ready = all(c.get("ready") for c in pod.get("status", {}).get("containerStatuses") or [])
    kinds = Counter("Liveness" if "liveness" in e["message"].lower() else "Readiness"
                    for e in events)
    score = 0.6 if ready else 0.85
    return [model.Cause("ProbeFailure", facts.ref, f"{' and '.join(sorted(kinds))} probe of "
                        f"{name} fails", score, _event_evidence(events),
                        [actions.restart(facts.ref, "fresh pods if the probe failure is "
                                         "transient")])]


def _merge(causes: list[model.Cause]) -> list[model.Cause]:
    """One cause per (kind, resource): the strongest, with evidence from the others."""
    merged: dict[tuple[str, str], model.Cause] = {}
    for cause in sorted(causes, key=lambda c: -c.score):
        key = (cause.kind, cause.resource)
        if key not in merged:
            merged[key] = cause
            continue
        kept = merged[key]
        for item in cause.evidence:
            if len(kept.evidence) < 6 and str(item) not in {str(e) for e in kept.evidence}:
                kept.evidence.append(item)
        kept.score = min(0.98, kept.score + 0.01)
    return list(merged.values())
