"""Compact, chat-sized summaries of Kubernetes objects (pure functions over API JSON).

The status column follows kubectl's rules, so what opsbot says matches what the on-call
sees in their terminal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = [
    "age_seconds",
    "event_summary",
    "node_summary",
    "parse_time",
    "pod_problems",
    "pod_summary",
    "pod_workload",
    "rollout_history",
    "sort_events",
    "template_changes",
    "workload_summary",
]

# Waiting reasons that mean the pod is not going to work without someone acting.
_BAD_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age_seconds(value: str | None, now: datetime) -> float | None:
    when = parse_time(value)
    return None if when is None else max(0.0, (now - when).total_seconds())


def _container_status_text(status: dict[str, Any]) -> str:
    state = status.get("state") or {}
    if "waiting" in state:
        return str(state["waiting"].get("reason") or "Waiting")
    if "terminated" in state:
        return str(state["terminated"].get("reason") or "Terminated")
    return "Running" if "running" in state else "Unknown"


def _pod_status_text(pod: dict[str, Any]) -> str:
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if status.get("reason"):
        return str(status["reason"])  # Evicted, NodeLost, ...
    for cs in status.get("initContainerStatuses") or []:
        text = _container_status_text(cs)
        if text not in ("Running", "Completed"):
            return f"Init:{text}"
    worst = ""
    for cs in status.get("containerStatuses") or []:
        text = _container_status_text(cs)
        if text != "Running":
            worst = text
    if worst:
        return worst
    phase = str(status.get("phase") or "Unknown")
    if phase == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return str(cond.get("reason") or "Pending")
    return phase


def pod_workload(pod: dict[str, Any]) -> str:
    """The workload a pod belongs to, as Kind/name (Deployment when the RS hash is known)."""
    meta = pod.get("metadata", {})
    for owner in meta.get("ownerReferences") or []:
        kind, name = owner.get("kind", ""), owner.get("name", "")
        if kind == "ReplicaSet":
            pod_hash = (meta.get("labels") or {}).get("pod-template-hash", "")
            if pod_hash and name.endswith("-" + pod_hash):
                return f"Deployment/{name[: -len(pod_hash) - 1]}"
            return f"ReplicaSet/{name}"
        if kind:
            return f"{kind}/{name}"
    return ""


def pod_summary(pod: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    total = len(spec.get("containers") or statuses)
    containers = []
    last_termination: dict[str, Any] | None = None
    for cs in statuses:
        term = (cs.get("lastState") or {}).get("terminated")
        current_term = (cs.get("state") or {}).get("terminated")
        containers.append({
            "name": cs.get("name"), "image": cs.get("image"), "ready": bool(cs.get("ready")),
            "restarts": int(cs.get("restartCount") or 0),
            "state": _container_status_text(cs),
        })
        chosen = term or current_term
        if chosen and (last_termination is None or (chosen.get("finishedAt") or "") > (
                last_termination.get("finishedAt") or "")):
            last_termination = {
                "container": cs.get("name"), "reason": chosen.get("reason"),
                "exitCode": chosen.get("exitCode"), "finishedAt": chosen.get("finishedAt"),
                "message": (chosen.get("message") or "")[:300],
            }
    summary = {
        "name": meta.get("name"), "namespace": meta.get("namespace"),
        "status": _pod_status_text(pod), "phase": status.get("phase"),
        "ready": f"{ready}/{total}", "restarts": sum(c["restarts"] for c in containers),
        "node": spec.get("nodeName", ""), "workload": pod_workload(pod),
        "age_s": age_seconds(meta.get("creationTimestamp"), now),
        "last_termination": last_termination, "containers": containers,
    }
    summary["problems"] = pod_problems(summary)
    return summary


def pod_problems(summary: dict[str, Any]) -> list[str]:
    """Plain-language flags for a pod summary; empty when the pod looks healthy."""
    problems = []
    status = summary["status"]
    if status in _BAD_WAITING or status.startswith("Init:") or status in (
            "Error", "OOMKilled", "Evicted", "Unschedulable", "ContainerStatusUnknown"):
        problems.append(status)
    elif summary["phase"] == "Pending":
        problems.append("Pending")
    elif summary["phase"] == "Running" and not _all_ready(summary["ready"]):
        problems.append("NotReady")
    term = summary.get("last_termination")
    if summary["restarts"] and term and term.get("reason") and term["reason"] != "Completed":
        problems.append(f"restarted {summary['restarts']}x, last exit {term['reason']} "
                        f"(code {term.get('exitCode')})")
    elif summary["restarts"] >= 3:
        problems.append(f"restarted {summary['restarts']}x")
    return problems


def _all_ready(ready: str) -> bool:
    have, _, want = ready.partition("/")
    return have == want


def workload_summary(obj: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0) or 0
    available = status.get("availableReplicas", ready) or 0
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing", {})
    summary = {
        "kind": obj.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace"),
        "desired": desired, "ready": ready, "available": available,
        "updated": status.get("updatedReplicas", 0) or 0,
        "images": [c.get("image") for c in containers],
        "revision": (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision"),
        "selector": (spec.get("selector") or {}).get("matchLabels") or {},
        "healthy": available >= desired and progressing.get("status") != "False",
    }
    if progressing.get("status") == "False":
        summary["condition"] = f"{progressing.get('reason')}: {progressing.get('message', '')}"
    return summary


def node_summary(node: dict[str, Any]) -> dict[str, Any]:
    status = node.get("status", {})
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    problems = [t for t, s in conditions.items() if (t == "Ready") != (s == "True")]
    return {
        "name": node.get("metadata", {}).get("name"),
        "ready": conditions.get("Ready") == "True",
        "unschedulable": bool(node.get("spec", {}).get("unschedulable")),
        "problems": problems,
        "allocatable": status.get("allocatable", {}),
    }


def event_summary(event: dict[str, Any]) -> dict[str, Any]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    last = (event.get("lastTimestamp") or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp"))
    return {
        "type": event.get("type", "Normal"), "reason": event.get("reason"),
        "object": f"{involved.get('kind')}/{involved.get('name')}",
        "namespace": involved.get("namespace") or event.get("metadata", {}).get("namespace"),
        "message": (event.get("message") or event.get("note") or "")[:500],
        "count": event.get("count") or (event.get("series") or {}).get("count") or 1,
        "last_seen": last, "first_seen": event.get("firstTimestamp") or last,
        # The node that reported it (kubelet events): names the node even after the pod
        # it is about is gone, as after an eviction.
        "host": (event.get("source") or {}).get("host") or event.get("reportingInstance")
        or (event.get("deprecatedSource") or {}).get("host") or "",
    }


def sort_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Warnings first, then newest first."""
    by_time = sorted(events, key=lambda e: e.get("last_seen") or "", reverse=True)
    return sorted(by_time, key=lambda e: e.get("type") != "Warning")


def rollout_history(deployment: dict[str, Any],
                    replicasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Revisions of a Deployment from its ReplicaSets, newest first."""
    uid = deployment.get("metadata", {}).get("uid")
    current = (deployment.get("metadata", {}).get("annotations") or {}).get(
        "deployment.kubernetes.io/revision")
    rows = []
    for rs in replicasets:
        meta = rs.get("metadata", {})
        owners = [o.get("uid") for o in meta.get("ownerReferences") or []]
        if uid and owners and uid not in owners:
            continue
        annotations = meta.get("annotations") or {}
        revision = annotations.get("deployment.kubernetes.io/revision")
        if revision is None:
            continue
        containers = rs.get("spec", {}).get("template", {}).get("spec", {}).get(
            "containers") or []
        rows.append({
            "template": rs.get("spec", {}).get("template", {}),
            "revision": int(revision), "replicaset": meta.get("name"),
            "images": [c.get("image") for c in containers],
            "change_cause": annotations.get("kubernetes.io/change-cause", ""),
            "created": meta.get("creationTimestamp"),
            "replicas": rs.get("status", {}).get("replicas", 0) or 0,
            "current": revision == current,
        })
    rows.sort(key=lambda r: r["revision"], reverse=True)
    for newer, older in zip(rows, [*rows[1:], None], strict=True):
        newer["changes"] = template_changes(older["template"], newer["template"]) if older \
            else []
    for row in rows:
        del row["template"]
    return rows


def _containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("name", ""): c for c in (template.get("spec") or {}).get("containers") or []}


def template_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a rollout changed in the pod template, by name only: env values can hold
    credentials, so values are never repeated."""
    changes: list[str] = []
    before, after = _containers(old), _containers(new)
    for name in sorted(set(before) | set(after)):
        if name not in after:
            changes.append(f"container {name} removed")
            continue
        if name not in before:
            changes.append(f"container {name} added")
            continue
        a, b = before[name], after[name]
        if a.get("image") != b.get("image"):
            changes.append(f"{name}: image {a.get('image')} -> {b.get('image')}")
        env_a = {e.get("name"): e for e in a.get("env") or []}
        env_b = {e.get("name"): e for e in b.get("env") or []}
        for key in sorted(set(env_a) - set(env_b)):
            changes.append(f"{name}: env {key} removed")
        for key in sorted(set(env_b) - set(env_a)):
            changes.append(f"{name}: env {key} added")
        for key in sorted(set(env_a) & set(env_b)):
            if env_a[key] != env_b[key]:
                changes.append(f"{name}: env {key} changed")
        if (a.get("resources") or {}) != (b.get("resources") or {}):
            changes.append(f"{name}: resources {a.get('resources') or {}} -> "
                           f"{b.get('resources') or {}}")
        for field in ("command", "args", "livenessProbe", "readinessProbe", "envFrom"):
            if a.get(field) != b.get(field):
                changes.append(f"{name}: {field} changed")
    return changes
