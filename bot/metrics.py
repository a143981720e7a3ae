"""Prometheus metrics of `opsbot serve`, exposed on ``/metrics``.

Each app gets its own registry so that several apps in one process (tests) do not
collide on metric names. Label values are bounded: endpoints are the mounted paths
(anything else is "other"), routes come from the graph's fixed route list.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "opsbot_http_requests", "HTTP requests served, by endpoint and status code.",
            ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram(
            "opsbot_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["endpoint"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.graph_runs = Counter(
            "opsbot_graph_runs", "Chat turns run through the graph, by route.",
            ["platform", "route"], registry=self.registry)
        self.approvals = Counter(
            "opsbot_approvals", "Clicks on approval cards, by outcome.",
            ["outcome"], registry=self.registry)
        self.events = Counter(
            "opsbot_chat_events", "Chat events received, by platform and what was done.",
            ["platform", "outcome"], registry=self.registry)
        self.alerts = Counter(
            "opsbot_alert_notifications", "Alertmanager notifications, by result.",
            ["result"], registry=self.registry)
        self.errors = Counter(
            "opsbot_errors", "Errors caught at the edge, by where they happened.",
            ["where"], registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request and its latency (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: Iterable[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = frozenset(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in self.endpoints else "other"
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
