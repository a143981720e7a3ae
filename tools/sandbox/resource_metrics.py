"""The resource metrics API (metrics.k8s.io/v1beta1) behind `kubectl top`, computed from
the same model as the Prometheus metrics."""

from __future__ import annotations

from typing import Any

from tools.sandbox import ids
from tools.sandbox.controller import Controller
from tools.sandbox.metrics_model import MetricsModel

__all__ = ["node_metrics", "pod_metrics"]

Obj = dict[str, Any]
# What the kubelet, container runtime and system daemons use on every node.
_NODE_OVERHEAD = (0.12, 1.1 * 2**30)


def _cpu(cores: float) -> str:
    return f"{round(cores * 1e9)}n"


def _memory(value: float) -> str:
    return f"{round(value / 1024)}Ki"


def pod_metrics(controller: Controller, model: MetricsModel) -> list[Obj]:
    t = controller.time
    usage = model.usage(t)
    out = []
    for pod in controller.objs.list("Pod"):
        meta = pod["metadata"]
        rows = usage.get(meta["uid"])
        if not rows:
            continue
        out.append({
            "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "labels": meta.get("labels") or {},
                         "creationTimestamp": ids.rfc3339(t)},
            "timestamp": ids.rfc3339(t - 7), "window": "15s",
            "containers": [{"name": name, "usage": {"cpu": _cpu(cpu), "memory": _memory(mem)}}
                           for name, cpu, mem in rows]})
    return out


def node_metrics(controller: Controller, model: MetricsModel) -> list[Obj]:
    t = controller.time
    usage = model.usage(t)
    totals: dict[str, list[float]] = {}
    for uid, rows in usage.items():
        record = controller.records.get(uid)
        if record is None:
            continue
        total = totals.setdefault(record.node, [*_NODE_OVERHEAD])
        for _name, cpu, mem in rows:
            total[0] += cpu
            total[1] += mem
    return [{"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
             "metadata": {"name": node["metadata"]["name"],
                          "labels": node["metadata"].get("labels") or {},
                          "creationTimestamp": ids.rfc3339(t)},
             "timestamp": ids.rfc3339(t - 9), "window": "20s",
             "usage": {"cpu": _cpu(totals.get(node["metadata"]["name"], _NODE_OVERHEAD)[0]),
                       "memory": _memory(totals.get(node["metadata"]["name"],
                                                    _NODE_OVERHEAD)[1])}}
            for node in controller.objs.list("Node")
            if node["metadata"]["uid"] not in controller.frozen]
