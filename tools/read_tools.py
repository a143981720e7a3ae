"""Read-only tools over Kubernetes and Prometheus.

Each method returns a structured result (see tools.results) and never raises for
backend trouble: an unreachable backend is an `error` result naming it, an empty answer
is `no_data`. The MCP server (tools.server) publishes these methods as tools.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tools import errors, kube, prom, results, summaries

__all__ = ["ReadTools"]

Result = dict[str, Any]


def _guard(backend: str, fn: Callable[[], Result]) -> Result:
    """Turn the project's errors into error results; a tool call never raises."""
    try:
        return fn()
    except errors.BackendUnavailable as exc:
        return results.error(str(exc), backend=exc.backend)
    except errors.NotFound as exc:
        return results.no_data(str(exc))
    except (prom.QueryError, kube.ApiStatusError, errors.OpsbotError) as exc:
        return results.error(str(exc), backend=backend)


class ReadTools:
    def __init__(self, kube_api: kube.KubeApi | None, prom_api: prom.PromApi | None,
                 *, namespaces: list[str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._kube = kube_api
        self._prom = prom_api
        self._allowed = set(namespaces or [])
        self._now = clock

    # -- helpers ---------------------------------------------------------------------
    def _k(self) -> kube.KubeApi:
        return kube.require(self._kube)

    def _p(self) -> prom.PromApi:
        if self._prom is None:
            raise errors.BackendUnavailable("prometheus", "no Prometheus is configured")
        return self._prom

    def _check_ns(self, namespace: str) -> None:
        if namespace and self._allowed and namespace not in self._allowed:
            raise errors.OpsbotError(
                f"namespace {namespace!r} is outside opsbot's allow-list "
                f"({', '.join(sorted(self._allowed))})")

    def _visible(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self._allowed:
            return items
        return [i for i in items if i.get("metadata", {}).get("namespace") in self._allowed]

    def _workload_selector(self, workload: str, namespace: str) -> str:
        kind, _, name = workload.rpartition("/")
        obj = self._k().get(kind or "Deployment", name, namespace)
        labels = (obj.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        if not labels:
            raise errors.NotFound(f"{workload} has no label selector")
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

    # -- Kubernetes --------------------------------------------------------------------
    def list_namespaces(self) -> Result:
        def run() -> Result:
            items = self._k().list("Namespace")
            names = [i["metadata"]["name"] for i in items]
            if self._allowed:
                names = [n for n in names if n in self._allowed]
            return results.ok(names) if names else results.no_data("no namespaces visible")
        return _guard("kubernetes", run)

    def list_nodes(self) -> Result:
        def run() -> Result:
            rows = [summaries.node_summary(n) for n in self._k().list("Node")]
            rows.sort(key=lambda r: (r["ready"] and not r["problems"], r["name"]))
            return results.ok(rows) if rows else results.no_data("the cluster has no nodes")
        return _guard("kubernetes", run)

    def list_workloads(self, namespace: str = "") -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            rows: list[dict[str, Any]] = []
            for kind in ("Deployment", "StatefulSet", "DaemonSet"):
                objs = self._visible(self._k().list(kind, namespace))
                rows.extend(summaries.workload_summary(o) for o in objs)
            rows.sort(key=lambda r: (r["healthy"], r["namespace"], r["name"]))
            if not rows:
                where = f"namespace {namespace}" if namespace else "the cluster"
                return results.no_data(f"no workloads in {where}")
            return results.ok(rows)
        return _guard("kubernetes", run)

    def list_pods(self, namespace: str = "", workload: str = "", selector: str = "",
                  problems_only: bool = False) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            label_selector = selector
            if workload:
                label_selector = self._workload_selector(workload, namespace)
            pods = self._visible(self._k().list("Pod", namespace,
                                                label_selector=label_selector))
            now = self._now()
            rows = [summaries.pod_summary(p, now) for p in pods]
            if problems_only:
                rows = [r for r in rows if r["problems"]]
            # Pods with problems first, most restarts first: what the on-call looks for.
            rows.sort(key=lambda r: (not r["problems"], -r["restarts"], r["name"] or ""))
            rows, cut = results.truncate_items(rows)
            if not rows:
                what = "pods with problems" if problems_only else "pods"
                where = f" in namespace {namespace}" if namespace else ""
                return results.no_data(f"no {what}{where}")
            flagged = sum(1 for r in rows if r["problems"])
            return results.ok(rows, f"{len(rows)} pods, {flagged} with problems",
                              truncated=cut)
        return _guard("kubernetes", run)

    def describe(self, kind: str, name: str, namespace: str = "") -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            obj = self._k().get(kind, name, namespace)
            rtype = kube.resource_type(kind)
            selector = f"involvedObject.name={name},involvedObject.kind={rtype.kind}"
            events = [summaries.event_summary(e) for e in self._k().list(
                "Event", namespace if rtype.namespaced else "", field_selector=selector)]
            return results.ok({"object": obj, "events": summaries.sort_events(events)[:30]})
        return _guard("kubernetes", run)

    def list_resources(self, kind: str, namespace: str = "", selector: str = "") -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            items = self._visible(self._k().list(kind, namespace, label_selector=selector)) \
                if kube.resource_type(kind).namespaced else self._k().list(kind)
            items, cut = results.truncate_items(items)
            if not items:
                where = f" in namespace {namespace}" if namespace else ""
                return results.no_data(f"no {kube.resource_type(kind).plural}{where}")
            return results.ok(items, truncated=cut)
        return _guard("kubernetes", run)

    def pod_logs(self, pod: str, namespace: str, container: str = "",
                 previous: bool = False, tail: int = 200, grep: str = "") -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            text = self._k().pod_log(namespace, pod, container=container, previous=previous,
                                     tail_lines=max(1, min(int(tail), 5000)))
            if grep:
                needle = grep.lower()
                text = "\n".join(li for li in text.splitlines() if needle in li.lower())
            if not text.strip():
                which = "previous" if previous else "current"
                return results.no_data(f"the {which} container of {pod} logged nothing"
                                       + (f" matching {grep!r}" if grep else ""))
            text, cut = results.truncate_text(text)
            return results.ok({"pod": pod, "container": container, "previous": previous,
                               "text": text}, truncated=cut)
        return _guard("kubernetes", run)

    def list_events(self, namespace: str = "", kind: str = "", name: str = "",
                    warnings_only: bool = False, limit: int = 50) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            selectors = []
            if name:
                selectors.append(f"involvedObject.name={name}")
            if kind:
                selectors.append(f"involvedObject.kind={kube.resource_type(kind).kind}")
            if warnings_only:
                selectors.append("type=Warning")
            items = self._visible(self._k().list("Event", namespace,
                                                 field_selector=",".join(selectors)))
            rows = summaries.sort_events([summaries.event_summary(e) for e in items])
            rows, cut = results.truncate_items(rows, max(1, min(int(limit), 500)))
            if not rows:
                return results.no_data("no events match")
            return results.ok(rows, truncated=cut)
        return _guard("kubernetes", run)

    def rollout_history(self, name: str, namespace: str) -> Result:
        def run() -> Result:
            self._check_ns(namespace)
            deployment = self._k().get("Deployment", name, namespace)
            labels = (deployment.get("spec", {}).get("selector") or {}).get(
                "matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            replicasets = self._k().list("ReplicaSet", namespace, label_selector=selector)
            rows = summaries.rollout_history(deployment, replicasets)
            if not rows:
                return results.no_data(f"Deployment {namespace}/{name} has no revisions")
            return results.ok(rows)
        return _guard("kubernetes", run)

    # -- Prometheus --------------------------------------------------------------------
    def prom_query(self, query: str, time: str = "") -> Result:
        def run() -> Result:
            at = prom.parse_time(time, self._now()) if time else None
            rows = self._p().instant(query, at)
            rows, cut = results.truncate_items(rows)
            if not rows:
                return results.no_data(f"no series match {query}")
            return results.ok(rows, truncated=cut)
        return _guard("prometheus", run)

    def prom_range(self, query: str, start: str = "now-1h", end: str = "now",
                   step: str = "60s") -> Result:
        def run() -> Result:
            now = self._now()
            begin, finish = prom.parse_time(start, now), prom.parse_time(end, now)
            step_s = prom.parse_duration(step)
            if (finish - begin).total_seconds() / max(step_s, 1) > 11000:
                raise prom.QueryError("too many points: widen the step")
            series = self._p().range(query, begin, finish, step_s)
            series, cut = results.truncate_items(series, 50)
            if not series:
                span = f"{begin:%Y-%m-%d %H:%M} and {finish:%H:%M} UTC"
                return results.no_data(f"no series match {query} between {span}")
            return results.ok(series, truncated=cut)
        return _guard("prometheus", run)

    def prom_metrics(self, match: str = "") -> Result:
        def run() -> Result:
            names = [n for n in self._p().metric_names() if match.lower() in n.lower()]
            names, cut = results.truncate_items(names, 500)
            if not names:
                return results.no_data(f"no metric names contain {match!r}")
            return results.ok(names, truncated=cut)
        return _guard("prometheus", run)
