"""PromQL for a workload's HTTP traffic, whichever instrumentation exports it.

Teams expose request counts and latency under different names: the Prometheus client
libraries (`http_requests_total{code}`), Micrometer in Spring Boot
(`http_server_requests_seconds_count{status}`), OpenTelemetry
(`http_server_request_duration_seconds_count{http_response_status_code}`) and the Istio
sidecar (`istio_requests_total{response_code}`, latency in milliseconds). Each query
below tries them in turn with PromQL `or`: a workload instrumented one way answers from
that way, and the first match wins, so nothing is counted twice.
"""

from __future__ import annotations

import dataclasses

__all__ = ["CONVENTIONS", "Convention", "error_ratio", "latency_p99", "request_rate"]


@dataclasses.dataclass(frozen=True)
class Convention:
    name: str
    counter: str
    """Counter of served requests."""
    code_label: str
    """Label holding the HTTP status code."""
    buckets: str
    """Latency histogram buckets."""
    seconds_per_unit: float
    mesh: bool = False
    """Labels name the destination workload (a sidecar reports them), not the scrape."""


CONVENTIONS = (
    Convention("prometheus", "http_requests_total", "code",
               "http_request_duration_seconds_bucket", 1.0),
    Convention("micrometer", "http_server_requests_seconds_count", "status",
               "http_server_requests_seconds_bucket", 1.0),
    Convention("opentelemetry", "http_server_request_duration_seconds_count",
               "http_response_status_code", "http_server_request_duration_seconds_bucket", 1.0),
    Convention("istio", "istio_requests_total", "response_code",
               "istio_request_duration_milliseconds_bucket", 0.001, mesh=True),
)
_WINDOW = "10m"


def _selectors(c: Convention, namespace: str, service: str | None,
               pods: str | None, workload: str | None) -> list[str]:
    """Label matchers that pick the workload's traffic, most specific first."""
    out = []
    if c.mesh:
        # Both sidecars of a call report it; the destination's report is the served one.
        base = f'reporter!="source", destination_workload_namespace="{namespace}"'
        if service:
            out.append(f'{base}, destination_service_name="{service}"')
        if workload:
            out.append(f'{base}, destination_workload="{workload}"')
        return out
    if service:
        out.append(f'namespace="{namespace}", service="{service}"')
    if pods:
        out.append(f'namespace="{namespace}", pod=~"{pods}"')
    return out


def _alternatives(namespace: str, service: str | None, pods: str | None,
                  workload: str | None) -> list[tuple[Convention, str]]:
    return [(c, sel) for c in CONVENTIONS
            for sel in _selectors(c, namespace, service, pods, workload)]


def _rate(c: Convention, sel: str, extra: str = "") -> str:
    return f"sum(rate({c.counter}{{{sel}{extra}}}[{_WINDOW}]))"


def request_rate(namespace: str, *, service: str | None = None, pods: str | None = None,
                 workload: str | None = None) -> str:
    """Requests per second served by the workload (`pods` is a regex of pod names)."""
    return " or ".join(f"({_rate(c, sel)})"
                       for c, sel in _alternatives(namespace, service, pods, workload))


def error_ratio(namespace: str, *, service: str | None = None, pods: str | None = None,
                workload: str | None = None) -> str:
    """Share of requests answered with 5xx; 0 (not empty) while traffic has no 5xx."""
    parts = []
    for c, sel in _alternatives(namespace, service, pods, workload):
        errors = _rate(c, sel, f', {c.code_label}=~"5.."')
        total = _rate(c, sel)
        parts.append(f"(({errors} or 0 * {total}) / {total})")
    return " or ".join(parts)


def latency_p99(namespace: str, *, service: str | None = None, pods: str | None = None,
                workload: str | None = None) -> str:
    """p99 latency in seconds from the workload's latency histogram."""
    parts = []
    for c, sel in _alternatives(namespace, service, pods, workload):
        quantile = (f"histogram_quantile(0.99, sum by (le) "
                    f"(rate({c.buckets}{{{sel}}}[{_WINDOW}])))")
        parts.append(f"({quantile})" if c.seconds_per_unit == 1.0
                     else f"({quantile} * {c.seconds_per_unit:g})")
    return " or ".join(parts)
