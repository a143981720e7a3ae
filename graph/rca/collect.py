"""Collect the facts about one workload through the MCP read tools.

The target and what hangs off it (ReplicaSets -> Pods -> Nodes, Services -> Endpoints,
ConfigMaps/Secrets/PVCs it references, its HPA, the namespace's quotas and network
policies), events, current and previous logs, rollout history and the Prometheus series
the detectors need. What cannot be read is recorded in `missing`, never guessed.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from graph import http_metrics, promql, targets
from graph.rca import model

__all__ = ["Window", "collect_workload", "metric_queries", "pod_regex"]

_MAX_LOG_PODS = 3


@dataclass(frozen=True)
class Window:
    """The incident window [start, end] and the baseline before it (epoch seconds)."""

    start: float
    end: float
    baseline_start: float

    @classmethod
    def ending(cls, end: float, minutes: float = 60.0, baseline_hours: float = 6.0) -> Window:
        start = end - minutes * 60
        return cls(start=start, end=end, baseline_start=start - baseline_hours * 3600)


def pod_regex(kind: str, name: str) -> str:
    """Pods of a workload by name, including those of earlier ReplicaSets."""
    escaped = promql.regex_literal(name)
    if kind == "StatefulSet":
        return f"{escaped}-[0-9]+"
    if kind == "Pod":
        return escaped
    return f"{escaped}-[a-z0-9]+-[a-z0-9]+" if kind == "Deployment" else f"{escaped}-.+"


def metric_queries(facts: model.WorkloadFacts) -> dict[str, str]:
    ns = facts.namespace
    pods = f'namespace="{ns}", pod=~"{pod_regex(facts.kind, facts.name)}"'
    queries = {
        "restarts": f"sum(kube_pod_container_status_restarts_total{{{pods}}})",
        "memory": f"max(container_memory_working_set_bytes{{{pods}}})",
        "memory_by_pod": f"max by (pod) (container_memory_working_set_bytes{{{pods}}})",
        # kube-state-metrics v2 names, then v1's.
        "memory_limit": f'min(kube_pod_container_resource_limits{{{pods}, resource="memory"}}) '
                        f"or min(kube_pod_container_resource_limits_memory_bytes{{{pods}}})",
        "cpu": f"max(rate(container_cpu_usage_seconds_total{{{pods}}}[10m]))",
        "cpu_limit": f'min(kube_pod_container_resource_limits{{{pods}, resource="cpu"}}) '
                     f"or min(kube_pod_container_resource_limits_cpu_cores{{{pods}}})",
        "throttling": f"sum(rate(container_cpu_cfs_throttled_periods_total{{{pods}}}[10m])) / "
                      f"sum(rate(container_cpu_cfs_periods_total{{{pods}}}[10m]))",
        # Utilisation of requests, as the HPA sees it; cAdvisor's pod-level series (no
        # container label) and the pause container would count twice in a sum.
        "cpu_utilisation": f'sum(rate(container_cpu_usage_seconds_total{{{pods}, container!="", '
                           f'container!="POD"}}[10m])) / sum(kube_pod_container_resource_requests'
                           f'{{{pods}, resource="cpu"}})',
    }
    # Services by name; a workload no Service fronts (a worker) by its pods' own series.
    names = [svc["metadata"]["name"] for svc in facts.services[:2]] or [None]
    pods_re = pod_regex(facts.kind, facts.name)
    for svc_name in names:
        key = svc_name or facts.name
        sel = {"service": svc_name, "pods": pods_re, "workload": facts.name}
        queries[f"requests:{key}"] = http_metrics.request_rate(ns, **sel)
        queries[f"errors:{key}"] = http_metrics.error_ratio(ns, **sel)
        queries[f"latency:{key}"] = http_metrics.latency_p99(ns, **sel)
    return queries


def _data(result: dict[str, Any]) -> Any:
    return result.get("data") if result.get("status") == "ok" else None


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _references(pod_spec: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """ConfigMaps, Secrets and PVCs a pod template refers to."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    pvcs: set[str] = set()
    for container in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "configMapKeyRef" in source:
                configmaps.add(source["configMapKeyRef"]["name"])
            if "secretKeyRef" in source:
                secrets.add(source["secretKeyRef"]["name"])
        for env_from in container.get("envFrom") or []:
            if "configMapRef" in env_from:
                configmaps.add(env_from["configMapRef"]["name"])
            if "secretRef" in env_from:
                secrets.add(env_from["secretRef"]["name"])
    for volume in pod_spec.get("volumes") or []:
        if "configMap" in volume:
            configmaps.add(volume["configMap"]["name"])
        if "secret" in volume:
            secrets.add(volume["secret"]["secretName"])
        if "persistentVolumeClaim" in volume:
            pvcs.add(volume["persistentVolumeClaim"]["claimName"])
    return configmaps, secrets, pvcs


async def _get_or_none(tools: targets.ToolCaller, kind: str, name: str,
                       namespace: str) -> tuple[dict[str, Any] | None, bool]:
    """(object, reachable): a missing object is (None, True); a failed call (None, False)."""
    result = await tools.call("describe", kind=kind, name=name, namespace=namespace)
    if result.get("status") == "ok":
        return result["data"]["object"], True
    return None, result.get("status") == "no_data"


async def collect_workload(tools: targets.ToolCaller, target: targets.Target,
                           window: Window) -> model.WorkloadFacts:
    facts = model.WorkloadFacts(kind=target.kind, namespace=target.namespace,
                                name=target.name)
    ns = target.namespace
    described = await tools.call("describe", kind=target.kind, name=target.name, namespace=ns)
    if described.get("status") != "ok":
        facts.missing.append(f"{target.ref}: {described.get('message', 'not readable')}")
        return facts
    facts.obj = described["data"]["object"]
    spec = facts.obj.get("spec", {})
    template = spec.get("template", {}) if target.kind != "Pod" else {
        "metadata": facts.obj.get("metadata", {}), "spec": spec}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))

    calls: dict[str, Any] = {
        "pods": tools.call("list_resources", kind="Pod", namespace=ns,
                           selector=label_selector) if target.kind != "Pod" else None,
        "events": tools.call("list_events", namespace=ns, limit=400),
        "node_events": tools.call("list_events", kind="Node", limit=100),
        "nodes": tools.call("list_resources", kind="Node"),
        "services": tools.call("list_resources", kind="Service", namespace=ns),
        "endpoints": tools.call("list_resources", kind="Endpoints", namespace=ns),
        "hpas": tools.call("list_resources", kind="HorizontalPodAutoscaler", namespace=ns),
        "quotas": tools.call("list_resources", kind="ResourceQuota", namespace=ns),
        "netpols": tools.call("list_resources", kind="NetworkPolicy", namespace=ns),
        "namespace": tools.call("describe", kind="Namespace", name=ns),
        "history": tools.call("rollout_history", name=target.name, namespace=ns)
        if target.kind == "Deployment" else None,
    }
    names = [k for k, v in calls.items() if v is not None]
    answers = dict(zip(names, await asyncio.gather(*(calls[k] for k in names)), strict=True))
    for key, answer in answers.items():
        if answer.get("status") == "error":
            facts.missing.append(f"{key}: {answer.get('message')}")

    facts.pods = [facts.obj] if target.kind == "Pod" else list(_data(answers["pods"]) or [])
    facts.history = list(_data(answers.get("history", {})) or [])
    pod_names = {p["metadata"]["name"] for p in facts.pods}
    rs_names = {row["replicaset"] for row in facts.history}
    facts.nodes = {n["metadata"]["name"]: n for n in _data(answers["nodes"]) or []}
    used_nodes = {p.get("spec", {}).get("nodeName") for p in facts.pods}
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    facts.services = [s for s in _data(answers["services"]) or []
                      if _labels_match(s.get("spec", {}).get("selector") or {}, template_labels)]
    svc_names = {s["metadata"]["name"] for s in facts.services}
    facts.endpoints = [e for e in _data(answers["endpoints"]) or []
                       if e["metadata"]["name"] in svc_names]
    facts.hpa = next((h for h in _data(answers["hpas"]) or []
                      if h.get("spec", {}).get("scaleTargetRef", {}).get("name") == target.name),
                     None)
    facts.quotas = list(_data(answers["quotas"]) or [])
    facts.network_policies = list(_data(answers["netpols"]) or [])
    # Policies select peers by namespace labels (the name label is always there).
    namespace_obj = (_data(answers["namespace"]) or {}).get("object") or {}
    facts.namespace_labels = dict((namespace_obj.get("metadata") or {}).get("labels") or {})

    configmaps, secrets, pvcs = _references(template.get("spec") or {})
    if target.kind == "StatefulSet":
        replicas = int(spec.get("replicas", 1) or 0)
        for claim in spec.get("volumeClaimTemplates") or []:
            pvcs.update(f"{claim['metadata']['name']}-{target.name}-{i}" for i in range(replicas))
    related = {target.name, *pod_names, *rs_names, *configmaps, *secrets, *pvcs,
               *(h["metadata"]["name"] for h in [facts.hpa] if h)}
    gone = _gone_pod_pattern(target, rs_names)
    facts.events = [e for e in _data(answers["events"]) or []
                    if e["object"].partition("/")[2] in related
                    or (e["object"].startswith("Pod/") and gone.match(e["object"][4:]))]
    # Nodes that evicted the workload's pods matter even once the pods are gone.
    used_nodes |= {e.get("host") for e in facts.events
                   if e["reason"] in ("Evicted", "Preempted") and e.get("host")}
    facts.events += [e for e in _data(answers["node_events"]) or []
                     if e["object"].partition("/")[2] in used_nodes]

    lookups = [("ConfigMap", n) for n in sorted(configmaps)] + [
        ("Secret", n) for n in sorted(secrets)] + [("PersistentVolumeClaim", n)
                                                   for n in sorted(pvcs)]
    found = await asyncio.gather(*(_get_or_none(tools, k, n, ns) for k, n in lookups))
    for (kind, name), (obj, reachable) in zip(lookups, found, strict=True):
        if not reachable:
            facts.missing.append(f"{kind} {name}: could not be read")
            continue
        {"ConfigMap": facts.configmaps, "Secret": facts.secrets,
         "PersistentVolumeClaim": facts.pvcs}[kind][name] = obj

    await asyncio.gather(_collect_logs(tools, facts), _collect_metrics(tools, facts, window))
    return facts


def _gone_pod_pattern(target: targets.Target, replicasets: set[str]) -> re.Pattern[str]:
    """Names of the workload's pods, including those deleted since (evicted, replaced):
    their events outlive them for an hour."""
    if target.kind == "StatefulSet":
        return re.compile(rf"{re.escape(target.name)}-\d+$")
    if not replicasets:
        return re.compile(r"(?!)")
    names = "|".join(re.escape(r) for r in sorted(replicasets))
    return re.compile(rf"(?:{names})-[a-z0-9]{{5}}$")


def _log_priority(pod: dict[str, Any]) -> tuple[int, int]:
    status = pod.get("status", {})
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses")
                                                              or [])
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    not_ready = sum(1 for s in statuses if not s.get("ready"))
    return (-not_ready, -restarts)


async def _collect_logs(tools: targets.ToolCaller, facts: model.WorkloadFacts) -> None:
    chosen = sorted(facts.pods, key=_log_priority)[:_MAX_LOG_PODS]
    jobs = []
    for pod in chosen:
        name = pod["metadata"]["name"]
        status_of = pod.get("status", {})
        # Init containers that failed or still run; those done or not started yet say little.
        inits = [s for s in status_of.get("initContainerStatuses") or []
                 if int(s.get("restartCount") or 0) > 0 or "running" in (s.get("state") or {})
                 or ((s.get("state") or {}).get("terminated") or {}).get("reason")
                 not in (None, "Completed")]
        for status in inits + (status_of.get("containerStatuses") or []):
            container = status["name"]
            jobs.append((name, container, False))
            if int(status.get("restartCount") or 0) > 0:
                jobs.append((name, container, True))
    answers = await asyncio.gather(*(tools.call(
        "pod_logs", pod=pod, namespace=facts.namespace, container=container, previous=prev,
        tail=200) for pod, container, prev in jobs))
    for (pod, container, prev), answer in zip(jobs, answers, strict=True):
        key = f"{pod}/{container}"
        if answer.get("status") == "ok":
            facts.logs.setdefault(key, {})["previous" if prev else "current"] = answer[
                "data"]["text"]
        elif answer.get("status") == "error":
            facts.missing.append(f"logs of {key}: {answer.get('message')}")


async def _collect_metrics(tools: targets.ToolCaller, facts: model.WorkloadFacts,
                           window: Window) -> None:
    queries = metric_queries(facts)
    answers = await asyncio.gather(*(tools.call(
        "prom_range", query=q, start=str(window.baseline_start), end=str(window.end),
        step="60s") for q in queries.values()))
    failure = ""
    for (key, query), answer in zip(queries.items(), answers, strict=True):
        if answer.get("status") == "ok" and answer["data"] and key.endswith("_by_pod"):
            facts.metrics[key] = {"query": query, "series": {
                str((row.get("metric") or {}).get("pod", "")): [
                    (t, v) for t, v in row["points"] if v is not None]
                for row in answer["data"]}}
        elif answer.get("status") == "ok" and answer["data"]:
            points = [(t, v) for t, v in answer["data"][0]["points"] if v is not None]
            facts.metrics[key] = {"query": query, "points": points}
        elif answer.get("status") == "error":
            failure = failure or str(answer.get("message") or "")
        else:
            facts.metrics[key] = {"query": query, "points": []}
    if failure:
        facts.missing.append(f"metrics: Prometheus did not answer ({failure[:160]})")
