"""Digest sections about the cluster itself: workloads not fully available, pods that
restarted in the last 24 h (and why), warning events, and nodes with conditions.

The Kubernetes API says what is wrong now; Prometheus says what happened over the day
(restarts are counters, so a pod that was replaced still counts). When Prometheus is down
the restart section says so and falls back to the restart counts the API reports,
labelled as such, so no number changes meaning silently.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from graph.digest_model import (
    SEVERITY_ICON,
    Flag,
    Part,
    Scope,
    error_text,
    fmt_count,
    is_error,
    level,
    rows,
    workload_button_value,
)
from tools import summaries

__all__ = ["ClusterView", "events_part", "load_view", "nodes_part", "restarts_part",
           "workloads_part"]

# Pod states that will not recover without someone acting.
_SEVERE = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
           "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
           "OOMKilled", "Error", "Evicted", "Unschedulable"}
# Warning reasons that point at a real problem rather than routine churn.
# (OOM kills and NotReady nodes have sections of their own.)
_SERIOUS_EVENTS = {"FailedScheduling", "FailedMount", "FailedAttachVolume", "FailedCreate",
                   "Evicted", "FailedCreatePodSandBox", "ProvisioningFailed", "FailedGetScale"}
_RED_RESTARTS = 10
_MAX_LINES = 8
_DEPLOYMENT_POD = re.compile(r"^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$")
_STATEFUL_POD = re.compile(r"^(.+)-\d+$")


@dataclass
class ClusterView:
    """The Kubernetes answers several sections share, read once per digest."""

    workloads: dict[str, Any]
    pods: dict[str, Any]

    def workload_of(self, namespace: str, pod: str) -> str:
        """Kind/name of the workload a pod belongs to; "" when unknown.

        The pod list answers for live pods; a pod replaced during the day is matched by
        its name against the live workloads, as their controllers name pods."""
        for row in rows(self.pods):
            if row.get("name") == pod and row.get("namespace") == namespace:
                return str(row.get("workload") or "")
        known = {(str(w.get("kind")), str(w.get("name"))) for w in rows(self.workloads)
                 if w.get("namespace") == namespace}
        for pattern, kind in ((_DEPLOYMENT_POD, "Deployment"), (_STATEFUL_POD, "StatefulSet")):
            match = pattern.match(pod)
            if match and (kind, match.group(1)) in known:
                return f"{kind}/{match.group(1)}"
        return ""


async def load_view(scope: Scope) -> ClusterView:
    ns = scope.namespace
    workloads, pods = await asyncio.gather(scope.tools.call("list_workloads", namespace=ns),
                                           scope.tools.call("list_pods", namespace=ns))
    return ClusterView(workloads, pods)


def _button(workload: str, namespace: str) -> tuple[str, str]:
    """(button value, label) for a workload, or nothing for pods of no known owner."""
    if not workload or workload.startswith("ReplicaSet/"):
        return "", ""
    return workload_button_value(workload, namespace), f"RCA {workload.partition('/')[2]}"


def _pod_detail(pod: dict[str, Any]) -> str:
    name = str(pod.get("name"))
    term = pod.get("last_termination") or {}
    text = f"pod {name} {pod.get('status')}"
    if pod.get("restarts"):
        text += f" ({pod['restarts']} restarts"
        if term.get("reason") and term.get("reason") != "Completed":
            text += f", last exit {term['reason']} code {term.get('exitCode')}"
        text += ")"
    return text


# -- workloads -------------------------------------------------------------------------

def workloads_part(view: ClusterView) -> Part:
    part = Part("workloads", "Workloads not fully available", order=10)
    if is_error(view.workloads):
        part.missing = error_text(view.workloads)
        return part
    workloads = rows(view.workloads)
    part.numbers["workloads_total"] = len(workloads)
    by_workload: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for pod in rows(view.pods):
        if pod.get("problems"):
            by_workload[(str(pod.get("namespace")), str(pod.get("workload")))].append(pod)
    unhealthy = [w for w in workloads if not w.get("healthy")]
    part.numbers["workloads_unavailable"] = len(unhealthy)
    entries: list[tuple[Flag, str]] = []
    for w in unhealthy:
        ns, ref = str(w.get("namespace")), f"{w.get('kind')}/{w.get('name')}"
        pods = by_workload.pop((ns, ref), [])
        desired, available = int(w.get("desired") or 0), int(w.get("available") or 0)
        statuses = sorted({str(p.get("status")) for p in pods})
        severe = any(s in _SEVERE for s in statuses)
        severity = level(severe or (desired > 0 and available == 0))
        details = [f"{available}/{desired} available"]
        updated = int(w.get("updated") or 0)
        if updated < desired:
            details.append(f"{updated}/{desired} updated")
        condition = str(w.get("condition") or "")
        if condition:
            details.append(f"rollout stuck ({condition.partition(':')[0]})")
        details += [_pod_detail(p) for p in sorted(pods, key=lambda p: -int(
            p.get("restarts") or 0))[:3]]
        restarts = sum(int(p.get("restarts") or 0) for p in pods)
        exits = sorted({str((p.get("last_termination") or {}).get("reason")) for p in pods
                        if (p.get("last_termination") or {}).get("reason") not in (
                            None, "", "Completed")})
        summary = ", ".join(s for s in statuses if s != "Running") or (
            f"{available}/{desired} available")
        if restarts:
            summary += f"; {restarts} restarts" + (f", last exit {'/'.join(exits)}"
                                                   if exits else "")
        if condition:
            summary += "; rollout stuck"
        value, label = _button(ref, ns)
        flag = Flag(severity, f"{w.get('kind')} {ns}/{w.get('name')}: {summary}", value, label,
                    weight=restarts + (desired - available) * 10)
        line = f"{SEVERITY_ICON[severity]} **{w.get('kind')} {ns}/{w.get('name')}** — " \
               + "; ".join(details)
        entries.append((flag, line))
    # Pods in trouble that no unhealthy workload explains (bare pods, Jobs, a stuck pod
    # of a workload that still has enough replicas).
    for (ns, ref), pods in by_workload.items():
        for pod in pods:
            problems = [str(p) for p in pod.get("problems") or []]
            if not problems or problems[0].startswith("restarted"):
                continue  # restarts alone are the restart section's business
            severity = level(pod.get("status") in _SEVERE)
            value, label = _button(ref, ns)
            flag = Flag(severity, f"Pod {ns}/{pod.get('name')}: {pod.get('status')}", value,
                        label, weight=int(pod.get("restarts") or 0))
            owner = f" ({ref})" if ref else ""
            entries.append((flag, f"{SEVERITY_ICON[severity]} **Pod {ns}/{pod.get('name')}**"
                            f"{owner} — {', '.join(problems)}"))
    entries.sort(key=lambda e: e[0].rank)
    part.flags = [flag for flag, _ in entries]
    part.lines = [line for _, line in entries[:_MAX_LINES]]
    if len(entries) > _MAX_LINES:
        part.lines.append(f"… and {len(entries) - _MAX_LINES} more")
    return part


# -- restarts --------------------------------------------------------------------------

async def restarts_part(scope: Scope, view: ClusterView) -> Part:
    part = Part("restarts", "Pods restarted in the last 24 h", order=20)
    increase_q = (f"sum by (namespace, pod, container) (increase("
                  f"kube_pod_container_status_restarts_total{scope.selector()}[24h])) > 0.5")
    reason_q = (f"max by (namespace, pod, container, reason) (max_over_time("
                f"kube_pod_container_status_last_terminated_reason{scope.selector()}[24h])) > 0")
    increases, reasons = await asyncio.gather(
        scope.tools.call("prom_query", query=increase_q),
        scope.tools.call("prom_query", query=reason_q))
    if is_error(increases):
        part.missing = error_text(increases) + " — restarts over the last 24 h are unknown."
        _from_cluster(part, view)
        return part
    why: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row in rows(reasons):
        m = row.get("metric") or {}
        why[(m.get("namespace", ""), m.get("pod", ""), m.get("container", ""))].add(
            str(m.get("reason", "")))
    per_pod: dict[tuple[str, str], int] = defaultdict(int)
    pod_reasons: dict[tuple[str, str], set[str]] = defaultdict(set)
    by_reason: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # [containers, restarts]
    for row in rows(increases):
        m = row.get("metric") or {}
        count = round(float(row.get("value") or 0))
        if count <= 0:
            continue
        key = (m.get("namespace", ""), m.get("pod", ""), m.get("container", ""))
        per_pod[key[:2]] += count
        pod_reasons[key[:2]] |= why.get(key, set())
        for reason in why.get(key) or {"unknown"}:
            by_reason[reason][0] += 1
            by_reason[reason][1] += count
    total = sum(per_pod.values())
    part.numbers["restarts_24h"] = total
    if not total:
        return part
    top = sorted(by_reason.items(), key=lambda kv: -kv[1][1])[:3]
    part.lines.append(f"{fmt_count(total)} restarts across {len(per_pod)} pod(s); top reasons: "
                      + ", ".join(f"{reason} ({restarts} restarts, {containers} container(s))"
                                  for reason, (containers, restarts) in top))
    ordered = sorted(per_pod.items(), key=lambda kv: -kv[1])
    for (ns, pod), count in ordered:
        exits = sorted(pod_reasons[(ns, pod)])
        severity = level(count >= _RED_RESTARTS or "OOMKilled" in exits)
        workload = view.workload_of(ns, pod)
        value, label = _button(workload, ns)
        exit_text = f", last exit {'/'.join(exits)}" if exits else ""
        part.flags.append(Flag(severity, f"{workload or 'Pod/' + pod} in {ns}: {count} restarts"
                               f" in 24 h{exit_text}", value, label, weight=count))
        if len(part.lines) <= _MAX_LINES:
            owner = f" ({workload})" if workload else ""
            part.lines.append(f"{SEVERITY_ICON[severity]} **{ns}/{pod}**{owner} — {count} "
                              f"restarts{exit_text}")
    if len(ordered) > _MAX_LINES:
        part.lines.append(f"… and {len(ordered) - _MAX_LINES} more pods")
    hourly = await scope.tools.call(
        "prom_range", query=f"sum by (namespace) (increase(kube_pod_container_status_restarts_"
        f"total{scope.selector()}[1h]))", start="now-24h", end="now", step="1h")
    series = {str((r.get("metric") or {}).get("namespace", "?")): [
        (float(t), float(v)) for t, v in r.get("points") or []] for r in rows(hourly)}
    if series:
        part.chart = {"title": "Restarts per namespace (per hour)", "unit": "restarts",
                      "series": series, "kind": "bar"}
    return part


def _from_cluster(part: Part, view: ClusterView) -> None:
    restarted = sorted((p for p in rows(view.pods) if int(p.get("restarts") or 0) > 0),
                       key=lambda p: -int(p.get("restarts") or 0))
    if not restarted:
        return
    part.lines.append("From the Kubernetes API instead (restarts since each pod started, "
                      "not only the last 24 h):")
    for pod in restarted[:_MAX_LINES]:
        ns, count = str(pod.get("namespace")), int(pod.get("restarts") or 0)
        reason = str((pod.get("last_termination") or {}).get("reason") or "")
        severity = level(count >= _RED_RESTARTS or reason == "OOMKilled")
        value, label = _button(str(pod.get("workload") or ""), ns)
        exit_text = f", last exit {reason}" if reason else ""
        part.flags.append(Flag(severity, f"Pod {ns}/{pod.get('name')}: {count} restarts"
                               f"{exit_text}", value, label, weight=count))
        part.lines.append(f"{SEVERITY_ICON[severity]} **{ns}/{pod.get('name')}** — {count} "
                          f"restarts{exit_text}")


# -- warning events --------------------------------------------------------------------

async def events_part(scope: Scope, view: ClusterView) -> Part:
    part = Part("events", "Warning events (last seen in 24 h)", order=30)
    result = await scope.tools.call("list_events", namespace=scope.namespace,
                                    warnings_only=True, limit=500)
    if is_error(result):
        part.missing = error_text(result)
        return part
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event in rows(result):
        seen = summaries.parse_time(event.get("last_seen"))
        if seen is None or seen.timestamp() < scope.now - 86400:
            continue
        ns, obj = str(event.get("namespace") or ""), str(event.get("object") or "")
        kind, _, name = obj.partition("/")
        if kind == "Node":
            # Node events are filed in "default" but belong to no namespace; one line per
            # reason for all nodes reads better than one per node.
            ns, owner = "", "Node"
        else:
            owner = view.workload_of(ns, name) if kind == "Pod" else obj
        key = (ns, str(event.get("reason")), owner or obj)
        group = groups.setdefault(key, {"count": 0, "objects": set(), "message": ""})
        group["count"] += int(event.get("count") or 1)
        group["objects"].add(obj)
        group["message"] = group["message"] or str(event.get("message") or "")
    part.numbers["warning_events"] = sum(g["count"] for g in groups.values())
    ordered = sorted(groups.items(), key=lambda kv: -kv[1]["count"])
    for (ns, reason, subject), group in ordered[:_MAX_LINES]:
        objects = sorted(group["objects"])
        kind, _, name = objects[0].partition("/")
        if subject == "Node":
            where = "node " + ", ".join(o.partition("/")[2] for o in objects[:5])
        elif len(objects) == 1:
            where = f"{kind} {ns}/{name}" + (f" ({subject})" if subject != objects[0] else "")
        else:
            where = f"{len(objects)} objects of {subject} in {ns}"
        message = " ".join(group["message"].split())
        message = message if len(message) <= 140 else message[:139] + "…"
        part.lines.append(f"**{reason}** ×{group['count']} — {where}: {message}")
        if reason in _SERIOUS_EVENTS:
            value, label = _button(subject if "/" in subject else "", ns) if ns else ("", "")
            part.flags.append(Flag("amber", f"{reason} ×{group['count']} on {ns}/{subject}",
                                   value, label, weight=group["count"]))
    if len(ordered) > _MAX_LINES:
        rest = sum(g["count"] for _, g in ordered[_MAX_LINES:])
        part.lines.append(f"… and {len(ordered) - _MAX_LINES} more groups ({rest} events)")
    return part


# -- nodes -----------------------------------------------------------------------------

async def nodes_part(scope: Scope) -> Part:
    part = Part("nodes", "Nodes with conditions", order=40)
    result = await scope.tools.call("list_nodes")
    if is_error(result):
        part.missing = error_text(result)
        return part
    nodes = rows(result)
    part.numbers["nodes_total"] = len(nodes)
    troubled = [n for n in nodes if n.get("problems") or n.get("unschedulable")]
    part.numbers["nodes_with_conditions"] = len(troubled)
    for node in troubled:
        name = str(node.get("name"))
        problems = [str(p) for p in node.get("problems") or []]
        if not node.get("ready") and "Ready" in problems:
            problems[problems.index("Ready")] = "NotReady"
        if node.get("unschedulable"):
            problems.append("cordoned")
        severity = level(not node.get("ready"))
        part.flags.append(Flag(severity, f"Node {name}: {', '.join(problems)}",
                               workload_button_value(f"Node/{name}", ""), f"RCA {name}"))
        part.lines.append(f"{SEVERITY_ICON[severity]} **{name}** — {', '.join(problems)}")
    return part
