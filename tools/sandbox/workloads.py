"""ReplicaSet and StatefulSet controllers: keep the right pods in existence.

Pod names are deterministic (the ReplicaSet name plus a suffix hashed from a per-set
counter), so a scenario gives the same names on every run. Which pod goes on a scale-down
follows the controller's ranking: unscheduled, pending, not ready, most restarts, newest.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from tools.sandbox import ids, quantity
from tools.sandbox.deployments import template_hash
from tools.sandbox.objects import Objects, owner_ref

__all__ = ["ReplicaSetController", "StatefulSetController", "pod_ready", "pod_requests",
           "ready_since"]

Obj = dict[str, Any]
Admit = Callable[[Obj, float], str | None]  # create a pod; returns a refusal message
Remove = Callable[[Obj, float], None]


def ready_since(pod: Obj) -> float | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return ids.parse_time(cond["lastTransitionTime"])
            return None
    return None


def pod_ready(pod: Obj) -> bool:
    return ready_since(pod) is not None


def _restarts(pod: Obj) -> int:
    return sum(int(s.get("restartCount", 0))
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


def _victim_rank(pod: Obj) -> tuple[int, int, int, int, float]:
    status = pod.get("status") or {}
    return (1 if pod["spec"].get("nodeName") else 0,
            0 if status.get("phase") == "Pending" else 1,
            1 if pod_ready(pod) else 0,
            -_restarts(pod),
            -Objects.created(pod))


def _set_status(objs: Objects, obj: Obj, status: Obj) -> None:
    objs.set_status(obj, status)


def _active(pods: list[Obj]) -> list[Obj]:
    return [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")]


class ReplicaSetController:
    def __init__(self, objs: Objects, admit: Admit, remove: Remove) -> None:
        self.objs = objs
        self.admit = admit
        self.remove = remove
        self.counters: dict[str, int] = {}

    def _pod_name(self, rs: Obj) -> str:
        meta = rs["metadata"]
        while True:
            count = self.counters.get(meta["name"], 0)
            self.counters[meta["name"]] = count + 1
            name = f"{meta['name']}-{ids.safe_suffix(5, meta['name'], count)}"
            if self.objs.get("Pod", meta["namespace"], name) is None:
                return name

    def _new_pod(self, rs: Obj) -> Obj:
        template = copy.deepcopy(rs["spec"]["template"])
        meta = template.get("metadata") or {}
        return {"metadata": {"name": self._pod_name(rs),
                             "namespace": rs["metadata"]["namespace"],
                             "labels": meta.get("labels") or {},
                             "annotations": meta.get("annotations") or {},
                             "ownerReferences": [owner_ref(rs)]},
                "spec": template.get("spec") or {}}

    def sync(self, rs: Obj, t: float) -> None:
        # Like the real controller, only active pods count: evicted or finished ones stay
        # listed (as Failed / Succeeded) until someone deletes them.
        pods = _active(self.objs.owned("Pod", rs))
        wanted = int(rs["spec"].get("replicas", 1))
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                pod = self._new_pod(rs)
                refusal = self.admit(pod, t)
                if refusal:
                    self.objs.event(rs, "Warning", "FailedCreate", f"Error creating: {refusal}",
                                    "replicaset-controller", at=t)
                    break
                self.objs.event(rs, "Normal", "SuccessfulCreate",
                                f"Created pod: {pod['metadata']['name']}",
                                "replicaset-controller", at=t)
        elif len(pods) > wanted:
            for pod in sorted(pods, key=_victim_rank)[:len(pods) - wanted]:
                self.remove(pod, t)
                self.objs.event(rs, "Normal", "SuccessfulDelete",
                                f"Deleted pod: {pod['metadata']['name']}",
                                "replicaset-controller", at=t)
        pods = _active(self.objs.owned("Pod", rs))
        min_ready = float(rs["spec"].get("minReadySeconds", 0))
        since = [ready_since(p) for p in pods]
        status: Obj = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                       "observedGeneration": rs["metadata"].get("generation", 1)}
        ready = sum(1 for s in since if s is not None)
        available = sum(1 for s in since if s is not None and t - s >= min_ready)
        if ready:
            status["readyReplicas"] = ready
        if available:
            status["availableReplicas"] = available
        _set_status(self.objs, rs, status)


class StatefulSetController:
    def __init__(self, objs: Objects, admit: Admit, remove: Remove) -> None:
        self.objs = objs
        self.admit = admit
        self.remove = remove

    def _claims(self, sts: Obj, ordinal: int, t: float) -> list[Obj]:
        meta = sts["metadata"]
        volumes = []
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            claim = f"{template['metadata']['name']}-{meta['name']}-{ordinal}"
            volumes.append({"name": template["metadata"]["name"],
                            "persistentVolumeClaim": {"claimName": claim}})
            if self.objs.get("PersistentVolumeClaim", meta["namespace"], claim) is None:
                spec = copy.deepcopy(template.get("spec") or {})
                spec.setdefault("volumeMode", "Filesystem")
                spec.setdefault("storageClassName", "standard")
                spec["volumeName"] = "pvc-" + ids.uid("pv", meta["namespace"], claim)
                size = ((spec.get("resources") or {}).get("requests") or {}).get(
                    "storage", "1Gi")
                labels = dict(sts["spec"]["selector"].get("matchLabels") or {})
                self.objs.create("PersistentVolumeClaim", {
                    "metadata": {"name": claim, "namespace": meta["namespace"],
                                 "labels": labels},
                    "spec": spec,
                    "status": {"phase": "Bound", "accessModes": spec.get("accessModes", []),
                               "capacity": {"storage": size}}})
                self.objs.event(sts, "Normal", "SuccessfulCreate",
                                f"create Claim {claim} Pod {meta['name']}-{ordinal} in "
                                f"StatefulSet {meta['name']} success",
                                "statefulset-controller", at=t)
        return volumes

    def _new_pod(self, sts: Obj, ordinal: int, revision: str, t: float) -> Obj:
        meta = sts["metadata"]
        template = copy.deepcopy(sts["spec"]["template"])
        name = f"{meta['name']}-{ordinal}"
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update({"controller-revision-hash": revision,
                       "statefulset.kubernetes.io/pod-name": name,
                       "apps.kubernetes.io/pod-index": str(ordinal)})
        spec = template.get("spec") or {}
        spec["hostname"] = name
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        spec["volumes"] = [*(spec.get("volumes") or []), *self._claims(sts, ordinal, t)]
        return {"metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                             "annotations": (template.get("metadata") or {}).get(
                                 "annotations") or {},
                             "ownerReferences": [owner_ref(sts)]},
                "spec": spec}

    def sync(self, sts: Obj, t: float) -> None:
        meta = sts["metadata"]
        revision = f"{meta['name']}-{template_hash(sts['spec']['template'])}"
        wanted = int(sts["spec"].get("replicas", 1))
        pods = {int(p["metadata"]["name"].rpartition("-")[2]): p
                for p in self.objs.owned("Pod", sts)
                if p["metadata"]["name"].rpartition("-")[2].isdigit()}
        ordered = sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        extra = sorted((i for i in pods if i >= wanted), reverse=True)
        for ordinal in extra[:1] if ordered else extra:
            self._remove(sts, pods.pop(ordinal), t)
        for ordinal in range(wanted):
            if ordinal in pods:
                if ordered and not pod_ready(pods[ordinal]):
                    break
                continue
            pod = self._new_pod(sts, ordinal, revision, t)
            refusal = self.admit(pod, t)
            verb = "create"
            if refusal:
                self.objs.event(sts, "Warning", "FailedCreate",
                                f"{verb} Pod {pod['metadata']['name']} in StatefulSet "
                                f"{meta['name']} failed error: {refusal}",
                                "statefulset-controller", at=t)
                break
            self.objs.event(sts, "Normal", "SuccessfulCreate",
                            f"{verb} Pod {pod['metadata']['name']} in StatefulSet "
                            f"{meta['name']} successful", "statefulset-controller", at=t)
            if ordered:
                break
        pods = {int(p["metadata"]["name"].rpartition("-")[2]): p
                for p in self.objs.owned("Pod", sts)}
        outdated = sorted((i for i, p in pods.items()
                           if p["metadata"]["labels"].get("controller-revision-hash")
                           != revision), reverse=True)
        if outdated and len(pods) == wanted and all(pod_ready(p) for p in pods.values()):
            self._remove(sts, pods.pop(outdated[0]), t)
        self._status(sts, revision, t)

    def _remove(self, sts: Obj, pod: Obj, t: float) -> None:
        self.remove(pod, t)
        self.objs.event(sts, "Normal", "SuccessfulDelete",
                        f"delete Pod {pod['metadata']['name']} in StatefulSet "
                        f"{sts['metadata']['name']} successful", "statefulset-controller",
                        at=t)

    def _status(self, sts: Obj, revision: str, t: float) -> None:
        pods = self.objs.owned("Pod", sts)
        current = [p for p in pods
                   if p["metadata"]["labels"].get("controller-revision-hash") == revision]
        ready = len([p for p in pods if pod_ready(p)])
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
            "currentReplicas": len(current), "updatedReplicas": len(current),
            "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
        }
        _set_status(self.objs, sts, status)


def pod_requests(pod: Obj) -> dict[str, float]:
    """Summed container requests and limits (cpu cores, memory bytes)."""
    out = {"requests.cpu": 0.0, "requests.memory": 0.0, "limits.cpu": 0.0,
           "limits.memory": 0.0}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            values = resources.get(section) or {}
            if section == "requests":
                values = {**(resources.get("limits") or {}), **values}
            for name in ("cpu", "memory"):
                out[f"{section}.{name}"] += quantity.parse(values.get(name, 0))
    return out
