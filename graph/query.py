"""The `query` route: read-only live lookups answered by one or two MCP tool calls.

What is asked (pods, logs, events, history, a metric, raw PromQL, ...) is read from
keywords in English and Chinese; the object comes from target resolution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from graph import chat, http_metrics, promql, targets
from tools import summaries

__all__ = ["QueryKind", "answer_query", "detect_query_kind", "promql_for"]


@dataclass(frozen=True)
class QueryKind:
    what: str  # pods, logs, events, history, metric, promql, nodes, namespaces, workloads, status
    metric: str = ""
    promql: str = ""


_KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("logs", ("log", "日志", "输出")),
    ("events", ("event", "事件", "warning", "告警事件")),
    ("history", ("history", "revision", "rollout", "版本", "历史", "发布记录")),
    ("nodes", ("node", "节点")),
    ("namespaces", ("namespaces", "命名空间有哪些", "所有命名空间")),
    ("workloads", ("deployments", "workloads", "deployed", "statefulset", "工作负载", "部署了")),
    ("pods", ("pod", "容器组", "实例")),
]
_METRICS: list[tuple[str, tuple[str, ...]]] = [
    ("error_rate", ("error rate", "errors", "5xx", "错误率", "报错率", "失败率")),
    ("latency", ("latency", "slow", "p99", "p95", "延迟", "耗时", "响应时间")),
    ("qps", ("qps", "rps", "traffic", "requests", "throughput", "流量", "请求量")),
    ("cpu", ("cpu", "throttl", "处理器")),
    ("memory", ("memory", "mem ", "ram", "内存")),
    ("restarts", ("restarts", "restart count", "重启次数")),
]
_PROMQL = re.compile(r"`([^`]+)`")


def detect_query_kind(text: str) -> QueryKind:
    lowered = f" {text.lower()} "
    raw = _PROMQL.search(text)
    if raw and ("(" in raw.group(1) or "{" in raw.group(1) or "_" in raw.group(1)):
        return QueryKind("promql", promql=raw.group(1))
    for metric, words in _METRICS:
        if any(w in lowered for w in words):
            return QueryKind("metric", metric=metric)
    for what, words in _KEYWORDS:
        if any(w in lowered for w in words):
            return QueryKind(what)
    return QueryKind("status")


def promql_for(metric: str, target: targets.Target) -> str:
    """A PromQL expression for a named metric of a workload or namespace."""
    ns = target.namespace if target.kind != "Namespace" else target.name
    if target.kind in ("Namespace", "Node"):
        pod_match = f'namespace="{ns}"'
        svc_match = f'namespace="{ns}"'
    else:
        pod_match = f'namespace="{ns}", pod=~"{promql.regex_literal(target.name)}-.*"'
        svc_match = f'namespace="{ns}", service="{target.name}"'
    if target.kind not in ("Namespace", "Node"):
        # One workload: whichever HTTP instrumentation it exports (see http_metrics).
        sel = {"service": target.name, "pods": f"{promql.regex_literal(target.name)}-.*",
               "workload": target.name}
        http = {"error_rate": http_metrics.error_ratio(ns, **sel),
                "latency": http_metrics.latency_p99(ns, **sel),
                "qps": http_metrics.request_rate(ns, **sel)}
        if metric in http:
            return http[metric]
    by = "by (service)" if target.kind == "Namespace" else ""
    return {
        "error_rate": f'sum {by} (rate(http_requests_total{{{svc_match}, code=~"5.."}}[10m])) '
                      f'/ sum {by} (rate(http_requests_total{{{svc_match}}}[10m]))',
        "latency": f"histogram_quantile(0.99, sum by (le) (rate("
                   f"http_request_duration_seconds_bucket{{{svc_match}}}[10m])))",
        "qps": f"sum {by} (rate(http_requests_total{{{svc_match}}}[10m]))",
        "cpu": f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pod_match}}}[10m]))",
        "memory": f"sum by (pod) (container_memory_working_set_bytes{{{pod_match}}})",
        "restarts": f"sum by (pod) (kube_pod_container_status_restarts_total{{{pod_match}}})",
    }[metric]


_UNITS = {"error_rate": "ratio", "latency": "s", "qps": "req/s", "cpu": "cores",
          "memory": "bytes", "restarts": "restarts"}


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no value"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    if unit == "bytes":
        return f"{value / 2**20:.0f} MiB"
    if unit == "s":
        return f"{value * 1000:.0f} ms"
    return f"{value:.3g} {unit}"


def _problem_reply(result: dict[str, Any], what: str) -> chat.ChatReply | None:
    """A tool error or empty answer, said plainly."""
    if result.get("status") == "error":
        backend = result.get("backend") or "a backend"
        return chat.ChatReply(kind="error", text=f"I couldn't {what}: {backend} answered with "
                              f"an error. {result.get('message', '')}".strip())
    if result.get("status") == "no_data":
        return chat.ChatReply(text=f"Nothing to show: {result.get('message', 'no data')}.")
    return None


def pods_reply(result: dict[str, Any], where: str) -> chat.ChatReply:
    problem = _problem_reply(result, f"list the pods {where}")
    if problem:
        return problem
    rows = result["data"]
    flagged = [r for r in rows if r["problems"]]
    sections = []
    for row in flagged[:10]:
        term = row.get("last_termination") or {}
        fields = [chat.ReplyField(label="Status", value=row["status"]),
                  chat.ReplyField(label="Ready", value=row["ready"]),
                  chat.ReplyField(label="Restarts", value=str(row["restarts"]))]
        if term.get("reason"):
            fields.append(chat.ReplyField(
                label="Last termination",
                value=f"{term['reason']} (exit code {term.get('exitCode')}) at "
                      f"{term.get('finishedAt') or '?'}"))
        sections.append(chat.Section(title=f"⚠ {row['namespace']}/{row['name']}",
                                     text="; ".join(row["problems"]), fields=fields))
    table = ["NAME                                   READY  STATUS              RESTARTS  NODE"]
    for row in rows[:40]:
        table.append(f"{row['name'][:38]:<38} {row['ready']:<6} {row['status'][:19]:<19} "
                     f"{row['restarts']:<9} {row['node']}")
    if len(rows) > 40:
        table.append(f"... and {len(rows) - 40} more")
    sections.append(chat.Section(title="All pods", text="```\n" + "\n".join(table) + "\n```"))
    headline = (f"{len(rows)} pods {where}: {len(flagged)} with problems"
                if flagged else f"{len(rows)} pods {where}, all healthy")
    if flagged:
        worst = flagged[0]
        term = worst.get("last_termination") or {}
        headline += (f" — {worst['name']} is {worst['status']} with {worst['restarts']} "
                     f"restarts" + (f", last exit {term['reason']} (code {term.get('exitCode')})"
                                    if term.get("reason") else ""))
    return chat.ChatReply(kind="card", title="Pods", text=headline, sections=sections,
                          buttons=[chat.Button(action_id="rca", label=f"RCA {r['workload']}",
                                               value=f"{r['workload']}|{r['namespace']}")
                                   for r in _unique_workloads(flagged)[:3]])


def _unique_workloads(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, unique = set(), []
    for row in rows:
        key = (row["namespace"], row["workload"])
        if row["workload"] and key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


async def _logs(tools: targets.ToolCaller, target: targets.Target) -> chat.ChatReply:
    pod, previous = target.name, False
    if target.kind != "Pod":
        pods = await tools.call("list_pods", namespace=target.namespace,
                                workload=f"{target.kind}/{target.name}")
        problem = _problem_reply(pods, f"find the pods of {target.ref}")
        if problem:
            return problem
        worst = pods["data"][0]  # sorted: problems first, most restarts first
        pod, previous = worst["name"], worst["restarts"] > 0 and bool(worst["problems"])
    result = await tools.call("pod_logs", pod=pod, namespace=target.namespace,
                              previous=previous, tail=50)
    if previous and result.get("status") != "ok":
        previous = False
        result = await tools.call("pod_logs", pod=pod, namespace=target.namespace, tail=50)
    problem = _problem_reply(result, f"read the logs of {pod}")
    if problem:
        return problem
    which = "previous (crashed) container" if previous else "current container"
    text = result["data"]["text"]
    return chat.ChatReply(kind="card", title=f"Logs of {pod}",
                          text=f"Last lines of the {which} of {target.namespace}/{pod}",
                          sections=[chat.Section(text="```\n" + text[-3500:] + "\n```")])


async def _events(tools: targets.ToolCaller, target: targets.Target | None,
                  namespace: str) -> chat.ChatReply:
    kwargs: dict[str, Any] = {"namespace": namespace, "limit": 25}
    if target and target.kind not in ("Namespace",):
        kwargs.update(name=target.name, kind=target.kind)
    result = await tools.call("list_events", **kwargs)
    problem = _problem_reply(result, "list events")
    if problem:
        return problem
    lines = [f"{e['type'][:4]} {e['reason']} {e['object']} x{e['count']}: {e['message'][:140]}"
             for e in result["data"]]
    warnings = sum(1 for e in result["data"] if e["type"] == "Warning")
    where = target.ref if target else f"namespace {namespace or 'all'}"
    return chat.ChatReply(kind="card", title="Events",
                          text=f"{len(lines)} events for {where}, {warnings} warnings",
                          sections=[chat.Section(text="```\n" + "\n".join(lines) + "\n```")])


async def _metric(tools: targets.ToolCaller, metric: str,
                  target: targets.Target) -> chat.ChatReply:
    query = promql_for(metric, target)
    result = await tools.call("prom_query", query=query)
    problem = _problem_reply(result, f"read {metric} of {target.ref}")
    if problem:
        problem.footnote = f"PromQL: {query}"
        return problem
    unit = _UNITS[metric]
    fields = []
    for row in result["data"][:20]:
        label = row["metric"].get("pod") or row["metric"].get("service") or target.name
        fields.append(chat.ReplyField(label=label, value=_fmt_value(row["value"], unit)))
    name = metric.replace("_", " ")
    headline = f"{name} of {target.ref}: " + ", ".join(f"{f.label} {f.value}" for f in fields[:4])
    return chat.ChatReply(kind="card", title=f"{name} now", text=headline, fields=fields,
                          footnote=f"PromQL: {query}")


async def _promql(tools: targets.ToolCaller, query: str) -> chat.ChatReply:
    result = await tools.call("prom_query", query=query)
    problem = _problem_reply(result, "run that query")
    if problem:
        return problem
    lines = [f"{row['metric']} => {row['value']}" for row in result["data"][:30]]
    return chat.ChatReply(kind="card", title="PromQL", text=f"{len(result['data'])} series",
                          sections=[chat.Section(text="```\n" + "\n".join(lines) + "\n```")],
                          footnote=f"PromQL: {query}")


async def _history(tools: targets.ToolCaller, target: targets.Target) -> chat.ChatReply:
    result = await tools.call("rollout_history", name=target.name, namespace=target.namespace)
    problem = _problem_reply(result, f"read the rollout history of {target.ref}")
    if problem:
        return problem
    lines = [f"rev {r['revision']}{' (current)' if r['current'] else ''}  {r['created']}  "
             f"{', '.join(r['images'])}  {r['change_cause']}"
             + (f"\n    changed: {'; '.join(r['changes'])}" if r.get("changes") else "")
             for r in result["data"]]
    return chat.ChatReply(kind="card", title=f"Rollout history of {target.name}",
                          text=f"{len(lines)} revisions of {target.ref}",
                          sections=[chat.Section(text="```\n" + "\n".join(lines) + "\n```")])


async def _simple_list(tools: targets.ToolCaller, what: str,
                       namespace: str) -> chat.ChatReply:
    if what == "nodes":
        result = await tools.call("list_nodes")
        problem = _problem_reply(result, "list nodes")
        if problem:
            return problem
        lines = [f"{n['name']}  {'Ready' if n['ready'] else 'NotReady'}"
                 f"{'  cordoned' if n['unschedulable'] else ''}  {' '.join(n['problems'])}"
                 for n in result["data"]]
        bad = sum(1 for n in result["data"] if not n["ready"] or n["problems"])
        return chat.ChatReply(kind="card", title="Nodes",
                              text=f"{len(lines)} nodes, {bad} with problems",
                              sections=[chat.Section(text="```\n" + "\n".join(lines) + "\n```")])
    if what == "namespaces":
        result = await tools.call("list_namespaces")
        problem = _problem_reply(result, "list namespaces")
        return problem or chat.ChatReply(text="Namespaces: " + ", ".join(result["data"]))
    result = await tools.call("list_workloads", namespace=namespace)
    problem = _problem_reply(result, "list workloads")
    if problem:
        return problem
    lines = [f"{'✓' if w['healthy'] else '✗'} {w['kind']}/{w['namespace']}/{w['name']}  "
             f"{w['available']}/{w['desired']} available  {', '.join(w['images'])}"
             for w in result["data"]]
    bad = sum(1 for w in result["data"] if not w["healthy"])
    return chat.ChatReply(kind="card", title="Workloads",
                          text=f"{len(lines)} workloads, {bad} not fully available",
                          sections=[chat.Section(text="```\n" + "\n".join(lines) + "\n```")])


async def answer_query(tools: targets.ToolCaller, text: str, target: targets.Target | None,
                       namespace: str | None) -> chat.ChatReply:
    """Answer one read-only question about the live system."""
    kind = detect_query_kind(text)
    ns = namespace or (target.name if target and target.kind == "Namespace" else
                       target.namespace if target else "")
    if kind.what == "promql":
        return await _promql(tools, kind.promql)
    if kind.what in ("nodes", "namespaces", "workloads"):
        return await _simple_list(tools, kind.what, ns)
    if kind.what == "events":
        return await _events(tools, target, ns)
    if target is None or target.kind == "Namespace":
        if kind.what == "metric" and target is not None:
            return await _metric(tools, kind.metric, target)
        if kind.what in ("pods", "status"):
            result = await tools.call("list_pods", namespace=ns)
            return pods_reply(result, f"in namespace {ns}" if ns else "in all namespaces")
        return chat.ChatReply(kind="question", text="Which workload do you mean? Name it, e.g. "
                              "`logs of checkout-api` or `cpu of orders in shop`.")
    if kind.what == "logs" and target.kind in ("Pod", "Deployment", "StatefulSet", "DaemonSet"):
        return await _logs(tools, target)
    if kind.what == "history" and target.kind == "Deployment":
        return await _history(tools, target)
    if kind.what == "metric":
        return await _metric(tools, kind.metric, target)
    if target.kind in ("Deployment", "StatefulSet", "DaemonSet"):
        result = await tools.call("list_pods", namespace=target.namespace,
                                  workload=f"{target.kind}/{target.name}")
        return pods_reply(result, f"of {target.ref}")
    result = await tools.call("describe", kind=target.kind, name=target.name,
                              namespace=target.namespace)
    problem = _problem_reply(result, f"read {target.ref}")
    if problem:
        return problem
    if target.kind == "Pod":
        row = summaries.pod_summary(result["data"]["object"])
        return pods_reply({"status": "ok", "data": [row]}, f"({target.ref})")
    events = result["data"]["events"][:5]
    lines = [f"{e['type']} {e['reason']}: {e['message'][:140]}" for e in events]
    return chat.ChatReply(kind="card", title=target.ref, text=f"{target.ref} exists"
                          + (f"; recent events: {len(events)}" if events else ""),
                          sections=[chat.Section(text="\n".join(lines))] if lines else [])
