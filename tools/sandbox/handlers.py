"""API semantics on top of the store: get, list, create, update, patch, delete, the
scale/status/log subresources and server-side dry run (`dryRun=All`).

Everything here is plain data in, plain data out; `apiserver` owns the HTTP side.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.sandbox import apierrors, defaults, ids, patching, scheduling, tables
from tools.sandbox.controller import Controller
from tools.sandbox.events import to_events_v1
from tools.sandbox.resources import Registry, ResourceType
from tools.sandbox.selection import FieldSelector, LabelSelector, selector_string
from tools.sandbox.store import ObjectStore

__all__ = ["Handlers", "Target"]

Obj = dict[str, Any]
LogReader = Callable[[Obj, Mapping[str, str]], str]
# Read-only kinds computed on request (metrics.k8s.io), by (group, plural).
Computed = dict[tuple[str, str], Callable[[], list[Obj]]]


@dataclass(frozen=True)
class Target:
    """What a resource URL points at."""

    rtype: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None


def _dry_run(query: Mapping[str, str]) -> bool:
    return query.get("dryRun", "") == "All"


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise apierrors.bad_request(f"the body of the request could not be decoded: {exc}") \
            from exc


def _status_success(rtype: ResourceType, obj: Obj) -> Obj:
    meta = obj.get("metadata", {})
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": meta.get("name"), "group": rtype.group,
                        "kind": rtype.plural, "uid": meta.get("uid")}}


class Handlers:
    def __init__(self, store: ObjectStore, registry: Registry, controller: Controller,
                 read_log: LogReader, computed: Computed | None = None) -> None:
        self.computed = computed or {}
        self.store = store
        self.registry = registry
        self.controller = controller
        self.read_log = read_log

    # -- reads -------------------------------------------------------------------------
    def _present(self, rtype: ResourceType, obj: Obj) -> Obj:
        return to_events_v1(obj) if rtype.view_of == ("", "events") else obj

    def get(self, target: Target) -> Obj:
        obj = self._existing(target)
        if target.sub == "scale":
            return self._scale_of(target.rtype, obj)
        return self._present(target.rtype, obj)

    def _items(self, target: Target) -> list[Obj]:
        compute = self.computed.get(target.rtype.key)
        if compute is None:
            return self.store.list(target.rtype, target.namespace)
        return [o for o in compute() if not target.namespace
                or o["metadata"].get("namespace") == target.namespace]

    def _existing(self, target: Target) -> Obj:
        if target.rtype.key in self.computed:
            found = [o for o in self._items(target) if o["metadata"]["name"] == target.name]
            if not found:
                raise apierrors.not_found(target.rtype.plural, target.name or "",
                                          target.rtype.group)
            return found[0]
        obj = self.store.get(target.rtype, target.namespace or "", target.name or "")
        if obj is None:
            raise apierrors.not_found(target.rtype.plural, target.name or "", target.rtype.group)
        return obj

    def select(self, target: Target, query: Mapping[str, str]) -> list[Obj]:
        labels = LabelSelector.parse(query.get("labelSelector"))
        fields = FieldSelector.parse(query.get("fieldSelector"))
        items = self._items(target)
        return [o for o in items if labels.matches(o.get("metadata", {}).get("labels"))
                and fields.matches(o)]

    def list(self, target: Target, query: Mapping[str, str]) -> Obj:
        items = self.select(target, query)
        meta: Obj = {"resourceVersion": str(self.store.resource_version)}
        limit = int(query.get("limit") or 0)
        offset = int(query.get("continue") or 0) if (query.get("continue") or "").isdigit() \
            else 0
        if limit and offset + limit < len(items):
            meta["continue"] = str(offset + limit)
            meta["remainingItemCount"] = len(items) - offset - limit
        page = items[offset:offset + limit] if limit else items[offset:]
        shown = []
        for obj in page:
            item = self._present(target.rtype, obj)
            shown.append({k: v for k, v in item.items() if k not in ("kind", "apiVersion")})
        return {"kind": target.rtype.list_kind, "apiVersion": target.rtype.api_version,
                "metadata": meta, "items": shown}

    def table(self, target: Target, query: Mapping[str, str]) -> Obj:
        if target.name:
            objs = [self._present(target.rtype, self._existing(target))]
        else:
            objs = [self._present(target.rtype, o) for o in self.select(target, query)]
        return tables.render(target.rtype.kind, objs, self.controller.time,
                             str(self.store.resource_version))

    def log(self, target: Target, query: Mapping[str, str]) -> str:
        return self.read_log(self._existing(target), query)

    # -- writes ------------------------------------------------------------------------
    def _writable(self, target: Target, verb: str) -> None:
        if verb not in target.rtype.verbs or target.rtype.key in self.computed:
            raise apierrors.ApiError(405, "MethodNotAllowed",
                                     f"the server does not allow this method on the requested "
                                     f"resource ({verb} {target.rtype.plural})")

    def _check_namespace(self, target: Target, obj: Obj) -> None:
        meta = obj.setdefault("metadata", {})
        if not target.rtype.namespaced:
            return
        if not target.namespace:
            raise apierrors.bad_request("the namespace of the object must be set in the path")
        if meta.get("namespace") and meta["namespace"] != target.namespace:
            raise apierrors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
        meta["namespace"] = target.namespace
        ns_type = self.registry.find("", "v1", "namespaces")
        assert ns_type is not None
        if self.store.get(ns_type, "", target.namespace) is None:
            raise apierrors.not_found("namespaces", target.namespace)

    def create(self, target: Target, body: bytes, query: Mapping[str, str]) -> Obj:
        obj = _decode(body)
        if not isinstance(obj, dict):
            raise apierrors.bad_request("the body of the request must be an object")
        self._writable(target, "create")
        self._check_namespace(target, obj)
        if "status" in target.rtype.subresources:
            obj.pop("status", None)  # status is written by controllers, not by creators
        obj = defaults.apply_defaults(target.rtype, obj)
        defaults.validate(target.rtype, obj)
        if target.rtype.kind == "Pod":
            refusal = scheduling.quota_refusal(self.controller.objs, obj)
            if refusal:
                raise apierrors.forbidden(refusal)
        return self.store.create(target.rtype, obj, dry_run=_dry_run(query))

    def _write(self, target: Target, old: Obj, new: Obj, query: Mapping[str, str],
               part: str) -> Obj:
        """Store `new` as the next version of `old`; `part` is main, status or all."""
        if not isinstance(new, dict):
            raise apierrors.bad_request("the body of the request must be an object")
        meta = new.setdefault("metadata", {})
        want_rv = meta.get("resourceVersion")
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise apierrors.conflict(target.rtype.plural, target.name or "", target.rtype.group)
        if meta.get("name", target.name) != target.name:
            raise apierrors.bad_request("the name of the object does not match the name on "
                                        "the URL")
        meta["name"] = target.name
        if target.rtype.namespaced:
            meta["namespace"] = target.namespace
        if part == "status":
            new = dict(copy.deepcopy(old), status=new.get("status"))
        elif part == "main" and "status" in target.rtype.subresources:
            new = dict(new)
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        new = defaults.apply_defaults(target.rtype, new)
        defaults.validate(target.rtype, new, old)
        return self.store.replace(target.rtype, new, dry_run=_dry_run(query))

    def update(self, target: Target, body: bytes, query: Mapping[str, str]) -> Obj:
        self._writable(target, "update")
        old = self._existing(target)
        new = _decode(body)
        if target.sub == "scale":
            return self._set_scale(target, old, new, query)
        return self._write(target, old, new, query, target.sub or "main")

    def patch(self, target: Target, body: bytes, content_type: str,
              query: Mapping[str, str]) -> Obj:
        self._writable(target, "patch")
        old = self._existing(target)
        patch = _decode(body)
        if target.sub == "scale":
            scale = patching.apply_patch(content_type, self._scale_of(target.rtype, old), patch)
            return self._set_scale(target, old, scale, query)
        new = patching.apply_patch(content_type, copy.deepcopy(old), patch)
        if isinstance(new, dict):
            # A patch only carries a resourceVersion when it means a precondition.
            sent = patch.get("metadata", {}) if isinstance(patch, dict) else {}
            if isinstance(sent, dict) and "resourceVersion" not in sent:
                new.setdefault("metadata", {}).pop("resourceVersion", None)
        return self._write(target, old, new, query, target.sub or "main")

    def delete(self, target: Target, query: Mapping[str, str]) -> Obj:
        self._writable(target, "delete")
        obj = self._existing(target)
        dry = _dry_run(query)
        if target.rtype.kind == "Namespace" and not dry:
            self._delete_namespace(obj["metadata"]["name"])
        self.store.delete(target.rtype, target.namespace or "", target.name or "", dry_run=dry)
        if target.rtype.kind == "Pod":
            if not dry:
                self._pod_gone(obj)
            shown = copy.deepcopy(obj)
            shown["metadata"]["deletionTimestamp"] = ids.rfc3339(self.controller.time)
            shown["metadata"]["deletionGracePeriodSeconds"] = 0
            return shown
        return _status_success(target.rtype, obj)

    def evict(self, target: Target, query: Mapping[str, str]) -> Obj:
        """The eviction subresource (kubectl drain): no disruption budgets, just delete."""
        self.delete(Target(target.rtype, target.namespace, target.name, None), query)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "code": 201}

    def delete_collection(self, target: Target, query: Mapping[str, str]) -> Obj:
        removed = []
        for obj in self.select(target, query):
            meta = obj["metadata"]
            one = Target(target.rtype, meta.get("namespace"), meta["name"], None)
            self.delete(one, query)
            removed.append({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
        return {"kind": target.rtype.list_kind, "apiVersion": target.rtype.api_version,
                "metadata": {"resourceVersion": str(self.store.resource_version)},
                "items": removed}

    def _pod_gone(self, pod: Obj) -> None:
        node = pod["spec"].get("nodeName", "")
        for container in pod["spec"].get("containers") or []:
            self.controller.objs.event(pod, "Normal", "Killing",
                                       f"Stopping container {container['name']}", "kubelet",
                                       host=node)
        self.controller.pod_deleted(pod["metadata"]["uid"], self.controller.time)

    def _delete_namespace(self, namespace: str) -> None:
        for rtype in self.registry.types:
            if rtype.namespaced and rtype.view_of is None:
                for obj in self.store.list(rtype, namespace):
                    self.store.delete(rtype, namespace, obj["metadata"]["name"])
                    if rtype.kind == "Pod":
                        self.controller.pod_deleted(obj["metadata"]["uid"],
                                                    self.controller.time)

    # -- scale subresource -------------------------------------------------------------
    def _scale_of(self, rtype: ResourceType, obj: Obj) -> Obj:
        if "scale" not in rtype.subresources:
            raise apierrors.not_found(f"{rtype.plural}/scale", obj["metadata"]["name"])
        meta = obj["metadata"]
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "creationTimestamp") if k in meta},
            "spec": {"replicas": int(obj["spec"].get("replicas", 1))},
            "status": {"replicas": int((obj.get("status") or {}).get("replicas", 0)),
                       "selector": selector_string(obj["spec"].get("selector"))},
        }

    def _set_scale(self, target: Target, old: Obj, scale: Any, query: Mapping[str, str]) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
        if not isinstance(replicas, int) or replicas < 0:
            raise apierrors.invalid("Scale", target.name or "", [
                ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal "
                                  "to 0")], "autoscaling")
        want_rv = (scale.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise apierrors.conflict(target.rtype.plural, target.name or "", target.rtype.group)
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = replicas
        stored = self.store.replace(target.rtype, new, dry_run=_dry_run(query))
        return self._scale_of(target.rtype, stored)
