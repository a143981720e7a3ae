"""Follow a workload's failing calls to what it calls, and blame the callee when the
callee is where the failure starts.

The calls come from log lines that name a host (a Service name, a pod's DNS name or a
ClusterIP) or, when the workload misbehaves without saying why, from the hosts in its
configuration. A callee is to blame when it has its own cause (investigated in turn),
when a NetworkPolicy refuses the traffic, when its Service has no ready endpoints, or when
it answers with errors: the server's own words in the caller's log ("too many clients"),
its error ratio, or errors in its own logs (then its own recent rollout, if any, is the
change to blame). A workload whose egress policy keeps it off DNS fails every call by
name, so that is checked whenever the workload misbehaves.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graph import actions, targets
from graph.rca import collect, detect_metrics, detect_pods, model, netpol, signatures
from tools import summaries

__all__ = ["Call", "failing_calls", "follow"]

Investigate = Callable[[targets.Target, int], Awaitable[
    tuple[list[model.Cause], model.WorkloadFacts]]]
Collect = Callable[[targets.Target], Awaitable[model.WorkloadFacts]]

_MAX_DEPENDENCIES = 3
_URL_IN_ENV = re.compile(r"(?:[a-z]+://)?(?:[^@/\s]+@)?([a-z0-9][a-z0-9.\-]*[a-z0-9]):(\d{2,5})")
# Words by which a client reports that the server answered, and answered with an error.
_SERVER_SAID = re.compile(r"FATAL|too many (?:clients|connections)|returned 5\d\d|status(?: code)?"
                          r"[ =:]5\d\d|\b50[234]\b|internal server error|unavailable", re.I)
# Errors in the callee's own log that say it is failing; generic ERROR lines also count
# when no metrics tell its normal error rate.
_CALLEE_FAILING = ("server_refused", "oom")
_CALLEE_ERRORS = (*_CALLEE_FAILING, "exception")
_DNS_SERVICE = netpol.Endpoint("kube-system", {"k8s-app": "kube-dns"})
# Callee causes that name their own fix: the change to roll back, or a failure already
# framed from the caller's side.
_OWN_KIND = ("BadRollout", "DependencyFailure")


@dataclass(frozen=True)
class Call:
    host: str
    port: int | None
    line: str  # the failing log line; empty for a host from the configuration
    kind: str  # dependency | server_refused | dns | config


def failing_calls(facts: model.WorkloadFacts) -> list[Call]:
    """Hosts named by failing calls in the logs, newest first, one per host."""
    found: dict[str, Call] = {}
    for texts in facts.logs.values():
        for text in (texts.get("previous", ""), texts.get("current", "")):
            for signal in signatures.scan_log(text):
                if signal.kind in ("dependency", "server_refused", "dns") and signal.detail:
                    host, _, port = signal.detail.partition(":")
                    found.pop(host, None)
                    found[host] = Call(host, int(port) if port.isdigit() else None,
                                       signal.line, signal.kind)
    return list(reversed(list(found.values())))


def _configured_calls(facts: model.WorkloadFacts) -> list[Call]:
    calls = []
    for container in facts.containers:
        for env in container.get("env") or []:
            match = _URL_IN_ENV.search(str(env.get("value") or ""))
            if match:
                calls.append(Call(match.group(1), int(match.group(2)), "", "config"))
    return calls


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _service(tools: targets.ToolCaller, host: str,
                   namespace: str) -> dict[str, Any] | None:
    """The Service a host names: svc, svc.ns, svc.ns.svc.cluster.local, a StatefulSet
    pod's pod.svc.ns name, or a ClusterIP."""
    if _is_ip(host):
        listed = await tools.call("list_resources", kind="Service", namespace="")
        return next((s for s in listed.get("data") or []
                     if host in (s.get("spec", {}).get("clusterIPs")
                                 or [s.get("spec", {}).get("clusterIP")])), None)
    labels = host.split(".")
    tries = [(labels[0], labels[1] if len(labels) > 1 and labels[1] != "svc" else namespace)]
    if len(labels) >= 3 and labels[2] != "svc":
        tries.append((labels[1], labels[2]))
    for name, ns in tries:
        found = await tools.call("describe", kind="Service", name=name, namespace=ns)
        if found.get("status") == "ok":
            return dict(found["data"]["object"])
    return None


async def _workload(tools: targets.ToolCaller, svc: dict[str, Any]) -> targets.Target | None:
    selector = svc.get("spec", {}).get("selector") or {}
    ns = svc["metadata"]["namespace"]
    if not selector:
        return None
    workloads = await tools.call("list_workloads", namespace=ns)
    for row in workloads.get("data") or []:
        labels_of = row.get("selector") or {}
        if all(labels_of.get(k) == v for k, v in selector.items()):
            return targets.Target(str(row["kind"]), ns, str(row["name"]))
    return None


async def _ready_endpoints(tools: targets.ToolCaller, svc: dict[str, Any]) -> int:
    found = await tools.call("describe", kind="Endpoints", name=svc["metadata"]["name"],
                             namespace=svc["metadata"]["namespace"])
    if found.get("status") != "ok":
        return 0
    return sum(len(s.get("addresses") or []) for s in found["data"]["object"].get(
        "subsets") or [])


def _pod_labels(facts: model.WorkloadFacts) -> dict[str, str]:
    if facts.kind == "Pod":
        return dict((facts.obj or {}).get("metadata", {}).get("labels") or {})
    spec = (facts.obj or {}).get("spec", {})
    return dict((spec.get("template", {}).get("metadata") or {}).get("labels") or {})


def _pod_port(svc: dict[str, Any], dep: model.WorkloadFacts, port: int | None) -> int | None:
    """The container port behind a Service port: policies speak of pods' ports."""
    for entry in svc.get("spec", {}).get("ports") or []:
        if port is not None and entry.get("port") != port:
            continue
        target = entry.get("targetPort", entry.get("port"))
        if isinstance(target, int) or str(target).isdigit():
            return int(target)
        for container in dep.containers:
            for cport in container.get("ports") or []:
                if cport.get("name") == target:
                    return int(cport["containerPort"])
    return port


def _policy_cause(facts: model.WorkloadFacts, dep: model.WorkloadFacts, svc: dict[str, Any],
                  call: Call, via: model.Evidence,
                  window: collect.Window) -> model.Cause | None:
    source = netpol.Endpoint(facts.namespace, _pod_labels(facts), facts.namespace_labels)
    destination = netpol.Endpoint(dep.namespace, _pod_labels(dep), dep.namespace_labels)
    policies = dep.network_policies + [p for p in facts.network_policies
                                       if p not in dep.network_policies]
    found = netpol.blocking_policy(policies, source, destination, _pod_port(svc, dep, call.port))
    if found is None:
        return None
    policy, direction = found
    meta = policy.get("metadata", {})
    created = meta.get("creationTimestamp") or ""
    evidence = [via, model.Evidence("config", f"NetworkPolicy {meta.get('name')} isolates "
                                    f"{dep.name if direction == 'Ingress' else facts.name}'s "
                                    f"pods ({direction.lower()}) and no policy admits "
                                    f"{facts.name} -> {dep.name}", created)]
    when = summaries.parse_time(str(created))
    recent = when is not None and when.timestamp() >= window.start - 3600
    if recent:
        evidence.append(model.Evidence("config", f"the policy was created at {created}, "
                                       "shortly before the failures"))
    return model.Cause("NetworkPolicy", f"NetworkPolicy/{meta.get('namespace')}/"
                       f"{meta.get('name')}", f"NetworkPolicy {meta.get('name')} blocks "
                       f"{facts.name} -> {dep.name}", 0.9 if recent else 0.85, evidence)


def _dns_policy_cause(facts: model.WorkloadFacts, call: Call | None,
                      via: model.Evidence) -> model.Cause | None:
    """Names that do not resolve (or a misbehaving workload, `call` None) while an egress
    policy keeps the pods off DNS."""
    source = netpol.Endpoint(facts.namespace, _pod_labels(facts), facts.namespace_labels)
    found = netpol.blocking_policy(facts.network_policies, source, _DNS_SERVICE, 53)
    if found is None or found[1] != "Egress":
        return None
    meta = found[0].get("metadata", {})
    return model.Cause("NetworkPolicy", f"NetworkPolicy/{meta.get('namespace')}/"
                       f"{meta.get('name')}", f"NetworkPolicy {meta.get('name')} keeps "
                       f"{facts.name} from reaching DNS", 0.85 if call else 0.75,
                       [via, model.Evidence("config", f"egress of {facts.name}'s pods is "
                                            "limited and no rule admits kube-dns on port 53",
                                            meta.get("creationTimestamp") or "")])


def _recent_rollout(dep: model.WorkloadFacts, window: collect.Window) -> tuple[
        dict[str, Any], dict[str, Any]] | None:
    """(current, previous) revision of the callee when it rolled out just before or in
    the window."""
    current = next((r for r in dep.history if r["current"]), None)
    previous = detect_pods.previous_revision(dep)
    when = summaries.parse_time(str((current or {}).get("created") or ""))
    if current is None or previous is None or when is None:
        return None
    return (current, previous) if when.timestamp() >= window.start - 1800 else None


def _callee_errors(dep: model.WorkloadFacts, kinds: tuple[str, ...]) -> list[str]:
    lines = []
    for texts in dep.logs.values():
        for signal in signatures.scan_log(texts.get("current", "")):
            if signal.kind in kinds:
                lines.append(signal.line)
    return lines


async def follow(tools: targets.ToolCaller, facts: model.WorkloadFacts, symptomatic: bool,
                 window: collect.Window, depth: int, seen: set[str],
                 investigate: Investigate, collect_only: Collect) -> list[model.Cause]:
    """Causes found downstream of `facts` (the callee's, or the callee as the cause).
    A callee in `seen` is investigated elsewhere (a namespace-wide run): only whether it
    fails this caller is judged here."""
    calls = failing_calls(facts)
    if not calls and symptomatic:
        calls = [c for c in _configured_calls(facts) if c.host not in {x.host for x in calls}]
    found: list[model.Cause] = []
    if symptomatic and not any(c.kind == "dns" for c in calls):
        # A workload kept off DNS fails every call by name, whatever its logs say.
        cause = _dns_policy_cause(facts, None, model.Evidence(
            "status", f"{facts.name} misbehaves (errors or pods not ready)"))
        found += [cause] if cause else []
    for call in calls[:_MAX_DEPENDENCIES]:
        via = model.Evidence("dependency", f"{facts.name} calls {call.host}"
                             + (f": {call.line[:200]}" if call.line else
                                " (from its configuration)"))
        svc = await _service(tools, call.host, facts.namespace)
        if svc is not None and _is_ip(call.host):
            via.text = via.text.replace(f"calls {call.host}", f"calls {call.host} (Service "
                                        f"{svc['metadata']['name']})", 1)
        if svc is None:
            if call.kind == "dns" and call.line:
                cause = _dns_policy_cause(facts, call, via)
                found += [cause] if cause else []
            continue
        dep_target = await _workload(tools, svc)
        if dep_target is None:
            found += await _orphan_service(tools, svc, call, via)
            continue
        if dep_target.ref in seen:
            dep_causes: list[model.Cause] = []
            dep_facts = await collect_only(dep_target)
        else:
            seen.add(dep_target.ref)
            dep_causes, dep_facts = await investigate(dep_target, depth + 1)
        if dep_causes:
            dep_causes = [_as_dependency(c, dep_target) for c in dep_causes]
            for cause in dep_causes:
                cause.evidence.insert(0, via)
            found += dep_causes
            continue
        if dep_facts.obj is None:
            continue
        cause = _policy_cause(facts, dep_facts, svc, call, via, window)
        if cause is not None and not call.line:
            cause.score -= 0.1  # the caller misbehaves but does not say it cannot connect
        if cause is None and not call.line:
            continue  # a configured host with no failing call is no evidence
        if cause is None:
            cause = await _failing_callee(tools, facts, dep_facts, dep_target, svc, call, via,
                                          window)
        found += [cause] if cause else []
    return found


def _as_dependency(cause: model.Cause, dep: targets.Target) -> model.Cause:
    """To the caller that asked, a callee failing in itself (crashing, killed, probes
    reporting it unwell) is a failing dependency; how it fails stays in the summary and the
    evidence. Causes that name a change or another object (its rollout, a policy, a node,
    a claim, a quota) keep their own kind."""
    if cause.resource != dep.ref or cause.kind in _OWN_KIND:
        return cause
    unwell = cause.kind == "ProbeFailure" and any(
        e.source == "event" and "Readiness probe" in e.text
        and detect_pods.probe_reports_own_failure(e.text) for e in cause.evidence)
    if unwell:  # the probe only carries the news: the callee is down, not its probe
        return model.Cause("DependencyFailure", cause.resource, f"{dep.name} fails its "
                           "callers: it reports itself unwell to its readiness probe",
                           max(cause.score, 0.75), cause.evidence, cause.actions)
    return model.Cause("DependencyFailure", cause.resource, f"{dep.name} fails its callers: "
                       f"{cause.summary}", cause.score, cause.evidence, cause.actions)


async def _orphan_service(tools: targets.ToolCaller, svc: dict[str, Any], call: Call,
                          via: model.Evidence) -> list[model.Cause]:
    """A Service whose selector matches no workload: nothing can answer its callers."""
    if not call.line or await _ready_endpoints(tools, svc):
        return []
    meta = svc["metadata"]
    selector = ", ".join(f"{k}={v}" for k, v in sorted(
        (svc.get("spec", {}).get("selector") or {}).items())) or "(none)"
    return [model.Cause("DependencyFailure", f"Service/{meta['namespace']}/{meta['name']}",
                        f"Service {meta['name']} has no endpoints: its selector {selector} "
                        "matches no workload", 0.8,
                        [via, model.Evidence("status", f"Service {meta['name']} has 0 ready "
                                             "endpoints"),
                         model.Evidence("config", f"selector {selector} of Service "
                                        f"{meta['name']} matches no Deployment or "
                                        "StatefulSet in the namespace")])]


async def _failing_callee(tools: targets.ToolCaller, facts: model.WorkloadFacts,
                          dep: model.WorkloadFacts, dep_target: targets.Target,
                          svc: dict[str, Any], call: Call, via: model.Evidence,
                          window: collect.Window) -> model.Cause | None:
    ready = await _ready_endpoints(tools, svc)
    dep_errors = detect_metrics.recent_error_shift(dep, window)
    erring = dep_errors is not None and dep_errors[1].after > 0.02
    server_said = call.kind == "server_refused" or bool(_SERVER_SAID.search(call.line))
    own_errors = _callee_errors(dep, _CALLEE_FAILING if dep_errors else _CALLEE_ERRORS)
    if ready and not erring and not server_said and not own_errors:
        return None  # a healthy callee: the caller's own change is the likelier cause
    if ready and dep_errors is not None and not erring and not own_errors:
        return None  # the callee's own metrics say it serves fine: the caller's doing
    evidence = [via, model.Evidence("status", f"Service {svc['metadata']['name']} has {ready} "
                                    "ready endpoint(s)")]
    if dep_errors and erring:
        evidence.append(model.Evidence("metric", f"5xx ratio of {dep_errors[0]} "
                                       f"{dep_errors[1].after:.1%}"))
    if own_errors:
        evidence.append(model.Evidence("log", f"{dep.name} logs: {own_errors[-1][:200]}"))
    score = 0.8 if ready == 0 else 0.75 if (server_said and own_errors) else 0.7
    if ready and not erring and not own_errors:
        score = 0.45  # only the caller's word for it
    rollout = _recent_rollout(dep, window)
    if ready and rollout is not None:
        # The callee answers with errors since its own rollout: that rollout is the change.
        current, previous = rollout
        evidence.append(model.Evidence("rollout", f"{dep.name} rolled out revision "
                                       f"{current['revision']} at {current.get('created')}",
                                       str(current.get("created") or "")))
        return model.Cause("BadRollout", dep_target.ref, f"revision {current['revision']} of "
                           f"{dep.name} fails its callers ({facts.name})", score - 0.05,
                           evidence, [actions.rollback(dep_target.ref, previous["revision"],
                                                       f"back to {', '.join(previous['images'])}")])
    return model.Cause("DependencyFailure", dep_target.ref, f"{dep_target.name} fails its "
                       f"callers ({facts.name})" + (": it refuses connections" if ready and
                                                   call.kind == "server_refused" else ""),
                       score, evidence)
