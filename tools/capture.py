"""`opsbot capture`: write an incident bundle from a live cluster and Prometheus, so teams
keep a library of real incidents for game days and regression tests.

Secret values never leave the cluster (the API layer blanks them); metrics are the series
RCA reads, for the namespace, over the window, at a one-minute step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools import bundles, errors, kube, prom

__all__ = ["CAPTURED_METRICS", "capture_bundle"]

_NAMESPACED = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Pod", "Service",
               "Endpoints", "ConfigMap", "Secret", "PersistentVolumeClaim",
               "HorizontalPodAutoscaler", "ResourceQuota", "Event", "NetworkPolicy")
CAPTURED_METRICS = (
    "http_requests_total", "http_request_duration_seconds_bucket",
    "container_cpu_usage_seconds_total", "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total", "container_memory_working_set_bytes",
    "kube_pod_container_resource_limits", "kube_pod_container_resource_requests",
    "kube_pod_container_status_restarts_total", "kube_pod_container_status_ready",
    "kube_deployment_spec_replicas", "kube_deployment_status_replicas_available",
    "kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes",
)


def _label_text(labels: dict[str, str]) -> str:
    parts = []
    for key, value in sorted(labels.items()):
        if key == "__name__":
            continue
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{escaped}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _metrics(prom_api: prom.PromApi, namespace: str, start: datetime,
             end: datetime) -> tuple[str, list[str]]:
    lines: list[str] = []
    missing: list[str] = []
    for name in CAPTURED_METRICS:
        try:
            series = prom_api.range(f'{name}{{namespace="{namespace}"}}', start, end, 60)
        except (errors.BackendUnavailable, prom.QueryError) as exc:
            missing.append(f"{name}: {exc}")
            continue
        if not series:
            continue
        # "unknown" keeps any family name valid (counters keep their _total names).
        lines.append(f"# TYPE {name} unknown")
        for row in series:
            labels = _label_text(row["metric"])
            lines.extend(f"{name}{labels} {value} {ts:.3f}" for ts, value in row["points"]
                         if value is not None)
    return ("\n".join([*lines, "# EOF"]) + "\n" if lines else ""), missing


def capture_bundle(kube_api: kube.KubeApi, prom_api: prom.PromApi | None, *, namespace: str,
                   out: Path, question: str = "", minutes: int = 60,
                   now: datetime | None = None) -> tuple[Path, list[str]]:
    """Write the bundle; returns its folder and what could not be captured."""
    end = now or datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    objects: list[dict[str, Any]] = []
    problems: list[str] = []
    kube_api.get("Namespace", namespace)  # fails early and clearly for a wrong name
    for kind in _NAMESPACED:
        try:
            objects += kube_api.list(kind, namespace)
        except errors.OpsbotError as exc:
            problems.append(f"{kind}: {exc}")
    node_names = {o.get("spec", {}).get("nodeName") for o in objects if o.get("kind") == "Pod"}
    for name in sorted(n for n in node_names if n):
        try:
            objects.append(kube_api.get("Node", name))
        except errors.OpsbotError as exc:
            problems.append(f"Node {name}: {exc}")
    logs: dict[tuple[str, str, bool], str] = {}
    for pod in (o for o in objects if o.get("kind") == "Pod"):
        name = pod["metadata"]["name"]
        for status in pod.get("status", {}).get("containerStatuses") or []:
            container = status["name"]
            wanted = [False] + ([True] if int(status.get("restartCount") or 0) else [])
            for previous in wanted:
                try:
                    logs[(name, container, previous)] = kube_api.pod_log(
                        namespace, name, container=container, previous=previous,
                        tail_lines=500)
                except errors.OpsbotError as exc:
                    problems.append(f"logs of {name}/{container}: {exc}")
    metrics = ""
    if prom_api is not None:
        metrics, missing = _metrics(prom_api, namespace, start, end)
        problems += missing
    else:
        problems.append("metrics: no Prometheus configured")
    meta = {"name": f"{namespace}-{end:%Y%m%d-%H%M}", "namespace": namespace,
            "question": question or f"what is wrong in {namespace}?",
            "end": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    bundle = bundles.Bundle(path=Path(out), meta=meta, objects=objects, logs=logs,
                            metrics=metrics)
    return bundles.write_bundle(bundle, Path(out)), problems
