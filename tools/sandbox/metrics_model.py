"""What Prometheus would scrape from the sandbox at any instant: cAdvisor-style container
metrics, kube-state-metrics series and service request metrics.

One model serves the live /metrics endpoint and the backfilled history, so both show the
same series with the same values. Pod series exist only while their pod does; pods of old
ReplicaSets appear in the history under their own names.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from tools.sandbox import ids, quantity
from tools.sandbox.controller import Controller
from tools.sandbox.exposition import Labels, text_exposition
from tools.sandbox.lifecycle import ContainerSim, PodRecord
from tools.sandbox.load import LoadCurve
from tools.sandbox.scenarios import Scenario
from tools.sandbox.selection import LabelSelector
from tools.sandbox.traffic import BUCKETS, Accumulator, Group, main_container

__all__ = ["HISTORY_S", "MetricsModel", "Sample"]

Sample = tuple[str, Labels, float]
HISTORY_S = 7 * 86400.0
_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
_STATUSES = ("true", "false", "unknown")


class MetricsModel:
    def __init__(self, controller: Controller, scenario: Scenario, start: float) -> None:
        self.controller = controller
        self.scenario = scenario
        # Counters start a little before the history so its first samples are not zero.
        self.origin = start - HISTORY_S - 3600.0
        self.groups: dict[tuple[str, str], Group] = {}
        self._known = 0
        self._live: dict[tuple[str, str], Accumulator] = {}
        self._services: dict[tuple[str, str], str | None] = {}
        self._seeds: dict[tuple[str, str], int] = {}

    # -- groups ------------------------------------------------------------------------
    def _sync_groups(self) -> None:
        records = self.controller.records
        if len(records) == self._known:
            return
        for record in list(records.values())[self._known:]:
            key = (record.namespace, record.workload)
            group = self.groups.get(key)
            if group is None:
                base = self.scenario.traffic.get(key, 0.0)
                group = Group(record.namespace, record.workload,
                              LoadCurve(base, f"{key[0]}/{key[1]}", self.origin))
                self.groups[key] = group
            group.members.append(record)
            main = main_container(record)
            if main is not None and main.behaviour is not None and main.behaviour.serves_http \
                    and group.load.base > 0:
                group.http = True
        self._known = len(records)

    def _group(self, namespace: str, name: str) -> Group | None:
        return self.groups.get((namespace, name))

    def accumulators(self, fresh: bool) -> dict[tuple[str, str], Accumulator]:
        """The live accumulators, or new ones from the origin (for the history)."""
        self._sync_groups()
        target: dict[tuple[str, str], Accumulator] = {} if fresh else self._live
        for key, group in self.groups.items():
            if key not in target:
                target[key] = Accumulator(group, self.origin, self._group,
                                          lambda: self.controller.epoch)
        return target

    def utilization(self, namespace: str, name: str, t: float) -> float | None:
        """Average CPU of the workload's ready pods in percent of their requests."""
        self._sync_groups()
        group = self.groups.get((namespace, name))
        if group is None:
            return None
        ready = group.ready_members(t)
        if not ready:
            return None
        total = 0.0
        for record in ready:
            main = main_container(record)
            if main is None or main.behaviour is None:
                return None
            request = quantity.parse(((main.spec.get("resources") or {}).get("requests") or {})
                                     .get("cpu", 0))
            if not request:
                return None
            used = main.behaviour.cpu_idle_cores + main.behaviour.cpu_per_request * \
                group.load.rate(t) / len(ready)
            total += used / request * 100
        return total / len(ready)

    def usage(self, t: float) -> dict[str, list[tuple[str, float, float]]]:
        """Per live pod uid: (container, CPU cores, memory bytes) now, for metrics.k8s.io."""
        accs = self.accumulators(fresh=False)
        out: dict[str, list[tuple[str, float, float]]] = {}
        for key, acc in accs.items():
            acc.advance(t)
            for record in self.groups[key].members:
                if not record.alive(t):
                    continue
                rows = []
                for c in record.containers:
                    if c.timeline.running(t):
                        memory = self._memory(record, c, t) or 0.0
                        rows.append((c.name, acc.rate(("cpu", record.uid, c.name), t), memory))
                out[record.uid] = rows
        return out

    # -- samples -----------------------------------------------------------------------
    def _service_name(self, group: Group) -> str | None:
        for svc in self.controller.objs.list("Service", group.namespace):
            selector = (svc.get("spec") or {}).get("selector")
            if selector and group.members and LabelSelector.from_spec(selector).matches(
                    group.members[-1].labels):
                return str(svc["metadata"]["name"])
        return None

    def _traffic(self, t: float, accs: dict[tuple[str, str], Accumulator],
                 day_tier: bool) -> Iterator[Sample]:
        for key, acc in accs.items():
            acc.advance(t)
            group = acc.group
            level = group.load.integral(t)
            if group.http and group.members and group.members[0].created <= t:
                service = self._services.get(key)
                if service:
                    base = (("namespace", group.namespace), ("service", service))
                    for series in sorted(k for k in acc.series() if k[0] == "http"):
                        value = math.floor(acc.value(series, t, level))
                        if value > 0:
                            yield "http_requests_total", (*base, ("code", series[1])), value
                    for le in BUCKETS:
                        yield ("http_request_duration_seconds_bucket", (*base, ("le", le)),
                               math.floor(acc.value(("bucket", le), t, level)))
                    yield ("http_request_duration_seconds_sum", base,
                           round(acc.value(("sum",), t, level), 3))
                    yield ("http_request_duration_seconds_count", base,
                           math.floor(acc.value(("count",), t, level)))
            for record in group.members:
                if not record.alive(t):
                    continue
                for c in record.containers:
                    if not c.timeline.running(t):
                        continue
                    labels = (("namespace", record.namespace), ("pod", record.name),
                              ("container", c.name))
                    uid = record.uid
                    yield ("container_cpu_usage_seconds_total", labels,
                           round(acc.value(("cpu", uid, c.name), t, level), 6))
                    memory = self._memory(record, c, t)
                    if memory is not None:
                        yield "container_memory_working_set_bytes", labels, memory
                    if day_tier and c.cpu_limit:
                        yield ("container_cpu_cfs_periods_total", labels,
                               math.floor(acc.value(("cfs", uid, c.name), t, level)))
                        yield ("container_cpu_cfs_throttled_periods_total", labels,
                               math.floor(acc.value(("thr", uid, c.name), t, level)))

    def _memory(self, record: PodRecord, c: ContainerSim, t: float) -> float | None:
        run = c.timeline.current(t)
        b = c.behaviour
        if run is None or b is None:
            return None
        seed = self._seeds.get((record.uid, c.name))
        if seed is None:
            seed = self._seeds[(record.uid, c.name)] = ids.digest(record.uid, c.name)
        value = b.memory_bytes(t - run.start)
        value *= 1 + 0.012 * ids.smooth_noise(seed, t / 90)
        if c.memory_limit:
            value = min(value, c.memory_limit - 2**20)
        return float(round(value))

    def _pod_state(self, record: PodRecord, t: float, day_tier: bool) -> Iterator[Sample]:
        pod = (("namespace", record.namespace), ("pod", record.name))
        for c in record.containers:
            labels = (*pod, ("container", c.name))
            if day_tier:
                resources = c.spec.get("resources") or {}
                for family, section in (("kube_pod_container_resource_limits", "limits"),
                                        ("kube_pod_container_resource_requests", "requests")):
                    values = resources.get(section) or {}
                    if section == "requests":
                        values = {**(resources.get("limits") or {}), **values}
                    for resource, unit in (("cpu", "core"), ("memory", "byte")):
                        if resource in values:
                            yield (family, (*labels, ("resource", resource), ("unit", unit)),
                                   quantity.parse(values[resource]))
                yield ("kube_pod_container_status_ready", labels,
                       1.0 if c.timeline.ready(t) else 0.0)
                ended = [r for r in c.timeline.runs_until(t) if r.end is not None
                         and r.end <= t and r.reason]
                if ended:
                    yield ("kube_pod_container_status_last_terminated_reason",
                           (*labels, ("reason", ended[-1].reason)), 1.0)
            yield "kube_pod_container_status_restarts_total", labels, c.timeline.restarts(t)
        if day_tier:
            started = any(c.timeline.current(t) is not None for c in record.containers)
            phase = "Running" if started else "Pending"
            for name in _PHASES:
                yield "kube_pod_status_phase", (*pod, ("phase", name)), float(name == phase)

    def _frozen_pods(self) -> Iterator[Sample]:
        """kube-state series of loaded pods, read from their recorded status."""
        frozen = self.controller.frozen
        for obj in self.controller.objs.list("Pod"):
            meta = obj["metadata"]
            if meta["uid"] not in frozen:
                continue
            pod = (("namespace", meta["namespace"]), ("pod", meta["name"]))
            status = obj.get("status") or {}
            for cs in status.get("containerStatuses") or []:
                labels = (*pod, ("container", cs["name"]))
                yield "kube_pod_container_status_restarts_total", labels, cs.get(
                    "restartCount", 0)
                yield "kube_pod_container_status_ready", labels, float(bool(cs.get("ready")))
                reason = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason")
                if reason:
                    yield ("kube_pod_container_status_last_terminated_reason",
                           (*labels, ("reason", reason)), 1.0)
            phase = status.get("phase", "Unknown")
            for name in _PHASES:
                yield "kube_pod_status_phase", (*pod, ("phase", name)), float(name == phase)

    def _workloads(self, t: float, day_tier: bool) -> Iterator[Sample]:
        ctl = self.controller
        for (namespace, name), log in ctl.deployment_log.items():
            state = ctl.deployment_state(namespace, name, t)
            if not log or state is None:
                continue
            labels = (("namespace", namespace), ("deployment", name))
            yield "kube_deployment_spec_replicas", labels, state[0]
            yield "kube_deployment_status_replicas_available", labels, state[2]
            yield "kube_deployment_status_replicas_unavailable", labels, state[3]
        for hpa in ctl.objs.list("HorizontalPodAutoscaler"):
            meta, spec = hpa["metadata"], hpa.get("spec") or {}
            if ids.parse_time(meta["creationTimestamp"]) > t:
                continue
            target = (spec.get("scaleTargetRef") or {}).get("name", "")
            state = ctl.deployment_state(meta["namespace"], target, t)
            labels = (("namespace", meta["namespace"]),
                      ("horizontalpodautoscaler", meta["name"]))
            yield "kube_horizontalpodautoscaler_spec_max_replicas", labels, spec.get(
                "maxReplicas", 0)
            yield ("kube_horizontalpodautoscaler_status_current_replicas", labels,
                   state[1] if state else 0)
        for node in ctl.objs.list("Node"):
            for cond in (node.get("status") or {}).get("conditions") or []:
                if cond.get("type") != "Ready" and not day_tier:
                    continue
                for status in _STATUSES:
                    yield ("kube_node_status_condition",
                           (("node", node["metadata"]["name"]), ("condition", cond["type"]),
                            ("status", status)),
                           float(str(cond.get("status", "")).lower() == status))
        for (namespace, claim), growth in self.scenario.volumes.items():
            pvc = ctl.objs.get("PersistentVolumeClaim", namespace, claim)
            if pvc is None or ids.parse_time(pvc["metadata"]["creationTimestamp"]) > t:
                continue
            created = ids.parse_time(pvc["metadata"]["creationTimestamp"])
            capacity = quantity.parse(((pvc.get("status") or {}).get("capacity") or {}).get(
                "storage", 0))
            used = growth.base_bytes + growth.bytes_per_day * (t - created) / 86400
            used *= 1 + 0.003 * ids.smooth_noise(ids.digest("pvc", claim), t / 1800)
            labels = (("namespace", namespace), ("persistentvolumeclaim", claim))
            yield "kubelet_volume_stats_used_bytes", labels, float(round(min(used, capacity)))
            yield "kubelet_volume_stats_capacity_bytes", labels, capacity

    def samples(self, t: float, accs: dict[tuple[str, str], Accumulator], *,
                day_tier: bool = True, live: bool = True) -> Iterator[Sample]:
        """Every sample at t; `day_tier=False` keeps only the series the week-long history
        carries (request, CPU and memory, restarts, workload and node readiness)."""
        self._services = {key: self._service_name(acc.group) for key, acc in accs.items()
                          if acc.group.http}
        yield from self._traffic(t, accs, day_tier)
        for record in list(self.controller.records.values()):
            if record.alive(t):
                yield from self._pod_state(record, t, day_tier)
        if live:
            yield from self._frozen_pods()
        yield from self._workloads(t, day_tier)

    def exposition(self, t: float) -> str:
        return text_exposition(self.samples(t, self.accumulators(fresh=False)))
