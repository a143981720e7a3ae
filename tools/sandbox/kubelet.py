"""The kubelet's view of a simulated pod: its status and the events it reports.

Both are read off the container timelines at a given instant, so `kubectl get pods`,
`describe` and the metrics agree about restarts, back-off and readiness.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from tools.sandbox import ids, quantity
from tools.sandbox.events import Occurrence
from tools.sandbox.lifecycle import ContainerSim, PodRecord, Run, backoff_s

__all__ = ["go_duration", "occurrences", "pod_phase", "pod_status", "pull_attempts",
           "status_valid_until"]

_TICK_S = 10.0  # how often the kubelet re-reports a waiting container
_PROBE_WINDOW_S = 30.0  # a container about to be OOM-killed stops answering probes


def go_duration(seconds: float) -> str:
    """Go's time.Duration formatting for whole seconds (1m20s, 5m0s)."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    minutes, rest = divmod(s, 60)
    if minutes < 60:
        return f"{minutes}m{rest}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s"


def pull_attempts(first: float, until: float) -> Iterator[float]:
    """Times the kubelet tries to pull an image that cannot be pulled."""
    t, k = first, 0
    while t <= until:
        yield t
        k += 1
        t += 2.0 + backoff_s(k)


def _container_id(record: PodRecord, c: ContainerSim, run: Run) -> str:
    return "containerd://" + "".join(
        f"{ids.digest(record.uid, c.name, run.index, part):016x}" for part in range(4))


def _image_id(image: str) -> str:
    name = image.rpartition(":")[0] if ":" in image.rpartition("/")[2] else image
    digest = "".join(f"{ids.digest(image, part):016x}" for part in range(4))
    return f"docker.io/{name}@sha256:{digest}"


def _terminated(record: PodRecord, c: ContainerSim, run: Run) -> dict[str, Any]:
    assert run.end is not None
    return {"terminated": {
        "exitCode": run.exit_code, "reason": run.reason or "Completed",
        "startedAt": ids.rfc3339(run.start), "finishedAt": ids.rfc3339(run.end),
        "containerID": _container_id(record, c, run)}}


def _waiting_without_run(record: PodRecord, c: ContainerSim, t: float) -> dict[str, Any]:
    fault = c.timeline.fault
    if fault.kind == "pull":
        last = max(pull_attempts(c.timeline.first_start, t), default=c.timeline.first_start)
        if t - last < 2.0:
            return {"reason": "ErrImagePull", "message": fault.detail}
        return {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{c.image}"'}
    if fault.kind == "config":
        return {"reason": "CreateContainerConfigError", "message": fault.detail}
    return {"reason": "ContainerCreating"}


def container_status(record: PodRecord, c: ContainerSim, t: float) -> dict[str, Any]:
    run = c.timeline.current(t)
    status: dict[str, Any] = {"name": c.name, "image": c.image, "imageID": "",
                              "ready": False, "restartCount": 0, "started": False,
                              "lastState": {}}
    if run is None:
        status["state"] = {"waiting": _waiting_without_run(record, c, t)}
        return status
    status["imageID"] = _image_id(c.image)
    status["restartCount"] = run.index
    if run.end is None or t < run.end:
        status["state"] = {"running": {"startedAt": ids.rfc3339(run.start)}}
        status["ready"] = run.ready_at is not None and run.ready_at <= t
        status["started"] = True
        status["containerID"] = _container_id(record, c, run)
        if run.index > 0:
            status["lastState"] = _terminated(record, c, c.timeline.runs[run.index - 1])
        return status
    status["lastState"] = _terminated(record, c, run)
    delay = go_duration(backoff_s(run.failures))
    status["state"] = {"waiting": {
        "reason": "CrashLoopBackOff",
        "message": f"back-off {delay} restarting failed container={c.name} "
                   f"pod={record.name}_{record.namespace}({record.uid})"}}
    return status


def pod_phase(record: PodRecord, t: float) -> str:
    started = any(c.timeline.current(t) is not None for c in record.containers)
    return "Running" if started else "Pending"


def _qos(containers: list[ContainerSim]) -> str:
    requests = [c.spec.get("resources", {}).get("requests") or {} for c in containers]
    limits = [c.spec.get("resources", {}).get("limits") or {} for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu") and lim.get("memory")
        and quantity.parse(req.get("cpu", lim["cpu"])) == quantity.parse(lim["cpu"])
        and quantity.parse(req.get("memory", lim["memory"])) == quantity.parse(lim["memory"])
        for req, lim in zip(requests, limits, strict=True))
    return "Guaranteed" if guaranteed else "Burstable"


def pod_status(record: PodRecord, t: float, host_ip: str) -> dict[str, Any]:
    statuses = [container_status(record, c, t) for c in record.containers]
    ready = bool(statuses) and all(s["ready"] for s in statuses)
    changes = [c.timeline.last_change(t) for c in record.containers]
    flipped = ids.rfc3339(max(changes) if changes else record.scheduled)
    scheduled = ids.rfc3339(record.scheduled)
    unready = [s["name"] for s in statuses if not s["ready"]]
    ready_cond: dict[str, Any] = {"type": "Ready", "status": "True" if ready else "False",
                                  "lastProbeTime": None, "lastTransitionTime": flipped}
    if not ready:
        ready_cond.update(reason="ContainersNotReady",
                          message=f"containers with unready status: [{' '.join(unready)}]")
    containers_ready = dict(ready_cond, type="ContainersReady")
    return {
        "phase": pod_phase(record, t),
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": ids.rfc3339(record.scheduled + 1)},
            {"type": "Initialized", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": scheduled},
            ready_cond, containers_ready,
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": scheduled},
        ],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "podIP": record.ip, "podIPs": [{"ip": record.ip}],
        "startTime": scheduled,
        "containerStatuses": statuses,
        "qosClass": _qos(record.containers),
    }


def status_valid_until(record: PodRecord, t: float) -> float:
    """Until when `pod_status(record, t)` stays the same."""
    moments = []
    for c in record.containers:
        if c.timeline.fault.kind == "pull" and c.timeline.current(t) is None:
            moments.append(t + 1.0)  # ErrImagePull and ImagePullBackOff alternate
        elif c.timeline.fault.kind == "config":
            moments.append(t)  # may change whenever a ConfigMap does
        else:
            nxt = c.timeline.next_transition(t)
            if nxt is not None:
                moments.append(nxt)
    return min(moments) if moments else float("inf")


# -- events ------------------------------------------------------------------------------
class _Batch:
    """Occurrences of one kind of event inside one reporting window."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str, str], list[float]] = {}

    def add(self, kind: tuple[str, str, str, str], first: float, last: float,
            count: int = 1) -> None:
        if count <= 0:
            return
        entry = self.items.setdefault(kind, [first, last, 0])
        entry[0] = min(entry[0], first)
        entry[1] = max(entry[1], last)
        entry[2] += count


def _ticks(start: float, stop: float, a: float, b: float) -> tuple[int, float, float]:
    """Ticks start + k*10s (< stop) that fall in (a, b]: count, first, last."""
    hi = min(b, stop - 1e-9)
    if hi < start:
        return 0, 0.0, 0.0
    k_first = max(0, math.floor((a - start) / _TICK_S) + 1) if a >= start else 0
    k_last = math.floor((hi - start) / _TICK_S)
    if k_last < k_first:
        return 0, 0.0, 0.0
    return k_last - k_first + 1, start + k_first * _TICK_S, start + k_last * _TICK_S


def _run_events(batch: _Batch, record: PodRecord, c: ContainerSim, a: float,
                b: float) -> list[tuple[float, str]]:
    """Container start/crash events; returns OOM kill times for the node's events."""
    timeline = c.timeline
    runs = timeline.runs_until(b + 1.0)  # Pulled and Created come just before a start
    ooms: list[tuple[float, str]] = []
    probe = c.spec.get("readinessProbe")
    for run in runs:
        next_start = (timeline.runs[run.index + 1].start
                      if run.index + 1 < len(timeline.runs) else math.inf)
        if run.end is not None and run.end <= a and next_start <= a:
            continue
        for offset, reason, message in (
                (-0.8, "Pulled", f'Container image "{c.image}" already present on machine'),
                (-0.3, "Created", f"Created container {c.name}"),
                (0.0, "Started", f"Started container {c.name}")):
            moment = max(run.start + offset, record.scheduled)
            if a < moment <= b:
                batch.add(("Normal", reason, message, "kubelet"), moment, moment)
        if run.end is None or not run.reason:
            continue
        if a < run.end <= b and run.reason == "OOMKilled":
            ooms.append((run.end, c.name))
        if probe and run.reason == "OOMKilled":
            path = (probe.get("httpGet") or {}).get("path", "/ready")
            port = (probe.get("httpGet") or {}).get("port", 8080)
            message = (f'Readiness probe failed: Get "http://{record.ip}:{port}{path}": '
                       "context deadline exceeded (Client.Timeout exceeded while awaiting "
                       "headers)")
            count, first, last = _ticks(run.end - _PROBE_WINDOW_S, run.end, a, b)
            batch.add(("Warning", "Unhealthy", message, "kubelet"), first, last, count)
        stop = min(next_start, timeline.stopped if timeline.stopped is not None else math.inf)
        count, first, last = _ticks(run.end + 1.0, stop, a, b)
        message = (f"Back-off restarting failed container {c.name} in pod "
                   f"{record.name}_{record.namespace}({record.uid})")
        batch.add(("Warning", "BackOff", message, "kubelet"), first, last, count)
    return ooms


def _waiting_events(batch: _Batch, c: ContainerSim, a: float, b: float) -> None:
    timeline = c.timeline
    stop = timeline.stopped if timeline.stopped is not None else math.inf
    if timeline.fault.kind == "config":
        count, first, last = _ticks(timeline.first_start, stop, a, b)
        batch.add(("Warning", "Failed", f"Error: {timeline.fault.detail}", "kubelet"),
                  first, last, count)
        return
    attempts = list(pull_attempts(timeline.first_start, min(b, stop)))
    if not attempts:
        return  # the first pull has not been tried yet
    for attempt in attempts:
        if a < attempt <= b:
            batch.add(("Normal", "Pulling", f'Pulling image "{c.image}"', "kubelet"),
                      attempt, attempt)
            failed = f'Failed to pull image "{c.image}": {timeline.fault.detail}'
            batch.add(("Warning", "Failed", failed, "kubelet"), attempt + 1, attempt + 1)
            batch.add(("Warning", "Failed", "Error: ErrImagePull", "kubelet"),
                      attempt + 1, attempt + 1)
    for attempt, following in zip(attempts, [*attempts[1:], stop], strict=True):
        count, first, last = _ticks(attempt + 2.0, following, a, b)
        batch.add(("Normal", "BackOff", f'Back-off pulling image "{c.image}"', "kubelet"),
                  first, last, count)
        batch.add(("Warning", "Failed", "Error: ImagePullBackOff", "kubelet"),
                  first, last, count)


def occurrences(record: PodRecord, a: float, b: float, node: dict[str, Any]) -> list[
        Occurrence]:
    """Everything the kubelet (and the node's kernel monitor) reports in (a, b]."""
    out: list[Occurrence] = []
    pod_ref = {"kind": "Pod", "namespace": record.namespace, "name": record.name,
               "uid": record.uid, "apiVersion": "v1"}
    node_meta = node.get("metadata", {})
    node_ref = tuple(sorted({"kind": "Node", "name": node_meta.get("name", record.node),
                             "uid": node_meta.get("uid", ""), "apiVersion": "v1"}.items()))
    for c in record.containers:
        batch = _Batch()
        ooms: list[tuple[float, str]] = []
        if c.timeline.fault.kind in ("pull", "config"):
            _waiting_events(batch, c, a, b)
        else:
            ooms = _run_events(batch, record, c, a, b)
        involved = tuple(sorted(dict(pod_ref, fieldPath=f"spec.containers{{{c.name}}}")
                                .items()))
        for (kind, reason, message, component), (first, last, count) in batch.items.items():
            out.append(Occurrence(involved, kind, reason, message, component, first, last,
                                  int(count), record.node))
        if ooms:
            pid = 1000 + ids.digest(record.uid, c.name) % 60000
            limit_kb = int(c.memory_limit // 1024)
            process = {"java": "java", "python": "python3", "node": "node"}.get(
                c.behaviour.runtime if c.behaviour else "", c.name)
            message = (f"Memory cgroup out of memory: Killed process {pid} ({process}) "
                       f"total-vm:{limit_kb * 4}kB, anon-rss:{limit_kb}kB, file-rss:0kB, "
                       f"shmem-rss:0kB, UID:1000 pgtables:{limit_kb // 256}kB "
                       f"oom_score_adj:{999 if not c.memory_limit else 985}")
            out.append(Occurrence(node_ref, "Warning", "OOMKilling", message,
                                  "kernel-monitor", ooms[0][0], ooms[-1][0], len(ooms),
                                  record.node))
    return out
