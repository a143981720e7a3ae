"""Write tools: the only ways opsbot changes a cluster.

Each tool has a risk level, refuses namespaces outside the allow-list, and supports a
server-side dry run (`dryRun=All`): the API server validates and returns the object as
it would become, and the tool returns a diff of what would change. Nothing else is
possible here (no exec, no arbitrary apply).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from tools import errors, kube, results

__all__ = ["WRITE_TOOL_RISK", "WriteTools"]

Result = dict[str, Any]

WRITE_TOOL_RISK = {
    "delete_pod": "low",
    "scale": "medium",
    "restart": "medium",
    "pause_rollout": "medium",
    "resume_rollout": "medium",
    "cordon": "medium",
    "uncordon": "medium",
    "set_hpa_max": "medium",
    "rollback": "high",
    "set_resources": "high",
    "set_image": "high",
    "set_env": "high",
}
_STRATEGIC = "application/strategic-merge-patch+json"
_MERGE = "application/merge-patch+json"
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def _yaml(obj: Any) -> list[str]:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines()


def _view(obj: dict[str, Any]) -> dict[str, Any]:
    """The parts of an object a reviewer cares about (no status, no bookkeeping)."""
    meta = obj.get("metadata", {})
    return {"metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"),
                         "labels": meta.get("labels"), "annotations": {
                             k: v for k, v in (meta.get("annotations") or {}).items()
                             if not k.startswith("deployment.kubernetes.io/")}},
            "spec": obj.get("spec")}


def diff_objects(before: dict[str, Any], after: dict[str, Any], name: str) -> str:
    lines = difflib.unified_diff(_yaml(_view(before)), _yaml(_view(after)),
                                 fromfile=f"{name} (now)", tofile=f"{name} (after)",
                                 lineterm="", n=2)
    return "\n".join(lines)


class WriteTools:
    def __init__(self, kube_api: kube.KubeApi | None, *, namespaces: list[str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._kube = kube_api
        self._allowed = set(namespaces or [])
        self._now = clock

    # -- plumbing ------------------------------------------------------------------------
    def _k(self) -> kube.KubeApi:
        return kube.require(self._kube)

    def _check_ns(self, namespace: str) -> None:
        if not namespace:
            raise errors.OpsbotError("a namespace is required")
        if self._allowed and namespace not in self._allowed:
            raise PermissionError(f"namespace {namespace!r} is outside the remediation "
                                  f"allow-list ({', '.join(sorted(self._allowed))})")
        if not self._allowed and namespace == "kube-system":
            raise PermissionError("kube-system is never changed by opsbot")

    def _run(self, tool: str, fn: Callable[[], Result]) -> Result:
        try:
            result = fn()
        except PermissionError as exc:
            return results.error(str(exc), backend="policy")
        except errors.BackendUnavailable as exc:
            return results.error(str(exc), backend=exc.backend)
        except errors.NotFound as exc:
            return results.error(f"not found: {exc}", backend="kubernetes")
        except (kube.ApiStatusError, errors.OpsbotError) as exc:
            return results.error(f"the API server refused it: {exc}", backend="kubernetes")
        result.setdefault("risk", WRITE_TOOL_RISK[tool])
        return result

    def _patch(self, kind: str, namespace: str, name: str, patch: Any, *, dry_run: bool,
               content_type: str = _STRATEGIC, subresource: str = "") -> Result:
        rtype = kube.resource_type(kind)
        before = self._k().get(kind, name, namespace)
        query = {"dryRun": "All"} if dry_run else None
        after = self._k().request("PATCH", rtype.path(namespace, name, subresource),
                                  query=query, body=patch, content_type=content_type)
        if subresource:
            merged = copy.deepcopy(before)
            merged.setdefault("spec", {}).update(after.get("spec") or {})
            after = merged
        ref = f"{rtype.kind}/{namespace + '/' if namespace else ''}{name}"
        diff = diff_objects(before, after, ref)
        return results.ok({"resource": ref, "dry_run": dry_run, "diff": diff or "(no change)",
                           "patch": patch}, "dry run: nothing changed" if dry_run else "applied")

    @staticmethod
    def _kind(kind: str) -> str:
        canonical = kube.resource_type(kind).kind
        if canonical not in _WORKLOAD_KINDS:
            raise errors.OpsbotError(f"{canonical} is not a workload kind")
        return canonical

    # -- tools -------------------------------------------------------------------------
    def delete_pod(self, namespace: str, name: str, dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            rtype = kube.resource_type("Pod")
            self._k().get("Pod", name, namespace)
            self._k().request("DELETE", rtype.path(namespace, name),
                              query={"dryRun": "All"} if dry_run else None)
            return results.ok({"resource": f"Pod/{namespace}/{name}", "dry_run": dry_run,
                               "diff": f"- Pod/{namespace}/{name} (deleted; its controller "
                                       "creates a replacement)"})
        return self._run("delete_pod", run)

    def scale(self, kind: str, namespace: str, name: str, replicas: int,
              dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            if not 0 <= int(replicas) <= 500:
                raise errors.OpsbotError("replicas must be between 0 and 500")
            return self._patch(self._kind(kind), namespace, name,
                               {"spec": {"replicas": int(replicas)}}, dry_run=dry_run,
                               content_type=_MERGE, subresource="scale")
        return self._run("scale", run)

    def restart(self, kind: str, namespace: str, name: str, dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            stamp = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
            patch = {"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": stamp}}}}}
            return self._patch(self._kind(kind), namespace, name, patch, dry_run=dry_run)
        return self._run("restart", run)

    def rollback(self, namespace: str, name: str, revision: int, dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            deployment = self._k().get("Deployment", name, namespace)
            labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            for rs in self._k().list("ReplicaSet", namespace, label_selector=selector):
                annotations = rs.get("metadata", {}).get("annotations") or {}
                if annotations.get("deployment.kubernetes.io/revision") == str(revision):
                    template = copy.deepcopy(rs["spec"]["template"])
                    (template.get("metadata", {}).get("labels") or {}).pop(
                        "pod-template-hash", None)
                    # Replace the whole template, as `kubectl rollout undo` does.
                    patch = [{"op": "replace", "path": "/spec/template", "value": template}]
                    return self._patch("Deployment", namespace, name, patch, dry_run=dry_run,
                                       content_type="application/json-patch+json")
            raise errors.NotFound(f"Deployment {namespace}/{name} has no revision {revision}")
        return self._run("rollback", run)

    def _container_patch(self, kind: str, namespace: str, name: str, container: str,
                         change: dict[str, Any], dry_run: bool) -> Result:
        canonical = self._kind(kind)
        current = self._k().get(canonical, name, namespace)
        names = [c["name"] for c in current["spec"]["template"]["spec"]["containers"]]
        if container not in names:
            raise errors.NotFound(f"{name} has no container {container!r} (it has "
                                  f"{', '.join(names)})")
        patch = {"spec": {"template": {"spec": {"containers": [{"name": container, **change}]}}}}
        return self._patch(canonical, namespace, name, patch, dry_run=dry_run)

    def set_resources(self, kind: str, namespace: str, name: str, container: str,
                      limits: dict[str, str] | None = None,
                      requests: dict[str, str] | None = None, dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            resources: dict[str, Any] = {}
            if limits:
                resources["limits"] = limits
            if requests:
                resources["requests"] = requests
            if not resources:
                raise errors.OpsbotError("give limits or requests to set")
            return self._container_patch(kind, namespace, name, container,
                                         {"resources": resources}, dry_run)
        return self._run("set_resources", run)

    def set_image(self, kind: str, namespace: str, name: str, container: str, image: str,
                  dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            return self._container_patch(kind, namespace, name, container, {"image": image},
                                         dry_run)
        return self._run("set_image", run)

    def set_env(self, kind: str, namespace: str, name: str, container: str, env_name: str,
                value: str = "", configmap: str = "", key: str = "",
                dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            entry: dict[str, Any] = {"name": env_name}
            if configmap:
                entry["valueFrom"] = {"configMapKeyRef": {"name": configmap,
                                                          "key": key or env_name}}
            else:
                entry["value"] = value
            return self._container_patch(kind, namespace, name, container, {"env": [entry]},
                                         dry_run)
        return self._run("set_env", run)

    def pause_rollout(self, namespace: str, name: str, dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            return self._patch("Deployment", namespace, name, {"spec": {"paused": True}},
                               dry_run=dry_run, content_type=_MERGE)
        return self._run("pause_rollout", run)

    def resume_rollout(self, namespace: str, name: str, dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            return self._patch("Deployment", namespace, name, {"spec": {"paused": False}},
                               dry_run=dry_run, content_type=_MERGE)
        return self._run("resume_rollout", run)

    def cordon(self, node: str, dry_run: bool = True) -> Result:
        return self._run("cordon", lambda: self._patch(
            "Node", "", node, {"spec": {"unschedulable": True}}, dry_run=dry_run,
            content_type=_MERGE))

    def uncordon(self, node: str, dry_run: bool = True) -> Result:
        return self._run("uncordon", lambda: self._patch(
            "Node", "", node, {"spec": {"unschedulable": False}}, dry_run=dry_run,
            content_type=_MERGE))

    def set_hpa_max(self, namespace: str, name: str, max_replicas: int,
                    dry_run: bool = True) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            if not 1 <= int(max_replicas) <= 500:
                raise errors.OpsbotError("max_replicas must be between 1 and 500")
            return self._patch("HorizontalPodAutoscaler", namespace, name,
                               {"spec": {"maxReplicas": int(max_replicas)}}, dry_run=dry_run,
                               content_type=_MERGE)
        return self._run("set_hpa_max", run)

    def register(self, server: Any) -> None:
        """Publish these tools on a FastMCP server (tools.server calls this)."""
        from tools import server as server_mod  # server imports this module's users

        server_mod.register_write_tools(server, self)
