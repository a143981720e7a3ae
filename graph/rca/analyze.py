"""Investigate a target: collect, detect, follow failing dependencies, rank.

The cause is where the failure starts: when the target's logs blame a host:port and
that host resolves to a Service whose workload has its own problem, that problem ranks
above the target's symptom.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from graph import targets
from graph.rca import collect, detect_infra, detect_metrics, detect_pods, model, signatures

__all__ = ["Investigation", "investigate"]

_MAX_DEPTH = 2
_MAX_DEPENDENCIES = 3
_MAX_NAMESPACE_WORKLOADS = 15
_URL_IN_ENV = re.compile(r"(?:[a-z]+://)?(?:[^@/\s]+@)?([a-z0-9][a-z0-9.\-]*[a-z0-9]):(\d{2,5})")


@dataclass
class Investigation:
    target: targets.Target
    causes: list[model.Cause] = field(default_factory=list)
    facts: list[model.WorkloadFacts] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)


def _dependency_hosts(facts: model.WorkloadFacts) -> list[tuple[str, str]]:
    """(host, evidence line) named by failing calls in the logs, newest first."""
    found: dict[str, str] = {}
    for texts in facts.logs.values():
        for text in (texts.get("previous", ""), texts.get("current", "")):
            for signal in signatures.scan_log(text):
                if signal.kind in ("dependency", "db_exhausted", "dns") and signal.detail:
                    found[signal.detail.split(":")[0]] = signal.line
    return list(reversed(list(found.items())))


def _env_hosts(facts: model.WorkloadFacts) -> list[str]:
    hosts = []
    for container in facts.containers:
        for env in container.get("env") or []:
            match = _URL_IN_ENV.search(str(env.get("value") or ""))
            if match:
                hosts.append(match.group(1))
    return hosts


async def _resolve_service(tools: targets.ToolCaller, host: str,
                           namespace: str) -> tuple[targets.Target | None, dict[str, Any] | None]:
    """A DNS name (svc, svc.ns, svc.ns.svc.cluster.local) -> its workload and Service."""
    labels = host.split(".")
    service, ns = labels[0], labels[1] if len(labels) > 1 and labels[1] != "svc" else namespace
    found = await tools.call("describe", kind="Service", name=service, namespace=ns)
    if found.get("status") != "ok":
        return None, None
    svc = found["data"]["object"]
    selector = svc.get("spec", {}).get("selector") or {}
    workloads = await tools.call("list_workloads", namespace=ns)
    for row in workloads.get("data") or []:
        labels_of = row.get("selector") or {}
        if selector and all(labels_of.get(k) == v for k, v in selector.items()):
            return targets.Target(str(row["kind"]), ns, str(row["name"])), svc
    return None, svc


def _symptomatic(facts: model.WorkloadFacts, causes: list[model.Cause],
                 window: collect.Window) -> bool:
    """The target misbehaves (errors up, pods failing) whether or not a cause is known."""
    errors = detect_metrics.error_shift(facts, window.start)
    if errors and errors[1].after > 0.01 and errors[1].after > 2 * errors[1].before:
        return True
    if any(c.kind in ("DependencyFailure", "CrashLoop", "ProbeFailure") for c in causes):
        return True
    return any(not s.get("ready") for p in facts.pods
               for s in p.get("status", {}).get("containerStatuses") or [])


def _ready_endpoints(svc_name: str, facts: model.WorkloadFacts) -> int:
    for endpoint in facts.endpoints:
        if endpoint["metadata"]["name"] == svc_name:
            return sum(len(s.get("addresses") or []) for s in endpoint.get("subsets") or [])
    return 0


def _blocking_policy(dep: model.WorkloadFacts, caller: model.WorkloadFacts) -> (
        dict[str, Any] | None):
    """A NetworkPolicy on the dependency's pods that admits no traffic from the caller."""
    dep_labels = _template_labels(dep)
    caller_labels = _template_labels(caller)
    for policy in dep.network_policies:
        spec = policy.get("spec", {})
        selector = (spec.get("podSelector") or {}).get("matchLabels") or {}
        if not all(dep_labels.get(k) == v for k, v in selector.items()):
            continue
        if "Ingress" not in (spec.get("policyTypes") or ["Ingress"]):
            continue
        admitted = False
        for rule in spec.get("ingress") or []:
            sources = rule.get("from")
            if not sources:
                admitted = True  # a rule with no `from` admits everyone
            for source in sources or []:
                labels = (source.get("podSelector") or {}).get("matchLabels")
                matches = labels is not None and all(caller_labels.get(k) == v
                                                     for k, v in labels.items())
                same_ns = "namespaceSelector" not in source or caller.namespace == dep.namespace
                if matches and same_ns:
                    admitted = True
        if not admitted:
            return policy
    return None


def _template_labels(facts: model.WorkloadFacts) -> dict[str, str]:
    spec = (facts.obj or {}).get("spec", {})
    if facts.kind == "Pod":
        return dict((facts.obj or {}).get("metadata", {}).get("labels") or {})
    return dict((spec.get("template", {}).get("metadata") or {}).get("labels") or {})


async def _follow(tools: targets.ToolCaller, facts: model.WorkloadFacts,
                  causes: list[model.Cause], window: collect.Window, depth: int,
                  seen: set[str], result: Investigation) -> list[model.Cause]:
    hosts = _dependency_hosts(facts)
    from_env = [(h, "") for h in _env_hosts(facts) if h not in {x for x, _ in hosts}]
    if not hosts and from_env and _symptomatic(facts, causes, window):
        hosts = from_env
    found: list[model.Cause] = []
    for host, line in hosts[:_MAX_DEPENDENCIES]:
        dep_target, svc = await _resolve_service(tools, host, facts.namespace)
        if dep_target is None or dep_target.ref in seen:
            continue
        seen.add(dep_target.ref)
        dep_causes, dep_facts = await _investigate_one(tools, dep_target, window, depth + 1,
                                                      seen, result)
        via = model.Evidence("dependency", f"{facts.name} calls {host}"
                             + (f": {line[:200]}" if line else " (from its configuration)"))
        if dep_causes:
            for cause in dep_causes:
                cause.evidence.insert(0, via)
            found += dep_causes
            continue
        if not line:
            continue  # a configured host with no failing call is no evidence
        policy = _blocking_policy(dep_facts, facts) if dep_facts.obj else None
        if policy is not None:
            found.append(model.Cause(
                "NetworkPolicy", f"NetworkPolicy/{dep_facts.namespace}/"
                f"{policy['metadata']['name']}", f"NetworkPolicy {policy['metadata']['name']} "
                f"admits no traffic from {facts.name} to {dep_target.name}", 0.85,
                [via, model.Evidence("config", f"policy selects {dep_target.name}'s pods and "
                                     f"its ingress rules do not match {facts.name}'s labels")]))
            continue
        ready = _ready_endpoints(svc["metadata"]["name"], dep_facts) if svc else 0
        dep_errors = detect_metrics.error_shift(dep_facts, window.start)
        erring = dep_errors is not None and dep_errors[1].after > 0.02
        if ready and not erring:
            continue  # a healthy callee: the caller's own change is the likelier cause
        evidence = [via, model.Evidence("status", f"Service {host} has {ready} ready "
                                        "endpoint(s)")]
        if dep_errors and erring:
            evidence.append(model.Evidence("metric", f"5xx ratio of {dep_errors[0]} "
                                           f"{dep_errors[1].after:.1%}"))
        found.append(model.Cause("DependencyFailure", dep_target.ref, f"{dep_target.name} fails "
                                 f"its callers ({facts.name})", 0.8 if ready == 0 else 0.7,
                                 evidence))
    return found


async def _investigate_one(tools: targets.ToolCaller, target: targets.Target,
                           window: collect.Window, depth: int, seen: set[str],
                           result: Investigation) -> tuple[list[model.Cause],
                                                           model.WorkloadFacts]:
    facts = await collect.collect_workload(tools, target, window)
    result.facts.append(facts)
    result.checked.append(target.ref)
    result.missing += facts.missing
    causes = (detect_pods.detect_pod_causes(facts) + detect_infra.detect_infra_causes(facts)
              + detect_metrics.detect_metric_causes(facts, window))
    for cause in causes:
        cause.depth = depth
    if depth < _MAX_DEPTH:
        downstream = await _follow(tools, facts, causes, window, depth, seen, result)
        if downstream:
            # The target's own dependency symptoms are explained by what failed downstream.
            for cause in causes:
                if cause.kind == "DependencyFailure":
                    cause.score *= 0.5
            causes += downstream
    if not causes and _symptomatic(facts, causes, window) and facts.obj is not None:
        causes.append(_unknown(facts, window))
    return causes, facts


def _unknown(facts: model.WorkloadFacts, window: collect.Window) -> model.Cause:
    evidence = []
    errors = detect_metrics.error_shift(facts, window.start)
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


def _calibrate(causes: list[model.Cause]) -> list[model.Cause]:
    ranked = sorted(causes, key=lambda c: (-c.score, -c.depth, c.kind))
    for i, cause in enumerate(ranked):
        rival = ranked[i + 1].score if i + 1 < len(ranked) else 0.0
        # A close runner-up makes the leader less certain; evidence count adds a little.
        margin = max(0.0, cause.score - rival)
        support = min(len(cause.evidence), 4) * 0.01
        cause.confidence = max(0.05, min(0.98, cause.score * (0.85 + min(margin, 0.3) / 2)
                                         + support)) if i == 0 else max(
            0.05, min(ranked[0].confidence - 0.05, cause.score * 0.8))
    return ranked


async def investigate(tools: targets.ToolCaller, target: targets.Target,
                      window: collect.Window) -> Investigation:
    result = Investigation(target=target)
    if target.kind == "Namespace":
        await _investigate_namespace(tools, target.name, window, result)
    else:
        causes, _ = await _investigate_one(tools, target, window, 0, {target.ref}, result)
        result.causes = causes
    result.causes = _calibrate(_dedupe(result.causes))
    return result


async def _investigate_namespace(tools: targets.ToolCaller, namespace: str,
                                 window: collect.Window, result: Investigation) -> None:
    """A whole namespace: every workload when there are few, else the unhealthy ones and
    those with recent warnings (a bad rollout leaves replicas "available")."""
    workloads = await tools.call("list_workloads", namespace=namespace)
    rows = list(workloads.get("data") or [])
    if len(rows) > _MAX_NAMESPACE_WORKLOADS:
        warned = await tools.call("list_events", namespace=namespace, warnings_only=True,
                                  limit=300)
        noisy = {str(e["object"]).partition("/")[2] for e in warned.get("data") or []}
        rows = [r for r in rows if not r["healthy"] or any(
            n.startswith(str(r["name"])) for n in noisy)][:_MAX_NAMESPACE_WORKLOADS]
    seen = {f"{r['kind']}/{r['namespace']}/{r['name']}" for r in rows}
    found = await asyncio.gather(*(_investigate_one(
        tools, targets.Target(str(r["kind"]), str(r["namespace"]), str(r["name"])), window, 0,
        seen, result) for r in rows))
    result.causes = [cause for causes, _ in found for cause in causes]


def _dedupe(causes: list[model.Cause]) -> list[model.Cause]:
    best: dict[tuple[str, str], model.Cause] = {}
    for cause in causes:
        key = (cause.kind, cause.resource)
        if key not in best or cause.score > best[key].score:
            best[key] = cause
    return list(best.values())
