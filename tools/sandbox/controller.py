"""The control loop of the sandbox: lazily driven by an injectable clock.

Nothing runs in the background. `reconcile(now)` replays the cluster forward from the
last instant it saw: it steps through every moment something changes for a controller
(a scenario action, a pod becoming ready or crashing) and finishes at `now`, so status,
events and metrics always match the elapsed time, whether the clock is real or a test's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.sandbox import behaviour, defaults, ids, kubelet, quantity, scheduling
from tools.sandbox.autoscaling import Utilization, sync_hpa, sync_quota
from tools.sandbox.behaviour import Catalogue
from tools.sandbox.deployments import DeploymentController
from tools.sandbox.events import EventRecorder
from tools.sandbox.lifecycle import PULL_S, ContainerSim, PodRecord, Timeline
from tools.sandbox.networking import sync_service
from tools.sandbox.objects import Objects, controller_of
from tools.sandbox.resources import Registry
from tools.sandbox.store import ObjectStore
from tools.sandbox.workloads import ReplicaSetController, StatefulSetController

__all__ = ["Action", "Controller", "DeploymentState"]

Obj = dict[str, Any]
_MAX_PASSES = 8
_RESCHEDULE_NOTE_S = 60.0
_HEARTBEAT_S = 60.0


@dataclass(order=True)
class Action:
    """Something a person does at a given time (a rollout in a scenario's past)."""

    at: float
    name: str = field(compare=False)
    apply: Callable[[Objects], None] = field(compare=False)


# (spec replicas, status replicas, available, unavailable) of a Deployment over time
DeploymentState = tuple[int, int, int, int]


class Controller:
    def __init__(self, store: ObjectStore, registry: Registry, catalogue: Catalogue,
                 start: float) -> None:
        self.time = start
        self.store = store
        self.catalogue = catalogue
        self.recorder = EventRecorder(store, registry)
        self.objs = Objects(store, registry, self.recorder, lambda: self.time)
        self.records: dict[str, PodRecord] = {}
        self.frozen: set[str] = set()  # uids of loaded objects: their status is recorded
        self.actions: list[Action] = []
        self.deployment_log: dict[tuple[str, str], list[tuple[float, DeploymentState]]] = {}
        self.utilization: Utilization = lambda _ns, _name, _t: None
        self.deployments = DeploymentController(self.objs)
        self.replicasets = ReplicaSetController(self.objs, self._admit, self._remove_pod)
        self.statefulsets = StatefulSetController(self.objs, self._admit, self._remove_pod)
        # Bumped whenever a pod's future can change (new pod, deletion, new fault), so
        # that the metrics model knows when to look for the next change again.
        self.epoch = 0
        self._ip_counters: dict[str, int] = {}
        self._unscheduled: dict[str, float] = {}
        self._seen_rv = -1
        self._derived_from: tuple[int, ...] = ()
        self._last_heartbeat = -1e18
        self._last_inputs: dict[str, tuple[float, ...]] = {}

    # -- driving -----------------------------------------------------------------------
    def schedule(self, action: Action) -> None:
        self.actions.append(action)
        self.actions.sort()

    def reconcile(self, now: float) -> None:
        now = max(now, self.time)
        if self.store.resource_version != self._seen_rv:
            self._step(self.time)  # writes since the last step (seeding, API requests)
        while True:
            wake = self._next_wakeup(self.time)
            if wake is None or wake > now:
                break
            self._step(wake)
        if now > self.time or self.store.resource_version != self._seen_rv:
            self._step(now)

    def _next_wakeup(self, after: float) -> float | None:
        candidates = [max(self.actions[0].at, after)] if self.actions else []
        for record in self.records.values():
            if record.deleted is None:
                moment = record.next_transition(after)
                if moment is not None:
                    candidates.append(moment)
        return min(candidates) if candidates else None

    def _step(self, t: float) -> None:
        self.time = t
        while self.actions and self.actions[0].at <= t:
            self.actions.pop(0).apply(self.objs)
        for _ in range(_MAX_PASSES):
            before = self.store.resource_version
            self._pass(t)
            if self.store.resource_version == before:
                break
        self.recorder.prune(t)
        self._heartbeat(t)
        self._log_deployments(t)
        self._seen_rv = self.store.resource_version

    def _pass(self, t: float) -> None:
        self._collect_garbage(t)
        self._sync_pods(t)
        # A controller whose inputs did not change since it last ran at this instant
        # would do nothing: skip it (the last pass of every step is such a check).
        deployments = ("Deployment", "ReplicaSet", "Pod")
        if self._inputs_changed("deployments", t, deployments):
            for d in self.objs.list("Deployment"):
                self.deployments.sync(d, t)
            self._inputs_seen("deployments", t, deployments)
        replicasets = ("ReplicaSet", "Pod", "ResourceQuota")
        if self._inputs_changed("replicasets", t, replicasets):
            for rs in self.objs.list("ReplicaSet"):
                self.replicasets.sync(rs, t)
            self._inputs_seen("replicasets", t, replicasets)
        statefulsets = ("StatefulSet", "Pod", "PersistentVolumeClaim")
        if self._inputs_changed("statefulsets", t, statefulsets):
            for sts in self.objs.list("StatefulSet"):
                self.statefulsets.sync(sts, t)
            self._inputs_seen("statefulsets", t, statefulsets)
        self._sync_pods(t)
        # Endpoints and quota usage follow pods and services only: skip them when
        # neither changed since they were last brought up to date.
        if self._derived_inputs() != self._derived_from:
            for ns in self.objs.list("Namespace"):
                pods = self.objs.list("Pod", ns["metadata"]["name"])
                for svc in self.objs.list("Service", ns["metadata"]["name"]):
                    sync_service(self.objs, svc, pods)
            for quota in self.objs.list("ResourceQuota"):
                if quota["metadata"]["uid"] not in self.frozen:
                    sync_quota(self.objs, quota)
            self._derived_from = self._derived_inputs()
        for hpa in self.objs.list("HorizontalPodAutoscaler"):
            if hpa["metadata"]["uid"] not in self.frozen:  # loaded: its status is recorded
                sync_hpa(self.objs, hpa, t, self.utilization)

    def _inputs(self, t: float, kinds: tuple[str, ...]) -> tuple[float, ...]:
        return (t, *(self.store.version(self.objs.type(kind)) for kind in kinds))

    def _inputs_changed(self, name: str, t: float, kinds: tuple[str, ...]) -> bool:
        return self._last_inputs.get(name) != self._inputs(t, kinds)

    def _inputs_seen(self, name: str, t: float, kinds: tuple[str, ...]) -> None:
        self._last_inputs[name] = self._inputs(t, kinds)

    def _derived_inputs(self) -> tuple[int, ...]:
        return tuple(self.store.version(self.objs.type(kind))
                     for kind in ("Pod", "Service", "ResourceQuota", "Namespace"))

    # -- pods --------------------------------------------------------------------------
    def _admit(self, pod: Obj, t: float) -> str | None:
        """Create a pod for a workload controller, unless the quota refuses it."""
        refusal = scheduling.quota_refusal(self.objs, pod)
        if refusal:
            return refusal
        pod = defaults.apply_defaults(self.objs.type("Pod"), pod)
        self.objs.create("Pod", pod)
        return None

    def _remove_pod(self, pod: Obj, t: float) -> None:
        for container in pod["spec"].get("containers") or []:
            self.objs.event(pod, "Normal", "Killing", f"Stopping container {container['name']}",
                            "kubelet", host=pod["spec"].get("nodeName", ""), at=t)
        meta = pod["metadata"]
        self.store.delete(self.objs.type("Pod"), meta["namespace"], meta["name"])
        self.pod_deleted(meta["uid"], t)

    def pod_deleted(self, uid: str, t: float) -> None:
        record = self.records.get(uid)
        if record is not None and record.deleted is None:
            self.epoch += 1
            record.deleted = t
            for container in record.containers:
                container.timeline.stop(t)
            self._emit_events(record, t)

    def _lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objs.get(kind, namespace, name)

    def _workload(self, pod: Obj) -> tuple[str, str, str]:
        owner = controller_of(pod)
        if owner is None:
            return pod["metadata"]["name"], "", ""
        if owner["kind"] == "ReplicaSet":
            rs = self.objs.get("ReplicaSet", pod["metadata"]["namespace"], owner["name"])
            parent = controller_of(rs) if rs else None
            if parent and parent["kind"] == "Deployment":
                return parent["name"], owner["kind"], owner["name"]
        return owner["name"], owner["kind"], owner["name"]

    def _bind(self, pod: Obj, node: str, t: float) -> None:
        meta = pod["metadata"]
        nodes = sorted(n["metadata"]["name"] for n in self.objs.list("Node"))
        count = self._ip_counters.get(node, 0) + 1
        self._ip_counters[node] = count
        ip = f"10.244.{nodes.index(node) + 1 if node in nodes else 0}.{count % 250 + 2}"
        workload, owner_kind, owner_name = self._workload(pod)
        record = PodRecord(meta["namespace"], meta["name"], meta["uid"], node, ip,
                           Objects.created(pod), t, dict(meta.get("labels") or {}),
                           workload, owner_kind, owner_name, events_until=t)
        for index, spec in enumerate(pod["spec"].get("containers") or []):
            image = str(spec.get("image", ""))
            found = self.catalogue.lookup(image)
            fault = behaviour.diagnose(spec, found, meta["namespace"], self._lookup)
            startup = found.startup_s if found else 5.0
            limits = (spec.get("resources") or {}).get("limits") or {}
            timeline = Timeline(f"{meta['namespace']}/{meta['name']}/{spec['name']}", fault,
                                startup, t + PULL_S + 0.2 * index)
            record.containers.append(ContainerSim(
                spec["name"], image, found, copy.deepcopy(spec), timeline,
                quantity.parse(limits.get("memory", 0)), quantity.parse(limits.get("cpu", 0))))
        self.records[meta["uid"]] = record
        self.epoch += 1

        def change(obj: Obj) -> None:
            obj["spec"]["nodeName"] = node
        self.objs.edit(pod, change)
        self.objs.event(pod, "Normal", "Scheduled",
                        f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                        "default-scheduler", at=t)

    def _sync_pods(self, t: float) -> None:
        nodes = {n["metadata"]["name"]: n for n in self.objs.list("Node")}
        for pod in self.objs.list("Pod"):
            uid = pod["metadata"]["uid"]
            if uid in self.frozen:
                continue
            record = self.records.get(uid)
            if record is None:
                node = pod["spec"].get("nodeName")
                if not node:
                    node, why = scheduling.schedule(self.objs, pod)
                    if node is None:
                        self._unschedulable(pod, why, t)
                        continue
                self._bind(pod, node, t)
                record = self.records[uid]
                pod = self.objs.get("Pod", record.namespace, record.name) or pod
            self._refault(record, t)
            self._emit_events(record, t)
            node_obj = nodes.get(record.node, {})
            addresses = (node_obj.get("status") or {}).get("addresses") or [{}]
            if t < record.status_until and pod.get("status") is record.status_written:
                continue  # nothing in the timelines changed since the last write
            status = kubelet.pod_status(record, t, addresses[0].get("address", ""))
            written = self.objs.set_status(pod, status)
            record.status_written = written.get("status")
            record.status_until = kubelet.status_valid_until(record, t)

    def _refault(self, record: PodRecord, t: float) -> None:
        """Env and config are read again at every (re)start of a container."""
        for container in record.containers:
            fault = container.timeline.fault
            if fault.kind in ("config", "crash"):
                fresh = behaviour.diagnose(container.spec, container.behaviour,
                                           record.namespace, self._lookup)
                if fresh != fault:
                    container.timeline.refault(fresh, t)
                    self.epoch += 1

    def _emit_events(self, record: PodRecord, t: float) -> None:
        end = t if record.deleted is None else min(t, record.deleted)
        if end <= record.events_until:
            return
        node = self.objs.get("Node", "", record.node) or {"metadata": {"name": record.node}}
        for occ in kubelet.occurrences(record, record.events_until, end, node):
            self.recorder.record(occ, t)
        record.events_until = end

    def _unschedulable(self, pod: Obj, why: str, t: float) -> None:
        uid = pod["metadata"]["uid"]
        status = {"phase": "Pending", "qosClass": (pod.get("status") or {}).get(
            "qosClass", "Burstable"), "conditions": [{
                "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                "lastTransitionTime": pod["metadata"]["creationTimestamp"],
                "reason": "Unschedulable", "message": why}]}
        self.objs.set_status(pod, status)
        if t - self._unscheduled.get(uid, -1e18) >= _RESCHEDULE_NOTE_S:
            self._unscheduled[uid] = t
            self.objs.event(pod, "Warning", "FailedScheduling", why, "default-scheduler", at=t)

    # -- housekeeping ------------------------------------------------------------------
    def _collect_garbage(self, t: float) -> None:
        gone = self.store.deleted_uids
        if not gone:
            return
        for kind in ("ReplicaSet", "Pod", "EndpointSlice", "Endpoints"):
            for obj in self.objs.list(kind):
                owner = controller_of(obj)
                if owner is not None and owner.get("uid") in gone:
                    if kind == "Pod":
                        self._remove_pod(obj, t)
                    else:
                        self.objs.delete(obj)
                elif kind == "Endpoints":
                    meta = obj["metadata"]
                    if self.objs.get("Service", meta["namespace"], meta["name"]) is None:
                        self.objs.delete(obj)

    def _heartbeat(self, t: float) -> None:
        """Kubelets report node status about once a minute."""
        if t - self._last_heartbeat < _HEARTBEAT_S:
            return
        self._last_heartbeat = t
        stamp = ids.rfc3339(t)
        for node in self.objs.list("Node"):
            if node["metadata"]["uid"] in self.frozen:
                continue
            conditions = [dict(c, lastHeartbeatTime=stamp)
                          for c in (node.get("status") or {}).get("conditions") or []]
            self.objs.set_status(node, dict(node.get("status") or {}, conditions=conditions))

    def _log_deployments(self, t: float) -> None:
        seen = set()
        for d in self.objs.list("Deployment"):
            key = (d["metadata"]["namespace"], d["metadata"]["name"])
            seen.add(key)
            status = d.get("status") or {}
            state = (int(d["spec"].get("replicas", 1)), int(status.get("replicas", 0)),
                     int(status.get("availableReplicas", 0)),
                     int(status.get("unavailableReplicas", 0)))
            log = self.deployment_log.setdefault(key, [])
            if not log or log[-1][1] != state:
                log.append((t, state))
        for key, log in self.deployment_log.items():
            if key not in seen and log and log[-1][1] != (-1, -1, -1, -1):
                log.append((t, (-1, -1, -1, -1)))  # deleted: no series from here on

    def deployment_state(self, namespace: str, name: str, t: float) -> DeploymentState | None:
        log = self.deployment_log.get((namespace, name), [])
        state = None
        for moment, value in log:
            if moment > t:
                break
            state = value
        return None if state is None or state[0] < 0 else state

    def stamp(self) -> str:
        return ids.rfc3339(self.time)
