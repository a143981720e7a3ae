"""The resource types the sandbox serves, and the discovery documents kubectl reads.

A `Registry` is per cluster: objects of kinds it does not know (from an incident bundle)
register a type on the fly, so the store stays generic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Registry", "ResourceType", "guess_plural"]

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update",
              "watch")
_READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _ALL_VERBS
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Served as a view over another type's objects (events.k8s.io over core events).
    view_of: tuple[str, str] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def key(self) -> tuple[str, str]:
        """Where the objects live in the store (a view reads its source's key)."""
        return self.view_of or (self.group, self.plural)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


_SUB_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "log": ("", "v1", "Pod"),
              "eviction": ("policy", "v1", "Eviction")}
_SUB_VERBS = {"scale": ("get", "patch", "update"), "status": ("get", "patch", "update"),
              "log": ("get",), "eviction": ("create",)}


def _builtin() -> list[ResourceType]:
    t = ResourceType
    return [
        t("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=("status",)),
        t("", "v1", "nodes", "Node", False, ("no",), subresources=("status",)),
        t("", "v1", "pods", "Pod", True, ("po",), subresources=("status", "log", "eviction"),
          categories=("all",)),
        t("", "v1", "services", "Service", True, ("svc",), subresources=("status",),
          categories=("all",)),
        t("", "v1", "endpoints", "Endpoints", True, ("ep",)),
        t("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
        t("", "v1", "secrets", "Secret", True),
        t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",),
          subresources=("status",)),
        t("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",),
          subresources=("status",)),
        t("", "v1", "events", "Event", True, ("ev",)),
        t("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",),
          subresources=("status",)),
        t("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
        t("apps", "v1", "deployments", "Deployment", True, ("deploy",),
          subresources=("status", "scale"), categories=("all",)),
        t("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",),
          subresources=("status", "scale"), categories=("all",)),
        t("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",),
          subresources=("status", "scale"), categories=("all",)),
        t("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), subresources=("status",),
          categories=("all",)),
        t("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
          ("hpa",), subresources=("status",), categories=("all",)),
        t("events.k8s.io", "v1", "events", "Event", True, ("ev",), verbs=_READ_VERBS,
          view_of=("", "events")),
        t("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
        t("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True,
          ("netpol",)),
        t("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",),
          subresources=("status",)),
        t("coordination.k8s.io", "v1", "leases", "Lease", True),
        t("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, verbs=("get", "list")),
        t("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, verbs=("get", "list")),
    ]


def guess_plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


@dataclass
class Registry:
    types: list[ResourceType] = field(default_factory=_builtin)

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rtype in self.types:
            if (rtype.group, rtype.version, rtype.plural) == (group, version, plural):
                return rtype
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The stored (not view) type for an object's apiVersion and kind."""
        group = api_version.rpartition("/")[0]
        for rtype in self.types:
            if rtype.view_of is None and rtype.group == group and rtype.kind == kind:
                return rtype
        return None

    def register_kind(self, api_version: str, kind: str, namespaced: bool) -> ResourceType:
        """Serve an unknown kind so that objects of any type can be loaded."""
        found = self.by_kind(api_version, kind)
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        rtype = ResourceType(group, version, guess_plural(kind), kind, namespaced)
        self.types.append(rtype)
        return rtype

    # -- discovery ---------------------------------------------------------------------
    def group_versions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for rtype in self.types:
            versions = out.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return out

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(name) for name in self.group_versions() if name]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, name: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{name}/{v}", "version": v}
                    for v in self.group_versions().get(name, [])]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": versions,
                "preferredVersion": versions[0] if versions else {}}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        served = [t for t in self.types if (t.group, t.version) == (group, version)]
        if not served:
            return None
        resources: list[dict[str, Any]] = []
        for rtype in served:
            entry: dict[str, Any] = {
                "name": rtype.plural, "singularName": rtype.singular,
                "namespaced": rtype.namespaced, "kind": rtype.kind,
                "verbs": list(rtype.verbs),
            }
            if rtype.short_names:
                entry["shortNames"] = list(rtype.short_names)
            if rtype.categories:
                entry["categories"] = list(rtype.categories)
            resources.append(entry)
            for sub in rtype.subresources:
                sub_group, sub_version, sub_kind = _SUB_KINDS.get(
                    sub, (rtype.group, rtype.version, rtype.kind))
                item: dict[str, Any] = {
                    "name": f"{rtype.plural}/{sub}", "singularName": "",
                    "namespaced": rtype.namespaced, "kind": sub_kind,
                    "verbs": list(_SUB_VERBS.get(sub, ("get",))),
                }
                if sub in ("scale", "eviction"):
                    item.update(group=sub_group, version=sub_version)
                resources.append(item)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": resources}
