"""Server-side printing: `meta.k8s.io/v1` Tables, the columns `kubectl get` shows.

kubectl asks for a Table and prints what the server computes, so the READY, STATUS and
RESTARTS columns of pods (CrashLoopBackOff, "14 (3m ago)") are worked out here the way
the API server's printers do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.sandbox import ids

__all__ = ["pod_summary", "render"]

Obj = dict[str, Any]
Cell = Callable[[Obj, float], Any]


def _age(obj: Obj, now: float) -> str:
    stamp = obj.get("metadata", {}).get("creationTimestamp")
    return ids.human_age(now - ids.parse_time(stamp)) if stamp else "<unknown>"


def _since(stamp: str | None, now: float) -> str:
    return ids.human_age(now - ids.parse_time(stamp)) if stamp else "<unknown>"


def pod_summary(pod: Obj, now: float) -> tuple[str, str, str]:
    """(READY, STATUS, RESTARTS) as kubectl prints them."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    statuses = status.get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    ready = restarts = 0
    last_restart = ""
    running = False
    for container in reversed(statuses):
        restarts += int(container.get("restartCount", 0))
        finished = ((container.get("lastState") or {}).get("terminated") or {}).get(
            "finishedAt")
        if finished and finished > last_restart:
            last_restart = finished
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif container.get("ready") and "running" in state:
            running = True
            ready += 1
    if reason == "Completed" and running:
        reason = "Running"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    shown = f"{restarts} ({_since(last_restart, now)} ago)" if last_restart else str(restarts)
    return f"{ready}/{total}", reason, shown


def _containers(spec: Obj) -> list[Obj]:
    return ((spec.get("template") or {}).get("spec") or {}).get("containers") or []


def _workload_wide() -> list[tuple[str, int, Cell]]:
    return [
        ("Containers", 1, lambda o, _n: ",".join(c["name"] for c in _containers(o["spec"]))),
        ("Images", 1, lambda o, _n: ",".join(c.get("image", "") for c in _containers(o["spec"]))),
        ("Selector", 1, lambda o, _n: ",".join(
            f"{k}={v}" for k, v in ((o["spec"].get("selector") or {}).get("matchLabels")
                                    or {}).items())),
    ]


def _st(o: Obj, key: str) -> int:
    return int((o.get("status") or {}).get(key, 0) or 0)


def _ports(o: Obj, _now: float) -> str:
    out = []
    for p in (o.get("spec") or {}).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        out.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _endpoints(o: Obj, _now: float) -> str:
    addresses = []
    for subset in o.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or [{}]:
                addresses.append(f"{address['ip']}:{port.get('port', '')}")
    if not addresses:
        return "<none>"
    more = f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    return ",".join(addresses[:3]) + more


def _node_status(o: Obj, _now: float) -> str:
    for cond in (o.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            text = "Ready" if cond.get("status") == "True" else "NotReady"
            return text + (",SchedulingDisabled" if o["spec"].get("unschedulable") else "")
    return "Unknown"


def _roles(o: Obj, _now: float) -> str:
    roles = [k.rpartition("/")[2] for k in o.get("metadata", {}).get("labels") or {}
             if k.startswith("node-role.kubernetes.io/")]
    return ",".join(roles) or "<none>"


def _hpa_targets(o: Obj, _now: float) -> str:
    current = {m["resource"]["name"]: m["resource"]["current"].get("averageUtilization")
               for m in (o.get("status") or {}).get("currentMetrics") or []
               if m.get("type") == "Resource"}
    out = []
    for metric in (o.get("spec") or {}).get("metrics") or []:
        resource = metric.get("resource") or {}
        goal = (resource.get("target") or {}).get("averageUtilization")
        now_value = current.get(resource.get("name"))
        shown = f"{now_value}%" if now_value is not None else "<unknown>"
        out.append(f"{resource.get('name')}: {shown}/{goal}%")
    return ", ".join(out) or "<none>"


def _quota(o: Obj, prefix: bool) -> str:
    status = o.get("status") or {}
    used = status.get("used") or {}
    parts = [f"{k}: {used.get(k, '0')}/{v}" for k, v in sorted((status.get("hard") or {})
                                                               .items())
             if k.startswith("limits.") == prefix]
    return ", ".join(parts)


def _event_object(o: Obj, _now: float) -> str:
    involved = o.get("involvedObject") or o.get("regarding") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last(o: Obj, now: float) -> str:
    stamp = o.get("lastTimestamp") or o.get("deprecatedLastTimestamp") or o.get("eventTime")
    return _since(stamp, now)


_NAME: tuple[str, int, Cell] = ("Name", 0, lambda o, _n: o["metadata"]["name"])
_AGE: tuple[str, int, Cell] = ("Age", 0, _age)

_COLUMNS: dict[str, list[tuple[str, int, Cell]]] = {
    "Pod": [_NAME, ("Ready", 0, lambda o, n: pod_summary(o, n)[0]),
            ("Status", 0, lambda o, n: pod_summary(o, n)[1]),
            ("Restarts", 0, lambda o, n: pod_summary(o, n)[2]), _AGE,
            ("IP", 1, lambda o, _n: (o.get("status") or {}).get("podIP") or "<none>"),
            ("Node", 1, lambda o, _n: o["spec"].get("nodeName") or "<none>"),
            ("Nominated Node", 1, lambda o, _n: "<none>"),
            ("Readiness Gates", 1, lambda o, _n: "<none>")],
    "Deployment": [_NAME, ("Ready", 0, lambda o, _n: f"{_st(o, 'readyReplicas')}/"
                                                     f"{o['spec'].get('replicas', 1)}"),
                   ("Up-to-date", 0, lambda o, _n: _st(o, "updatedReplicas")),
                   ("Available", 0, lambda o, _n: _st(o, "availableReplicas")), _AGE,
                   *_workload_wide()],
    "ReplicaSet": [_NAME, ("Desired", 0, lambda o, _n: o["spec"].get("replicas", 1)),
                   ("Current", 0, lambda o, _n: _st(o, "replicas")),
                   ("Ready", 0, lambda o, _n: _st(o, "readyReplicas")), _AGE,
                   *_workload_wide()],
    "StatefulSet": [_NAME, ("Ready", 0, lambda o, _n: f"{_st(o, 'readyReplicas')}/"
                                                      f"{o['spec'].get('replicas', 1)}"),
                    _AGE, *_workload_wide()[:2]],
    "Service": [_NAME, ("Type", 0, lambda o, _n: o["spec"].get("type", "ClusterIP")),
                ("Cluster-IP", 0, lambda o, _n: o["spec"].get("clusterIP", "<none>")),
                ("External-IP", 0, lambda o, _n: "<none>"), ("Port(s)", 0, _ports), _AGE,
                ("Selector", 1, lambda o, _n: ",".join(
                    f"{k}={v}" for k, v in (o["spec"].get("selector") or {}).items())
                 or "<none>")],
    "Endpoints": [_NAME, ("Endpoints", 0, _endpoints), _AGE],
    "Node": [_NAME, ("Status", 0, _node_status), ("Roles", 0, _roles), _AGE,
             ("Version", 0, lambda o, _n: o["status"]["nodeInfo"].get("kubeletVersion", "")),
             ("Internal-IP", 1, lambda o, _n: next(
                 (a["address"] for a in o["status"].get("addresses") or []
                  if a.get("type") == "InternalIP"), "<none>")),
             ("External-IP", 1, lambda o, _n: "<none>"),
             ("OS-Image", 1, lambda o, _n: o["status"]["nodeInfo"].get("osImage", "")),
             ("Kernel-Version", 1, lambda o, _n: o["status"]["nodeInfo"].get(
                 "kernelVersion", "")),
             ("Container-Runtime", 1, lambda o, _n: o["status"]["nodeInfo"].get(
                 "containerRuntimeVersion", ""))],
    "Namespace": [_NAME, ("Status", 0, lambda o, _n: (o.get("status") or {}).get(
        "phase", "Active")), _AGE],
    "Event": [("Last Seen", 0, _event_last),
              ("Type", 0, lambda o, _n: o.get("type", "")),
              ("Reason", 0, lambda o, _n: o.get("reason", "")),
              ("Object", 0, _event_object),
              ("Message", 0, lambda o, _n: o.get("message") or o.get("note", ""))],
    "ConfigMap": [_NAME, ("Data", 0, lambda o, _n: len(o.get("data") or {})
                          + len(o.get("binaryData") or {})), _AGE],
    "Secret": [_NAME, ("Type", 0, lambda o, _n: o.get("type", "Opaque")),
               ("Data", 0, lambda o, _n: len(o.get("data") or {})), _AGE],
    "PersistentVolumeClaim": [
        _NAME, ("Status", 0, lambda o, _n: (o.get("status") or {}).get("phase", "Pending")),
        ("Volume", 0, lambda o, _n: o["spec"].get("volumeName", "")),
        ("Capacity", 0, lambda o, _n: ((o.get("status") or {}).get("capacity") or {}).get(
            "storage", "")),
        ("Access Modes", 0, lambda o, _n: ",".join(
            {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}.get(m, m)
            for m in (o.get("status") or {}).get("accessModes") or [])),
        ("StorageClass", 0, lambda o, _n: o["spec"].get("storageClassName", "")),
        ("VolumeAttributesClass", 0, lambda o, _n: "<unset>"), _AGE,
        ("VolumeMode", 1, lambda o, _n: o["spec"].get("volumeMode", "Filesystem"))],
    "HorizontalPodAutoscaler": [
        _NAME, ("Reference", 0, lambda o, _n: f"{o['spec']['scaleTargetRef']['kind']}/"
                                              f"{o['spec']['scaleTargetRef']['name']}"),
        ("Targets", 0, _hpa_targets),
        ("MinPods", 0, lambda o, _n: o["spec"].get("minReplicas", 1)),
        ("MaxPods", 0, lambda o, _n: o["spec"].get("maxReplicas")),
        ("Replicas", 0, lambda o, _n: _st(o, "currentReplicas")), _AGE],
    "ResourceQuota": [_NAME, _AGE, ("Request", 0, lambda o, _n: _quota(o, False)),
                      ("Limit", 0, lambda o, _n: _quota(o, True))],
}


def _cell(cell: Cell, obj: Obj, now: float) -> Any:
    # Loaded objects may lack fields a live cluster always sets; show what kubectl does.
    try:
        return cell(obj, now)
    except (KeyError, TypeError, AttributeError, ValueError):
        return "<unknown>"


def render(kind: str, objs: list[Obj], now: float, resource_version: str) -> Obj:
    columns = _COLUMNS.get(kind, [_NAME, _AGE])
    definitions = [{"name": name, "type": "string", "format": "name" if name == "Name" else "",
                    "description": name, "priority": priority}
                   for name, priority, _cell in columns]
    rows = [{"cells": [_cell(cell, obj, now) for _name, _priority, cell in columns],
             "object": obj} for obj in objs]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
