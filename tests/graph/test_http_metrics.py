"""graph.http_metrics against a real Prometheus: four workloads, each instrumented a
different way, answer the same three questions (rate, 5xx ratio, p99) correctly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graph import http_metrics
from tools.embedded import prometheus_server

NS = "web"
STEP = 60
MINUTES = 30
OK_RPS, ERR_RPS = 9.0, 1.0


def _counter(name: str, labels: str, rps: float, stamps: list[int]) -> list[str]:
    return [f"{name}{{{labels}}} {rps * STEP * i} {ts}" for i, ts in enumerate(stamps)]


def _histogram(name: str, labels: str, bounds: tuple[str, str], rps: float,
               stamps: list[int]) -> list[str]:
    """Every request lands between the two bounds: p99 is 99 % of the way across."""
    low, high = bounds
    lines = []
    for le, share in ((low, 0.0), (high, 1.0), ("+Inf", 1.0)):
        lines += _counter(name, f'{labels},le="{le}"', rps * share, stamps)
    return lines


def _history(path: Path, now: int) -> None:
    stamps = list(range(now - MINUTES * 60, now + 1, STEP))
    lines = ["# TYPE http_requests counter"]
    cart = f'namespace="{NS}",service="cart",pod="cart-5d9c7b6f4-x2k8p"'
    lines += _counter("http_requests_total", cart + ',code="200"', OK_RPS, stamps)
    lines += _counter("http_requests_total", cart + ',code="500"', ERR_RPS, stamps)
    lines += ["# TYPE http_request_duration_seconds histogram"]
    lines += _histogram("http_request_duration_seconds_bucket", cart, ("0.1", "0.5"),
                        OK_RPS + ERR_RPS, stamps)
    # Micrometer, scraped per pod without a service label.
    orders = f'namespace="{NS}",pod="orders-7f6d5c4b3-q9w8e",uri="/orders"'
    lines += ["# TYPE http_server_requests_seconds histogram"]
    lines += _counter("http_server_requests_seconds_count", orders + ',status="200"', OK_RPS,
                      stamps)
    lines += _counter("http_server_requests_seconds_count", orders + ',status="503"', ERR_RPS,
                      stamps)
    # Istio: both sidecars report each call; only the destination's report counts.
    for reporter in ("destination", "source"):
        pay = (f'reporter="{reporter}",destination_workload_namespace="{NS}",'
               f'destination_service_name="pay",destination_workload="pay"')
        lines += ["# TYPE istio_requests counter"] if reporter == "destination" else []
        lines += _counter("istio_requests_total", pay + ',response_code="200"', OK_RPS, stamps)
        lines += _counter("istio_requests_total", pay + ',response_code="503"', ERR_RPS, stamps)
        if reporter == "destination":
            lines += ["# TYPE istio_request_duration_milliseconds histogram"]
            lines += _histogram("istio_request_duration_milliseconds_bucket", pay,
                                ("100", "500"), OK_RPS + ERR_RPS, stamps)
    # OpenTelemetry, no 5xx at all.
    search = f'namespace="{NS}",service="search",pod="search-6c5b4a398-z7y6x"'
    lines += ["# TYPE http_server_request_duration_seconds histogram"]
    lines += _counter("http_server_request_duration_seconds_count",
                      search + ',http_response_status_code="200"', OK_RPS, stamps)
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, int]]:
    work = tmp_path_factory.mktemp("http-metrics")
    now = int(time.time()) // STEP * STEP
    _history(work / "history.om", now)
    server = prometheus_server.EmbeddedPrometheus(work / "prom", backfill=[work / "history.om"])
    with server, httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
        yield client, now


def _value(prom: tuple[httpx.Client, int], query: str) -> float | None:
    client, now = prom
    answer = client.get("/api/v1/query", params={"query": query, "time": now}).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


@pytest.mark.parametrize(("selector", "rps", "errors"), [
    ({"service": "cart"}, OK_RPS + ERR_RPS, 0.1),
    ({"service": "orders", "pods": "orders-[a-z0-9]+-[a-z0-9]+"}, OK_RPS + ERR_RPS, 0.1),
    ({"service": "pay", "workload": "pay"}, OK_RPS + ERR_RPS, 0.1),
    ({"service": "search"}, OK_RPS, 0.0),
])
def test_each_instrumentation_answers_rate_and_errors(
        prom: tuple[httpx.Client, int], selector: dict[str, str], rps: float,
        errors: float) -> None:
    assert _value(prom, http_metrics.request_rate(NS, **selector)) == pytest.approx(rps)
    assert _value(prom, http_metrics.error_ratio(NS, **selector)) == pytest.approx(errors)


@pytest.mark.parametrize("service", ["cart", "pay"])
def test_p99_is_in_seconds_whatever_the_histogram_unit(prom: tuple[httpx.Client, int],
                                                      service: str) -> None:
    p99 = _value(prom, http_metrics.latency_p99(NS, service=service, workload=service))
    assert p99 == pytest.approx(0.1 + 0.4 * 0.99)


def test_a_workload_without_http_metrics_has_no_answer(prom: tuple[httpx.Client, int]) -> None:
    selector = {"service": "nowhere", "pods": "nowhere-.*", "workload": "nowhere"}
    assert _value(prom, http_metrics.request_rate(NS, **selector)) is None
    assert _value(prom, http_metrics.error_ratio(NS, **selector)) is None
    assert _value(prom, http_metrics.latency_p99(NS, **selector)) is None
