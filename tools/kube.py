"""Raw Kubernetes API access through the official client, as plain JSON dicts.

The typed client models are heavy and lose fields the API returns; opsbot works on the
JSON the API server sends (camelCase, exactly what kubectl shows with -o json). Every
call goes through `KubeApi.request`, which translates client and connection errors into
the project's own errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from tools import errors

__all__ = ["KIND_ALIASES", "KubeApi", "ResourceType", "connect", "require", "resource_type"]


@dataclass(frozen=True)
class ResourceType:
    kind: str
    prefix: str  # /api/v1 or /apis/GROUP/VERSION
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/apis/").removeprefix("/api/")

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


_TYPES = [
    ResourceType("Namespace", "/api/v1", "namespaces", False),
    ResourceType("Node", "/api/v1", "nodes", False),
    ResourceType("Pod", "/api/v1", "pods", True),
    ResourceType("Service", "/api/v1", "services", True),
    ResourceType("Endpoints", "/api/v1", "endpoints", True),
    ResourceType("ConfigMap", "/api/v1", "configmaps", True),
    ResourceType("Secret", "/api/v1", "secrets", True),
    ResourceType("PersistentVolumeClaim", "/api/v1", "persistentvolumeclaims", True),
    ResourceType("Event", "/api/v1", "events", True),
    ResourceType("ResourceQuota", "/api/v1", "resourcequotas", True),
    ResourceType("Deployment", "/apis/apps/v1", "deployments", True),
    ResourceType("ReplicaSet", "/apis/apps/v1", "replicasets", True),
    ResourceType("StatefulSet", "/apis/apps/v1", "statefulsets", True),
    ResourceType("DaemonSet", "/apis/apps/v1", "daemonsets", True),
    ResourceType("HorizontalPodAutoscaler", "/apis/autoscaling/v2",
                 "horizontalpodautoscalers", True),
    ResourceType("NetworkPolicy", "/apis/networking.k8s.io/v1", "networkpolicies", True),
]
_BY_KIND = {t.kind: t for t in _TYPES}

KIND_ALIASES: dict[str, str] = {
    "ns": "Namespace", "namespace": "Namespace", "namespaces": "Namespace",
    "no": "Node", "node": "Node", "nodes": "Node",
    "po": "Pod", "pod": "Pod", "pods": "Pod",
    "svc": "Service", "service": "Service", "services": "Service",
    "ep": "Endpoints", "endpoints": "Endpoints",
    "cm": "ConfigMap", "configmap": "ConfigMap", "configmaps": "ConfigMap",
    "secret": "Secret", "secrets": "Secret",
    "pvc": "PersistentVolumeClaim", "persistentvolumeclaim": "PersistentVolumeClaim",
    "ev": "Event", "event": "Event", "events": "Event",
    "quota": "ResourceQuota", "resourcequota": "ResourceQuota",
    "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
    "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet",
    "sts": "StatefulSet", "statefulset": "StatefulSet", "statefulsets": "StatefulSet",
    "ds": "DaemonSet", "daemonset": "DaemonSet", "daemonsets": "DaemonSet",
    "hpa": "HorizontalPodAutoscaler", "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "netpol": "NetworkPolicy", "networkpolicy": "NetworkPolicy",
}


def resource_type(kind: str) -> ResourceType:
    """Look a kind up by its name, plural or kubectl short name."""
    canonical = _BY_KIND.get(kind) or _BY_KIND.get(KIND_ALIASES.get(kind.lower(), ""))
    if canonical is None:
        known = ", ".join(sorted(_BY_KIND))
        raise errors.NotFound(f"unknown kind {kind!r}; known kinds: {known}")
    return canonical


class KubeApi:
    """JSON requests to one API server with one credential."""

    def __init__(self, api_client: k8s_client.ApiClient, *, timeout_s: float = 10.0,
                 server: str = "") -> None:
        self._api = api_client
        self._timeout = timeout_s
        self.server = server or api_client.configuration.host

    def close(self) -> None:
        self._api.close()

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: Any = None, content_type: str = "application/json",
                raw: bool = False) -> Any:
        """Send one request; return the decoded JSON (or text when `raw`)."""
        params = [(k, v) for k, v in (query or {}).items() if v not in (None, "")]
        headers = {"Accept": "application/json, */*"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            m, url, hdrs, data, post = self._api.param_serialize(
                method=method, resource_path=path, query_params=params,
                header_params=headers, body=body, auth_settings=["BearerToken"])
            response = self._api.call_api(m, url, header_params=hdrs, body=data,
                                          post_params=post, _request_timeout=self._timeout)
            payload = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.BackendUnavailable("kubernetes", f"{self.server}: {exc}") from exc
        except k8s_client.ApiException as exc:
            raise _translate_status(exc.status or 0, exc.body or "", path) from exc
        if response.status >= 400:
            raise _translate_status(response.status, payload.decode(errors="replace"), path)
        if raw:
            return payload.decode("utf-8", errors="replace")
        return json.loads(payload) if payload else {}

    def get(self, kind: str, name: str, namespace: str = "") -> dict[str, Any]:
        rtype = resource_type(kind)
        obj = self.request("GET", rtype.path(namespace, name))
        obj.setdefault("kind", rtype.kind)
        return _clean(obj)

    def list(self, kind: str, namespace: str = "", *, label_selector: str = "",
             field_selector: str = "") -> list[dict[str, Any]]:
        rtype = resource_type(kind)
        data = self.request("GET", rtype.path(namespace), query={
            "labelSelector": label_selector, "fieldSelector": field_selector})
        items = data.get("items", [])
        for item in items:
            # The API omits kind/apiVersion on list items; callers rely on them.
            item.setdefault("kind", rtype.kind)
            item.setdefault("apiVersion", rtype.api_version)
            _clean(item)
        return list(items)

    def pod_log(self, namespace: str, pod: str, *, container: str = "",
                previous: bool = False, tail_lines: int | None = None,
                since_seconds: int | None = None) -> str:
        rtype = resource_type("Pod")
        query: dict[str, Any] = {"container": container, "tailLines": tail_lines,
                                 "sinceSeconds": since_seconds}
        if previous:
            query["previous"] = "true"
        return str(self.request("GET", rtype.path(namespace, pod, "log"), query=query,
                                raw=True))

    def version(self) -> dict[str, Any]:
        return dict(self.request("GET", "/version"))


class ApiStatusError(errors.OpsbotError):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


def _translate_status(status: int, body: str, path: str) -> errors.OpsbotError:
    try:
        decoded = json.loads(body)
        message = decoded.get("message", body)
        reason = decoded.get("reason", "")
    except (ValueError, AttributeError):
        message, reason = body[:300], ""
    if status == 404:
        return errors.NotFound(message or f"not found: {path}")
    if status in (401, 403):
        return errors.BackendUnavailable("kubernetes", f"access denied ({status}): {message}")
    return ApiStatusError(status, reason, message)


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop noise and never pass secret values on, whatever the server sent."""
    meta = obj.get("metadata", {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if obj.get("kind") == "Secret":
        obj["data"] = {key: "" for key in (obj.get("data") or {})}
        obj.pop("stringData", None)
    return obj


def require(api: KubeApi | None) -> KubeApi:
    """The cluster a tool needs, or the error that says none is configured."""
    if api is None:
        raise errors.BackendUnavailable("kubernetes", "no cluster is configured")
    return api


def connect(*, kubeconfig: str = "", context: str = "", in_cluster: bool = False,
            timeout_s: float = 10.0) -> KubeApi:
    """Open a client from a kubeconfig file or the pod's service account."""
    try:
        if in_cluster:
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
            api_client = k8s_client.ApiClient(configuration)
        else:
            api_client = k8s_config.new_client_from_config(
                config_file=kubeconfig or None, context=context or None)
    except (k8s_config.ConfigException, OSError, ValueError) as exc:
        raise errors.BackendUnavailable("kubernetes", f"cannot load config: {exc}") from exc
    # A down API server should fail fast, not retry for a minute.
    api_client.configuration.retries = 1
    return KubeApi(api_client, timeout_s=timeout_s)
