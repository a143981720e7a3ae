"""The `predict` route: forecast a workload's load or resources from its Prometheus
history and turn it into capacity advice, exhaustion warnings and a chart.

`/predict TARGET [metric] [horizon]` or free text ("how many replicas will orders need
for tomorrow's peak?"). The metric defaults to request rate when the workload serves
HTTP, else CPU; memory and disk give exhaustion warnings against their limits.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph import actions, chat, promql, targets
from graph.analysis import capacity, errors, exhaustion, forecast, series
from graph.predict_chart import draw_forecast

__all__ = ["Request", "parse_request", "predict_reply"]

_HOUR = 3600.0
_HISTORY_DAYS = 14


@dataclass(frozen=True)
class Request:
    metric: str  # qps | cpu | memory | disk | auto
    horizon_h: int


_METRICS = [("memory", ("memory", "mem", "内存")), ("disk", ("disk", "pvc", "volume", "磁盘",
                                                          "存储")),
            ("cpu", ("cpu", "处理器")),
            ("qps", ("qps", "rps", "traffic", "requests", "load", "流量", "请求"))]
_HORIZON = re.compile(r"(\d{1,3})\s*(h|hours?|小时|d|days?|天)\b", re.I)


def parse_request(text: str) -> Request:
    lowered = text.lower()
    metric = next((name for name, words in _METRICS if any(w in lowered for w in words)),
                  "auto")
    horizon = 24
    match = _HORIZON.search(lowered)
    if match:
        number = int(match.group(1))
        horizon = number * 24 if match.group(2)[0] in "d天" else number
    elif any(w in lowered for w in ("week", "7 days", "一周", "下周")):
        horizon = 168
    elif any(w in lowered for w in ("tomorrow", "明天")):
        horizon = 36  # covers tomorrow's business hours whatever the time now
    return Request(metric, max(1, min(horizon, 168)))


def _pods(target: targets.Target) -> str:
    return f'namespace="{target.namespace}", pod=~"{promql.regex_literal(target.name)}-.+"'


async def _series(tools: targets.ToolCaller, query: str, now: float, name: str,
                  step_s: float = _HOUR) -> series.Series | None:
    result = await tools.call("prom_range", query=query,
                              start=str(now - _HISTORY_DAYS * 86400), end=str(now),
                              step=f"{int(step_s)}s")
    if result.get("status") != "ok" or not result["data"]:
        return None
    points = [(t, v) for t, v in result["data"][0]["points"] if v is not None]
    if len(points) < 8:
        return None
    try:
        return series.from_samples([t for t, _ in points], [v for _, v in points],
                                   step=step_s, name=name)
    except errors.BadInput:
        return None


async def _instant(tools: targets.ToolCaller, query: str) -> float | None:
    result = await tools.call("prom_query", query=query)
    if result.get("status") != "ok" or not result["data"]:
        return None
    value = result["data"][0]["value"]
    return float(value) if value is not None else None


async def _workload(tools: targets.ToolCaller, target: targets.Target) -> tuple[
        dict[str, Any] | None, list[str], dict[str, Any] | None]:
    """The workload object, the Services selecting it, and its HPA."""
    described = await tools.call("describe", kind=target.kind, name=target.name,
                                 namespace=target.namespace)
    obj = described["data"]["object"] if described.get("status") == "ok" else None
    if obj is None:
        return None, [], None
    labels = (obj.get("spec", {}).get("template", {}).get("metadata") or {}).get("labels") or {}
    services = await tools.call("list_resources", kind="Service", namespace=target.namespace)
    names = [s["metadata"]["name"] for s in services.get("data") or []
             if (s.get("spec", {}).get("selector") or {}) and all(
                 labels.get(k) == v for k, v in s["spec"]["selector"].items())]
    hpas = await tools.call("list_resources", kind="HorizontalPodAutoscaler",
                            namespace=target.namespace)
    hpa = next((h for h in hpas.get("data") or []
                if h.get("spec", {}).get("scaleTargetRef", {}).get("name") == target.name), None)
    return obj, names, hpa


async def _per_replica_capacity(tools: targets.ToolCaller, target: targets.Target,
                                load: series.Series, now: float) -> float | None:
    """Requests/s one replica handles at 100 % of its CPU request, from the workload's own
    history: load x (CPU request of one pod) / (CPU used by all pods)."""
    cpu = await _series(tools, f"sum(rate(container_cpu_usage_seconds_total{{{_pods(target)}}}"
                        f"[1h]))", now, "cpu")
    per_pod = await _instant(tools, f'max(kube_pod_container_resource_requests{{'
                             f'{_pods(target)}, resource="cpu"}})')
    if cpu is None or not per_pod:
        return None
    index = {float(t): v for t, v in zip(cpu.timestamps, cpu.values, strict=True)}
    ratios = [qps * per_pod / index[float(t)] for t, qps in zip(
        load.timestamps, load.values, strict=True)
        if float(t) in index and index[float(t)] > 0 and qps > 0]
    return statistics.median(ratios) if len(ratios) >= 8 else None


async def predict_reply(tools: targets.ToolCaller, target: targets.Target, text: str, *,
                        chart_dir: Path, clock: Callable[[], float] = time.time) -> (
        chat.ChatReply):
    request = parse_request(text)
    if target.kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        return chat.ChatReply(kind="question", text=f"I forecast workloads; {target.ref} is "
                              "not one. Try `/predict orders` or `/predict orders memory 48h`.")
    now = clock()
    obj, services, hpa = await _workload(tools, target)
    if obj is None:
        return chat.ChatReply(kind="error", text=f"I can't read {target.ref} right now.")
    metric = request.metric
    if metric == "auto":
        metric = "qps" if services else "cpu"
    if metric == "qps" and not services:
        return chat.ChatReply(text=f"{target.name} has no Service, so it has no request "
                              "rate to forecast; try `cpu` or `memory`.")
    if metric in ("memory", "disk"):
        return await _exhaustion_reply(tools, target, metric, request, now, chart_dir)
    if metric == "qps":
        selector = f'namespace="{target.namespace}", service="{services[0]}"'
        query = f"sum(rate(http_requests_total{{{selector}}}[1h]))"
        unit = "req/s"
    else:
        query = f"sum(rate(container_cpu_usage_seconds_total{{{_pods(target)}}}[1h]))"
        unit = "cores"
    history = await _series(tools, query, now, metric)
    if history is None:
        return chat.ChatReply(text=f"There is not enough {metric} history for {target.ref} in "
                              "Prometheus to forecast (need at least a few hours).",
                              footnote=f"PromQL: {query}")
    try:
        result = forecast.forecast(history, request.horizon_h)
    except errors.BadInput as exc:
        return chat.ChatReply(text=f"I could not forecast {target.ref}: {exc}")
    replicas = int(obj.get("spec", {}).get("replicas") or 1)
    hpa_max = int(hpa["spec"]["maxReplicas"]) if hpa else None
    advice_lines: list[str] = []
    buttons: list[chat.Button] = []
    advice = None
    per_replica: float | None = None
    if metric == "qps":
        per_replica = await _per_replica_capacity(tools, target, history, now)
        if per_replica:
            advice = capacity.advise_capacity(
                result, per_replica_capacity=per_replica, current_replicas=replicas,
                hpa_max=hpa_max, subject=target.name, unit=unit)
            advice_lines = list(advice.lines)
            if hpa is not None and advice.hpa_max_ok is False:
                action = actions.set_hpa_max(
                    f"HorizontalPodAutoscaler/{target.namespace}/{hpa['metadata']['name']}",
                    advice.replicas_safe, "cover the forecast peak")
                buttons.append(chat.Button(action_id="propose_fix", label=action.summary[:70],
                                           value=json.dumps(action.to_dict())))
            elif hpa is None and advice.replicas_safe > replicas:
                action = actions.scale(target.ref, advice.replicas_safe,
                                       "cover the forecast peak")
                buttons.append(chat.Button(action_id="propose_fix", label=action.summary[:70],
                                           value=json.dumps(action.to_dict())))
        else:
            advice_lines = ["No per-replica capacity could be derived (CPU usage or requests "
                            "missing in Prometheus), so no replica advice."]
    peak = result.peak()
    chart = draw_forecast(result, chart_dir / f"forecast-{target.name}-{int(now)}.png",
                          title=f"{metric} of {target.namespace}/{target.name}", unit=unit,
                          capacity_line=(advice.current_replicas * (per_replica or 0) * 0.7
                                         if advice and metric == "qps" else None))
    backtest = result.backtest
    fields = [chat.ReplyField(label="Forecast peak", value=f"{peak.value:.3g} {unit} at "
                              f"{history.describe_time(peak.timestamp)}"),
              chat.ReplyField(label=f"{result.interval:.0%} interval",
                              value=f"{peak.lower:.3g} – {peak.upper:.3g} {unit}"),
              chat.ReplyField(label="Replicas now", value=str(replicas)
                              + (f" (HPA max {hpa_max})" if hpa_max else ""))]
    if advice:
        fields.append(chat.ReplyField(label="Replicas needed",
                                      value=f"{advice.replicas_needed} "
                                      f"({advice.replicas_safe} for the upper bound)"))
    used = result.history_used()
    footnote = (f"Model {result.model}; backtest sMAPE {backtest.get('smape', float('nan')):.1f} %"
                f", MASE {backtest.get('mase', float('nan')):.2f}; history {used['span_hours']} h "
                f"at {int(used['step_seconds'] // 60)} min" + "".join(
                    f"; {n}" for n in result.notes[:2]))
    return chat.ChatReply(kind="card", title=f"Forecast: {target.ref}",
                          text=f"{metric} of {target.name} over the next {request.horizon_h} h: "
                          f"peak {peak.value:.3g} {unit} at "
                          f"{history.describe_time(peak.timestamp)}",
                          fields=fields, sections=[chat.Section(title="Advice", text="\n".join(
                              f"• {line}" for line in advice_lines))] if advice_lines else [],
                          images=[str(chart)] if chart else [], buttons=buttons,
                          footnote=footnote)


async def _exhaustion_reply(tools: targets.ToolCaller, target: targets.Target, metric: str,
                            request: Request, now: float, chart_dir: Path) -> chat.ChatReply:
    if metric == "memory":
        usage_q = f"max(container_memory_working_set_bytes{{{_pods(target)}}})"
        limit_q = f'min(kube_pod_container_resource_limits{{{_pods(target)}, resource="memory"}})'
        subject = f"memory of {target.name}"
    else:
        claim = f'namespace="{target.namespace}", persistentvolumeclaim=~".*{target.name}.*"'
        usage_q = f"max(kubelet_volume_stats_used_bytes{{{claim}}})"
        limit_q = f"min(kubelet_volume_stats_capacity_bytes{{{claim}}})"
        subject = f"the volume of {target.name}"
    usage = await _series(tools, usage_q, now, metric, step_s=300.0)
    limit = await _instant(tools, limit_q)
    if usage is None:
        return chat.ChatReply(text=f"There is no {metric} history for {target.ref} in "
                              "Prometheus.", footnote=f"PromQL: {usage_q}")
    if limit is None:
        return chat.ChatReply(text=f"{target.ref} has no {metric} limit to run out of.",
                              footnote=f"PromQL: {limit_q}")
    found = exhaustion.time_to_exhaustion(usage, limit, window=2 * 86400)
    line = found.describe(subject, fills=metric == "disk")
    warn = found.seconds is not None and found.seconds < request.horizon_h * _HOUR
    return chat.ChatReply(kind="card", title=f"{metric.capitalize()}: {target.ref}",
                          text=("⚠️ " if warn else "") + line,
                          fields=[chat.ReplyField(label="Now", value=f"{found.current / 2**20:.0f} "
                                                  "MiB"),
                                  chat.ReplyField(label="Limit", value=f"{limit / 2**20:.0f} MiB")],
                          footnote=f"Method {found.method}: {found.reason}")
