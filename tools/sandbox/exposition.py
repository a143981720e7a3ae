"""Metric families and their two text forms: the Prometheus exposition a live scrape
reads, and OpenMetrics with timestamps for `promtool tsdb create-blocks-from openmetrics`.

In OpenMetrics a counter family is named without `_total` and its samples with it; the
classic exposition names the family after the sample. Both are produced from one table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["FAMILIES", "Family", "Labels", "family_of", "format_value", "openmetrics_family",
           "text_exposition"]

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    name: str  # OpenMetrics family name (no _total)
    type: str  # counter, gauge, histogram
    help: str

    @property
    def sample_names(self) -> tuple[str, ...]:
        if self.type == "counter":
            return (f"{self.name}_total",)
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


_FAMILIES = [
    Family("http_requests", "counter", "HTTP requests served, by status code."),
    Family("http_request_duration_seconds", "histogram", "HTTP request latency."),
    Family("container_cpu_usage_seconds", "counter", "Cumulative CPU time consumed."),
    Family("container_cpu_cfs_periods", "counter", "Number of elapsed enforcement periods."),
    Family("container_cpu_cfs_throttled_periods", "counter",
           "Number of throttled period intervals."),
    Family("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    Family("kube_pod_container_resource_limits", "gauge",
           "The number of requested limit resource by a container."),
    Family("kube_pod_container_resource_requests", "gauge",
           "The number of requested request resource by a container."),
    Family("kube_pod_container_status_restarts", "counter",
           "The number of container restarts per container."),
    Family("kube_pod_container_status_ready", "gauge",
           "Describes whether the containers readiness check succeeded."),
    Family("kube_pod_container_status_last_terminated_reason", "gauge",
           "Describes the last reason the container was in terminated state."),
    Family("kube_pod_status_phase", "gauge", "The pods current phase."),
    Family("kube_deployment_spec_replicas", "gauge",
           "Number of desired pods for a deployment."),
    Family("kube_deployment_status_replicas_available", "gauge",
           "The number of available replicas per deployment."),
    Family("kube_deployment_status_replicas_unavailable", "gauge",
           "The number of unavailable replicas per deployment."),
    Family("kube_horizontalpodautoscaler_spec_max_replicas", "gauge",
           "Upper limit for the number of pods that can be set by the autoscaler."),
    Family("kube_horizontalpodautoscaler_status_current_replicas", "gauge",
           "Current number of replicas of pods managed by this autoscaler."),
    Family("kube_node_status_condition", "gauge", "The condition of a cluster node."),
    Family("kubelet_volume_stats_used_bytes", "gauge",
           "Number of used bytes in the volume."),
    Family("kubelet_volume_stats_capacity_bytes", "gauge", "Capacity in bytes of the volume."),
]
FAMILIES: dict[str, Family] = {f.name: f for f in _FAMILIES}
_BY_SAMPLE = {sample: f for f in _FAMILIES for sample in f.sample_names}


def family_of(sample_name: str) -> Family:
    return _BY_SAMPLE[sample_name]


def format_value(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + body + "}"


def text_exposition(samples: Iterable[tuple[str, Labels, float]]) -> str:
    """Prometheus text format 0.0.4 (no timestamps), families in a stable order."""
    grouped: dict[str, list[tuple[str, Labels, float]]] = {}
    for name, labels, value in samples:
        grouped.setdefault(family_of(name).name, []).append((name, labels, value))
    out: list[str] = []
    for family in _FAMILIES:
        rows = grouped.get(family.name)
        if not rows:
            continue
        head = family.sample_names[0] if family.type == "counter" else family.name
        out.append(f"# HELP {head} {family.help}")
        out.append(f"# TYPE {head} {family.type}")
        out += [f"{name}{_labels(labels)} {format_value(value)}" for name, labels, value in rows]
    return "\n".join(out) + "\n"


def openmetrics_family(family: Family,
                       series: Mapping[tuple[str, Labels], Sequence[tuple[float, float]]]
                       ) -> Iterable[str]:
    """One family's lines: each series' samples in time order, with timestamps."""
    if not series:
        return
    yield f"# HELP {family.name} {family.help}"
    yield f"# TYPE {family.name} {family.type}"
    for (name, labels), points in series.items():
        prefix = f"{name}{_labels(labels)} "
        for t, value in points:
            yield f"{prefix}{format_value(value)} {t:.3f}"
