"""Typed shortcuts over the store for the controller and scenarios: kinds by name,
ownership, annotations and event recording."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable
from typing import Any

from tools.sandbox import ids
from tools.sandbox.events import EventRecorder, Occurrence, ref
from tools.sandbox.resources import Registry, ResourceType
from tools.sandbox.store import ObjectStore

__all__ = ["Objects", "controller_of", "owner_ref"]

Obj = dict[str, Any]

_KINDS = {
    "Namespace": ("", "namespaces"), "Node": ("", "nodes"), "Pod": ("", "pods"),
    "Service": ("", "services"), "Endpoints": ("", "endpoints"),
    "ConfigMap": ("", "configmaps"), "Secret": ("", "secrets"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"), "Event": ("", "events"),
    "ResourceQuota": ("", "resourcequotas"), "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"), "StatefulSet": ("apps", "statefulsets"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "EndpointSlice": ("discovery.k8s.io", "endpointslices"),
}


def owner_ref(owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    for reference in obj.get("metadata", {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return dict(reference)
    return None


class Objects:
    def __init__(self, store: ObjectStore, registry: Registry, recorder: EventRecorder,
                 now: Callable[[], float]) -> None:
        self.store = store
        self.registry = registry
        self.recorder = recorder
        self.now = now
        self._types: dict[str, ResourceType] = {}
        # kind -> (resourceVersion, owner uid -> dependents): rebuilt after any write
        self._owners: dict[str, tuple[int, dict[str, builtins.list[Obj]]]] = {}
        for kind, (group, plural) in _KINDS.items():
            found = next(t for t in registry.types
                         if (t.group, t.plural) == (group, plural) and t.view_of is None)
            self._types[kind] = found

    def type(self, kind: str) -> ResourceType:
        return self._types[kind]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.store.get(self._types[kind], namespace, name)

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        return self.store.list(self._types[kind], namespace)

    def create(self, kind: str, obj: Obj) -> Obj:
        return self.store.create(self._types[kind], obj)

    def replace(self, obj: Obj) -> Obj:
        return self.store.replace(self._types[obj["kind"]], obj)

    def edit(self, obj: Obj, change: Callable[[Obj], None]) -> Obj:
        """Apply `change` to a copy and store it (a no-op change stores nothing)."""
        updated = copy.deepcopy(obj)
        change(updated)
        return self.replace(updated)

    def set_status(self, obj: Obj, status: Obj) -> Obj:
        """Store a new status (cheap: compares first, copies shallowly)."""
        if obj.get("status") == status:
            return obj
        return self.replace(dict(obj, status=status))

    def delete(self, obj: Obj) -> None:
        meta = obj["metadata"]
        self.store.delete(self._types[obj["kind"]], meta.get("namespace", ""), meta["name"])

    def owned(self, kind: str, owner: Obj) -> builtins.list[Obj]:
        rv = self.store.resource_version
        cached = self._owners.get(kind)
        if cached is None or cached[0] != rv:
            index: dict[str, builtins.list[Obj]] = {}
            for obj in self.list(kind):
                ref_ = controller_of(obj)
                if ref_ is not None:
                    index.setdefault(str(ref_.get("uid")), []).append(obj)
            cached = self._owners[kind] = (rv, index)
        return list(cached[1].get(owner["metadata"]["uid"], []))

    def event(self, obj: Obj, type_: str, reason: str, message: str, component: str,
              *, host: str = "", at: float | None = None) -> None:
        moment = self.now() if at is None else at
        self.recorder.record(Occurrence(ref(obj), type_, reason, message, component,
                                        moment, moment, 1, host), self.now())

    @staticmethod
    def annotation(obj: Obj, key: str, default: str = "") -> str:
        return str((obj.get("metadata", {}).get("annotations") or {}).get(key, default))

    @staticmethod
    def created(obj: Obj) -> float:
        stamp = obj.get("metadata", {}).get("creationTimestamp")
        return ids.parse_time(stamp) if stamp else 0.0
