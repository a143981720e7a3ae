"""Digest sections about services: error rate and latency outliers against each service's
7-day baseline, and the next 24 h forecast peak of the key services with capacity advice.

Outliers compare the last hour with the last 7 days of the same service, so a service
that is always a little slow is not flagged every morning. The forecast and the capacity
arithmetic come from `graph.analysis`; capacity per replica is what the service showed
in the last hour (requests per CPU core, times the CPU request of one pod), never a guess.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

from graph import promql
from graph.digest_model import (
    SEVERITY_ICON,
    Flag,
    Part,
    Scope,
    clock_time,
    error_text,
    is_error,
    level,
    rows,
    workload_button_value,
)

__all__ = ["forecast_part", "services_part"]

log = logging.getLogger(__name__)

# An error ratio is an outlier at 1 % and twice its baseline; red from 5 %.
_ERR_FLOOR, _ERR_FACTOR, _ERR_RED = 0.01, 2.0, 0.05
# p99 latency: 1.5x the baseline and 50 ms slower; red at 2x and 250 ms slower.
_LAT_FACTOR, _LAT_MIN_S, _LAT_RED_FACTOR, _LAT_RED_S = 1.5, 0.05, 2.0, 0.25
_MIN_RPS = 0.05  # below this a few failed requests make any ratio look dramatic
_KEY_SERVICES = 3
_HORIZON_H = 24
_DEFAULT_TARGET = 0.7


def _by_service(result: dict[str, Any]) -> dict[tuple[str, str], float]:
    values: dict[tuple[str, str], float] = {}
    for row in rows(result):
        m = row.get("metric") or {}
        raw = row.get("value")
        value = float(raw) if isinstance(raw, int | float | str) else math.nan
        if not math.isnan(value):
            values[(str(m.get("namespace", "")), str(m.get("service", "")))] = value
    return values


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _target(view_workloads: dict[str, Any], ns: str, name: str) -> tuple[str, str]:
    """The `/rca` button of a service: its workload when one has its name."""
    for w in rows(view_workloads):
        if w.get("namespace") == ns and w.get("name") == name:
            return workload_button_value(f"{w.get('kind')}/{name}", ns), f"RCA {name}"
    return workload_button_value(f"Service/{name}", ns), f"RCA {name}"


# -- outliers against the 7-day baseline -----------------------------------------------

async def services_part(scope: Scope, workloads: dict[str, Any]) -> Part:
    part = Part("services", "Error rate and latency vs the 7-day baseline", order=50)
    sel, sel5 = scope.selector(), scope.selector('code=~"5.."')
    queries = {}
    for window in ("1h", "7d"):
        queries[f"errors_{window}"] = (f"sum by (namespace, service) (rate(http_requests_total"
                                       f"{sel5}[{window}]))")
        queries[f"total_{window}"] = (f"sum by (namespace, service) (rate(http_requests_total"
                                      f"{sel}[{window}]))")
        queries[f"p99_{window}"] = (f"histogram_quantile(0.99, sum by (namespace, service, le) "
                                    f"(rate(http_request_duration_seconds_bucket{sel}"
                                    f"[{window}])))")
    answers = await asyncio.gather(*(scope.tools.call("prom_query", query=q)
                                     for q in queries.values()))
    got = dict(zip(queries, answers, strict=True))
    failed = next((r for r in answers if is_error(r)), None)
    if failed is not None:
        part.missing = error_text(failed)
        return part
    v = {name: _by_service(result) for name, result in got.items()}
    part.numbers["services_total"] = len(v["total_1h"])
    outliers: list[tuple[Flag, str]] = []
    for key, total in sorted(v["total_1h"].items()):
        if total < _MIN_RPS:
            continue
        ns, svc = key
        notes: list[str] = []
        red, weight = False, 0.0
        # No 5xx series with traffic present means no 5xx were counted.
        ratio = v["errors_1h"].get(key, 0.0) / total
        base_total = v["total_7d"].get(key)
        base = v["errors_7d"].get(key, 0.0) / base_total if base_total else None
        if base is not None and ratio >= max(_ERR_FLOOR, _ERR_FACTOR * base):
            red = ratio >= _ERR_RED
            notes.append(f"5xx {ratio:.1%} of {total:.1f} req/s (7-day {base:.2%})")
            weight = ratio * 100
        p99, p99_base = v["p99_1h"].get(key), v["p99_7d"].get(key)
        if p99 is not None and p99_base and p99 >= _LAT_FACTOR * p99_base and (
                p99 - p99_base >= _LAT_MIN_S):
            slow_red = p99 >= _LAT_RED_FACTOR * p99_base and p99 - p99_base >= _LAT_RED_S
            red = red or slow_red
            notes.append(f"p99 {_ms(p99)} (7-day {_ms(p99_base)})")
            weight = max(weight, p99 / p99_base)
        if not notes:
            continue
        value, label = _target(workloads, ns, svc)
        flag = Flag(level(red), f"service {ns}/{svc}: {'; '.join(notes)}", value, label, weight)
        outliers.append((flag, f"{SEVERITY_ICON[flag.severity]} **{ns}/{svc}** — "
                         + "; ".join(notes)))
    outliers.sort(key=lambda o: o[0].rank)
    part.flags = [f for f, _ in outliers]
    part.lines = [line for _, line in outliers]
    part.numbers["service_outliers"] = len(outliers)
    if outliers:
        ratio_q = (f"sum by (service) (rate(http_requests_total{sel5}[1h])) / "
                   f"sum by (service) (rate(http_requests_total{sel}[1h]))")
        hourly = await scope.tools.call("prom_range", query=ratio_q, start="now-24h",
                                        end="now", step="1h")
        chart = {str((r.get("metric") or {}).get("service", "?")): [
            (float(t), float(x)) for t, x in r.get("points") or []] for r in rows(hourly)}
        if chart:
            part.chart = {"title": "5xx ratio per service (1 h rate)", "unit": "ratio",
                          "series": chart, "kind": "line"}
    return part


# -- forecast and capacity -------------------------------------------------------------

async def _key_services(scope: Scope, configured: list[str]) -> list[tuple[str, str]] | str:
    if configured:
        keys = []
        for item in configured:
            ns, _, svc = item.rpartition("/")
            keys.append((ns or scope.namespace, svc))
        return keys
    busiest = await scope.tools.call("prom_query", query=(
        f"topk({_KEY_SERVICES}, sum by (namespace, service) "
        f"(rate(http_requests_total{scope.selector()}[1h])))"))
    if is_error(busiest):
        return error_text(busiest)
    ranked = sorted(_by_service(busiest).items(), key=lambda kv: -kv[1])
    return [key for key, _ in ranked[:_KEY_SERVICES]]


async def _instant(scope: Scope, query: str) -> float | None:
    answer = rows(await scope.tools.call("prom_query", query=query))
    if not answer:
        return None
    raw = answer[0].get("value")
    value = float(raw) if isinstance(raw, int | float | str) else math.nan
    return None if math.isnan(value) else value


async def _capacity(scope: Scope, workloads: dict[str, Any], ns: str, svc: str,
                    result: Any, rps_now: float) -> tuple[str, Flag | None]:
    """The capacity clause of a service's line and a flag when it needs attention."""
    from graph.analysis import capacity

    row = next((w for w in rows(workloads) if w.get("namespace") == ns
                and w.get("name") == svc), None)
    if row is None:
        return "capacity not assessed: no workload of that name", None
    kind, ready = str(row.get("kind")), int(row.get("ready") or 0)
    # The controllers' pod names, so that "payments" does not match "payments-api-…".
    name = promql.regex_literal(svc)
    pods = f"{name}-[a-z0-9]+-[a-z0-9]+" if kind == "Deployment" else f"{name}-[0-9]+"
    match = f'namespace="{ns}", pod=~"{pods}"'
    cpu, request = await asyncio.gather(
        _instant(scope, f"sum(rate(container_cpu_usage_seconds_total{{{match}}}[1h]))"),
        _instant(scope, f'avg(sum by (pod) (kube_pod_container_resource_requests{{{match}, '
                        f'resource="cpu"}}))'))
    if not cpu or not request or ready <= 0 or rps_now <= 0:
        return "capacity not assessed: no CPU usage or requests for its pods", None
    hpas = rows(await scope.tools.call("list_resources", kind="HorizontalPodAutoscaler",
                                       namespace=ns))
    hpa = next((h for h in hpas if ((h.get("spec") or {}).get("scaleTargetRef") or {}).get(
        "name") == svc), None)
    spec = (hpa or {}).get("spec") or {}
    goal = next((((m.get("resource") or {}).get("target") or {}).get("averageUtilization")
                 for m in spec.get("metrics") or [] if (m.get("resource") or {}).get(
                     "name") == "cpu"), None)
    advice = capacity.advise_capacity(
        result, per_replica_capacity=rps_now / cpu * request, current_replicas=ready,
        hpa_max=spec.get("maxReplicas") if hpa else None,
        hpa_min=spec.get("minReplicas") if hpa else None,
        target_utilisation=float(goal) / 100 if goal else _DEFAULT_TARGET,
        subject=f"{ns}/{svc}", unit="req/s")
    if advice.hpa_max_ok is False:
        text = (f"needs {advice.replicas_safe} replicas at the upper bound, HPA max "
                f"{advice.hpa_max} is too low")
        return text, Flag("amber", f"{ns}/{svc}: {text}", *_target(workloads, ns, svc))
    if hpa is None and advice.scale_by is not None:
        text = (f"needs {advice.replicas_needed} replicas, {ready} run: scale out before "
                f"{clock_time(advice.scale_by, scope.tz, scope.now)}")
        return text, Flag("amber", f"{ns}/{svc}: {text}", *_target(workloads, ns, svc))
    if hpa is not None:
        return f"HPA (max {advice.hpa_max}) covers it with {advice.replicas_safe} replicas", None
    return f"{ready} replicas cover it", None


@dataclass
class _Outlook:
    subject: str
    peak: str = ""
    clause: str = ""
    flag: Flag | None = None
    assessed: bool = False

    @property
    def line(self) -> str:
        icon = f"{SEVERITY_ICON['amber']} " if self.flag else ""
        return f"{icon}**{self.subject}** — " + "; ".join(x for x in (self.peak, self.clause)
                                                          if x)


async def _one_forecast(scope: Scope, workloads: dict[str, Any], ns: str, svc: str) -> _Outlook:
    from graph.analysis import errors as analysis_errors
    from graph.analysis import forecast, series

    out = _Outlook(f"{ns}/{svc}")
    history = await scope.tools.call(
        "prom_range", query=f'sum(rate(http_requests_total{{namespace="{ns}", '
        f'service="{svc}"}}[1h]))', start="now-7d", end="now", step="1h")
    if is_error(history):
        out.clause = error_text(history)
        return out
    points = [(float(t), float(v)) for r in rows(history)[:1] for t, v in r.get("points") or []]
    if not points:
        out.clause = "no request history to forecast from"
        return out
    try:
        history_series = series.from_samples([t for t, _ in points], [v for _, v in points],
                                             step=3600.0, name=out.subject)
        result = await asyncio.to_thread(forecast.forecast, history_series, _HORIZON_H)
    except analysis_errors.BadInput as exc:
        out.clause = f"not forecast: {exc}"
        return out
    peak = result.peak()
    out.peak = (f"peak {peak.value:.1f} req/s at {clock_time(peak.timestamp, scope.tz, scope.now)}"
                f" (up to {float(max(result.upper)):.1f}; now {points[-1][1]:.1f})")
    out.clause, out.flag = await _capacity(scope, workloads, ns, svc, result, points[-1][1])
    out.assessed = "not assessed" not in out.clause
    return out


async def forecast_part(scope: Scope, workloads: dict[str, Any],
                        configured: list[str]) -> Part:
    part = Part("forecast", "Next 24 h: forecast peaks and capacity", order=60)
    try:
        # Loaded on first use: the engines pull in scikit-learn, which `opsbot serve`
        # should not pay for at start-up.
        from graph.analysis import capacity, forecast  # noqa: F401
    except ImportError as exc:  # the engines ship separately; say so instead of failing
        part.missing = f"The forecasting engine is unavailable ({exc})."
        return part
    keys = await _key_services(scope, configured)
    if isinstance(keys, str):
        part.missing = keys
        return part
    outlooks = await asyncio.gather(*(_one_forecast(scope, workloads, ns, svc)
                                      for ns, svc in keys))
    part.flags = [o.flag for o in outlooks if o.flag is not None]
    part.numbers["capacity_warnings"] = len(part.flags)
    if outlooks and all(o.assessed and o.flag is None for o in outlooks):
        # Quiet when nothing needs doing: one line for all the key services.
        part.lines = ["Within capacity — " + "; ".join(
            f"{o.subject} {o.peak.split(' (up to')[0]}" for o in outlooks)]
        return part
    part.lines = [o.line for o in sorted(outlooks, key=lambda o: o.flag is None)]
    return part
