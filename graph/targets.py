"""Resolve what a message is about ("checkout") to a live object
(Deployment shop/checkout-api), asking which one when several fit.

The inventory comes from the read tools, so resolution works the same against the
sandbox and a real cluster.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Resolution", "Target", "TargetResolver", "ToolCaller"]


class ToolCaller(Protocol):
    async def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Target:
    kind: str
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        """Kind/namespace/name, the resource format of RCA results."""
        if self.kind in ("Namespace", "Node"):
            return f"{self.kind}/{self.name}"
        return f"{self.kind}/{self.namespace}/{self.name}"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(str(data["kind"]), str(data.get("namespace", "")), str(data["name"]))

    @classmethod
    def parse(cls, ref: str) -> Target:
        parts = ref.split("/")
        if len(parts) == 3:
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 2:
            return cls(parts[0], "", parts[1])
        raise ValueError(f"bad resource reference {ref!r}: use Kind/namespace/name")


@dataclass
class Resolution:
    status: Literal["found", "ambiguous", "none", "unavailable"]
    target: Target | None = None
    candidates: list[Target] = field(default_factory=list)
    message: str = ""


_KIND_PREFIX = re.compile(
    r"^(deployment|deploy|statefulset|sts|daemonset|ds|pod|po|service|svc|namespace|ns|node|"
    r"no)[/ ]", re.IGNORECASE)
_KIND_OF_PREFIX = {"deployment": "Deployment", "deploy": "Deployment",
                   "statefulset": "StatefulSet", "sts": "StatefulSet", "daemonset": "DaemonSet",
                   "ds": "DaemonSet", "pod": "Pod", "po": "Pod", "service": "Service",
                   "svc": "Service", "namespace": "Namespace", "ns": "Namespace",
                   "node": "Node", "no": "Node"}
_WORD = re.compile(r"[a-z0-9][a-z0-9.\-_]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)


class TargetResolver:
    def __init__(self, tools: ToolCaller) -> None:
        self._tools = tools

    async def _inventory(self) -> tuple[list[Target], list[str], list[str], str]:
        workloads = await self._tools.call("list_workloads")
        if workloads.get("status") == "error":
            return [], [], [], str(workloads.get("message"))
        found = [Target(str(w["kind"]), str(w["namespace"]), str(w["name"]))
                 for w in workloads.get("data") or []]
        namespaces = await self._tools.call("list_namespaces")
        nodes = await self._tools.call("list_nodes")
        return (found, list(namespaces.get("data") or []),
                [str(n["name"]) for n in nodes.get("data") or []], "")

    async def resolve(self, phrase: str | None, *, namespace: str | None = None,
                      text: str = "") -> Resolution:
        """Find the object `phrase` names; with no phrase, look for known names in `text`."""
        workloads, namespaces, nodes, problem = await self._inventory()
        if problem:
            return Resolution("unavailable", message=problem)
        if namespace and namespace not in namespaces:
            return Resolution("none", message=f"there is no namespace {namespace!r}; "
                              f"namespaces: {', '.join(namespaces)}")
        if namespace:
            workloads = [w for w in workloads if w.namespace == namespace]
        if not phrase:
            return self._scan_text(text, workloads, namespaces, nodes)
        kind_hint = ""
        raw = phrase.strip()
        match = _KIND_PREFIX.match(raw)
        if match:
            kind_hint = _KIND_OF_PREFIX[match.group(1).lower()]
            raw = raw[match.end():].strip()
        ns_hint, _, name = raw.rpartition("/")
        if ns_hint:
            workloads = [w for w in workloads if w.namespace == ns_hint]
        name = name.lower()
        if kind_hint == "Pod" or (not kind_hint and _looks_like_pod(name, workloads)):
            return await self._resolve_pod(name, namespace or ns_hint)
        names_namespace = kind_hint == "Namespace" or (not kind_hint and not any(
            w.name == name for w in workloads))
        if names_namespace and name in namespaces:
            return Resolution("found", Target("Namespace", "", name))
        if kind_hint == "Node" or name in nodes:
            if name in nodes:
                return Resolution("found", Target("Node", "", name))
            return Resolution("none", message=f"there is no node {name!r}")
        if kind_hint and kind_hint not in ("Service",):
            workloads = [w for w in workloads if w.kind == kind_hint]
        if kind_hint in ("", "Service") and not any(w.name.lower() == name for w in workloads):
            behind = await self._behind_service(name, namespace or ns_hint, workloads)
            if behind is not None:
                return Resolution("found", behind)
        return _match_workload(name, workloads, namespaces)

    async def _behind_service(self, name: str, namespace: str | None,
                              workloads: list[Target]) -> Target | None:
        """The one workload whose pods a Service of that name selects: alerts and people
        name the Service (billing-api) where the Deployment is called otherwise."""
        if not namespace:
            return None
        svc = await self._tools.call("describe", kind="Service", name=name, namespace=namespace)
        if svc.get("status") != "ok":
            return None
        selector = ((svc["data"].get("object") or {}).get("spec") or {}).get("selector") or {}
        if not selector:
            return None
        pods = await self._tools.call("list_pods", namespace=namespace, selector=",".join(
            f"{k}={v}" for k, v in sorted(selector.items())))
        owners = {str(r.get("workload") or "") for r in pods.get("data") or []} - {""}
        found = [w for w in workloads if w.namespace == namespace
                 and f"{w.kind}/{w.name}" in owners]
        return found[0] if len(found) == 1 else None

    def _scan_text(self, text: str, workloads: list[Target], namespaces: list[str],
                   nodes: list[str]) -> Resolution:
        words = {w.lower() for w in _WORD.findall(text)}
        hits = [w for w in workloads if w.name.lower() in words]
        if not hits:
            hits = [w for w in workloads if any(_stem(w.name) == word for word in words)]
        if len(hits) == 1:
            return Resolution("found", hits[0])
        if hits:
            return Resolution("ambiguous", candidates=hits[:8])
        node_hits = [n for n in nodes if n.lower() in words]
        if len(node_hits) == 1:
            return Resolution("found", Target("Node", "", node_hits[0]))
        ns_hits = [n for n in namespaces if n.lower() in words]
        if len(ns_hits) == 1:
            return Resolution("found", Target("Namespace", "", ns_hits[0]))
        return Resolution("none", message="no workload name found in the message")

    async def _resolve_pod(self, name: str, namespace: str) -> Resolution:
        pods = await self._tools.call("list_pods", namespace=namespace)
        rows = pods.get("data") or []
        exact = [r for r in rows if r["name"] == name]
        if not exact:
            exact = [r for r in rows if str(r["name"]).startswith(name)]
        if len(exact) == 1:
            row = exact[0]
            return Resolution("found", Target("Pod", str(row["namespace"]), str(row["name"])))
        if exact:
            return Resolution("ambiguous", candidates=[
                Target("Pod", str(r["namespace"]), str(r["name"])) for r in exact[:8]])
        return Resolution("none", message=f"no pod named {name!r}")


def _stem(name: str) -> str:
    """checkout-api -> checkout: people drop the usual suffixes when they talk."""
    return re.sub(r"[-_.](api|svc|service|server|app|worker|deployment|v\d+)$", "", name.lower())


def _looks_like_pod(name: str, workloads: list[Target]) -> bool:
    # Pod names are a workload name plus generated suffixes.
    return any(name.startswith(w.name + "-") and name.count("-") > w.name.count("-") + 1
               for w in workloads) or (bool(re.search(r"-[a-z0-9]{5}$", name)) and not any(
        w.name == name for w in workloads))


def _match_workload(name: str, workloads: list[Target], namespaces: list[str]) -> Resolution:
    exact = [w for w in workloads if w.name.lower() == name]
    if len(exact) == 1:
        return Resolution("found", exact[0])
    if exact:
        return Resolution("ambiguous", candidates=exact)
    partial = [w for w in workloads if _stem(w.name) == name or name in w.name.lower().split(
        "-") or w.name.lower().startswith(name)]
    if len(partial) == 1:
        return Resolution("found", partial[0])
    if partial:
        return Resolution("ambiguous", candidates=partial[:8])
    names = [w.name for w in workloads]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    if close:
        return Resolution("ambiguous", candidates=[w for w in workloads if w.name in close],
                          message=f"nothing is called {name!r}")
    known = ", ".join(sorted({w.name for w in workloads})[:15])
    return Resolution("none", message=f"I can't find a workload called {name!r}. "
                      f"Known workloads: {known or 'none'}")
