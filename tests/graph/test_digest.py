"""The digest builder on scripted tool answers: quiet when all is well, flagged items
first with `/rca` buttons, missing backends said plainly, numbers compared with
yesterday, alert history and approvals counted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from redis import asyncio as aioredis

from graph import digest, digest_history
from tools import results

NOW = datetime(2025, 3, 31, 1, 0, tzinfo=UTC).timestamp()  # Monday 09:00 in Shanghai
Answer = Callable[[dict[str, Any]], dict[str, Any]]


def iso(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def workload(name: str, desired: int = 2, available: int = 2, **extra: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "name": name, "namespace": "shop", "desired": desired,
            "ready": available, "available": available, "updated": desired,
            "healthy": available >= desired and "condition" not in extra, **extra}


def series(value: float, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "timestamp": NOW, "value": value}


class Tools:
    """Scripted read tools: by tool name, and for PromQL by a fragment of the query
    (`q_FRAGMENT` answers instant queries, `r_FRAGMENT` range queries)."""

    def __init__(self, **answers: Any) -> None:
        self.k8s: dict[str, Any] = {
            "list_workloads": results.ok([workload("frontend", 3, 3), workload("orders", 3, 3)]),
            "list_pods": results.ok([]),
            "list_events": results.no_data("no events match"),
            "list_nodes": results.ok([{"name": f"node-{i}", "ready": True, "problems": [],
                                       "unschedulable": False} for i in (1, 2)]),
            "list_resources": results.no_data("no hpas"),
        }
        self.k8s.update({k: v for k, v in answers.items() if k[:2] not in ("q_", "r_")})
        self.prom: list[tuple[str, str, Any]] = [
            ("prom_query" if k[0] == "q" else "prom_range", k[2:], v)
            for k, v in answers.items() if k[:2] in ("q_", "r_")]
        self.prom_down = False
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, name: str, /, **arguments: Any) -> dict[str, Any]:
        self.calls.append((name, arguments))
        if name.startswith("prom_"):
            if self.prom_down:
                return results.error("http://127.0.0.1:9: connection refused",
                                     backend="prometheus")
            query = str(arguments.get("query", ""))
            for tool, fragment, answer in self.prom:
                if tool == name and fragment in query:
                    return answer(arguments) if callable(answer) else answer
            return results.no_data(f"no series match {query}")
        answer = self.k8s.get(name, results.no_data("nothing"))
        return answer(arguments) if callable(answer) else answer


def crashloop_tools() -> Tools:
    pod = {"name": "worker-7d9f-abc12", "namespace": "shop", "status": "CrashLoopBackOff",
           "phase": "Running", "ready": "0/1", "restarts": 14, "workload": "Deployment/worker",
           "last_termination": {"reason": "Error", "exitCode": 1},
           "problems": ["CrashLoopBackOff", "restarted 14x, last exit Error (code 1)"]}
    return Tools(
        list_workloads=results.ok([
            workload("worker", 2, 1), workload("frontend", 3, 3), workload("orders", 3, 3)]),
        list_pods=results.ok([pod]),
        list_events=results.ok([
            {"type": "Warning", "reason": "BackOff", "object": "Pod/worker-7d9f-abc12",
             "namespace": "shop", "message": "Back-off restarting failed container",
             "count": 57, "last_seen": iso(60)},
            {"type": "Warning", "reason": "FailedMount", "object": "Pod/old-pod",
             "namespace": "shop", "message": "too old to count", "count": 5,
             "last_seen": iso(3 * 86400)}]),
        q_kube_pod_container_status_restarts_total=results.ok([
            series(14.2, namespace="shop", pod="worker-7d9f-abc12", container="worker"),
            series(1.0, namespace="shop", pod="orders-5c8d-xyz99", container="orders")]),
        q_last_terminated_reason=results.ok([
            series(1, namespace="shop", pod="worker-7d9f-abc12", container="worker",
                   reason="Error"),
            series(1, namespace="shop", pod="orders-5c8d-xyz99", container="orders",
                   reason="OOMKilled")]),
    )


def run(body: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(body())


def deps_for(tools: Tools, **extra: Any) -> digest.DigestDeps:
    return digest.DigestDeps(tools=tools, timezone="Asia/Shanghai", clock=lambda: NOW,
                             **extra)


def test_a_good_day_is_short() -> None:
    built = run(lambda: digest.collect_digest(deps_for(Tools())))
    assert built.status == "green"
    assert built.reply.text == ("🟢 **Green** — all 2 workloads available; all 2 nodes "
                                "without conditions; no restarts or warning events in the "
                                "last 24 h")
    assert built.reply.sections == [] and built.reply.fields == []
    assert built.reply.buttons == [] and built.reply.images == []
    assert built.reply.title == "Health digest · Mon 31 Mar 2025"


def test_the_crashlooping_worker_comes_first(tmp_path: Path) -> None:
    tools = crashloop_tools()
    built = run(lambda: digest.collect_digest(deps_for(tools, chart_dir=tmp_path)))
    reply = built.reply
    assert built.status == "red"
    assert reply.text.startswith("🔴 **Red** — Deployment shop/worker: CrashLoopBackOff")
    first = reply.sections[0]
    assert first.title == "Workloads not fully available"
    assert first.text.splitlines()[0].startswith("- 🔴 **Deployment shop/worker** — 1/2 "
                                                 "available")
    assert all(s.text.strip() for s in reply.sections)  # no empty sections
    restarts = next(s for s in reply.sections if s.title.startswith("Pods restarted"))
    lines = restarts.text.splitlines()
    assert "15 restarts across 2 pod(s); top reasons: Error (14 restarts" in lines[0]
    assert "OOMKilled (1 restarts" in lines[0]
    assert "**shop/worker-7d9f-abc12** (Deployment/worker) — 14 restarts, last exit Error" \
        in lines[1]
    events = next(s for s in reply.sections if s.title.startswith("Warning events"))
    assert events.text == ("- **BackOff** ×57 — Pod shop/worker-7d9f-abc12 "
                           "(Deployment/worker): Back-off restarting failed container")
    # One button per flagged workload, worst first, in the supervisor's `rca` format.
    first_button = reply.buttons[0]
    assert (first_button.action_id, first_button.value) == ("rca", "Deployment/worker|shop")
    assert len({b.value for b in reply.buttons}) == len(reply.buttons)
    assert {f.label: f.value for f in reply.fields}["Restarts (24 h)"] == "15"
    assert built.numbers["warning_events"] == 57  # the 3-day-old event is not counted


def test_prometheus_down_is_said_and_the_rest_still_reported() -> None:
    tools = crashloop_tools()
    tools.prom_down = True
    built = run(lambda: digest.collect_digest(deps_for(tools)))
    by_key = {p.key: p for p in built.parts}
    for key in ("restarts", "services", "forecast"):
        assert by_key[key].missing.startswith("Prometheus did not answer: http://127.0.0.1:9: "
                                              "connection refused"), key
    # The restart counts the API reports are shown, labelled for what they are.
    assert "restarts since each pod started" in by_key["restarts"].lines[0]
    assert "restarts_24h" not in built.numbers  # unknown, not zero
    # One probe finds Prometheus down; no query then waits out its own retries.
    assert [n for n, _ in tools.calls if n.startswith("prom_")] == ["prom_query"]
    assert built.parts[0].key == "workloads" and built.status == "red"
    text = "\n".join(s.text for s in built.reply.sections)
    assert "⚠ Prometheus did not answer" in text


def test_every_backend_down_is_amber_and_incomplete() -> None:
    down = results.error("https://10.0.0.1:6443: connection refused", backend="kubernetes")
    tools = Tools(list_workloads=down, list_pods=down, list_events=down, list_nodes=down)
    tools.prom_down = True
    built = run(lambda: digest.collect_digest(deps_for(tools)))
    assert built.status == "amber"
    assert built.reason.startswith("incomplete: no data for workloads not fully available")
    assert all(p.missing for p in built.parts)


def test_a_broken_section_costs_that_section_only(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(digest.digest_cluster, "nodes_part", broken)
    built = run(lambda: digest.collect_digest(deps_for(crashloop_tools())))
    nodes = next(p for p in built.parts if p.key == "nodes")
    assert nodes.missing == "This section could not be built: 'surprise'"
    assert built.parts[0].key == "workloads"


def test_service_outliers_against_the_baseline() -> None:
    tools = Tools(**{
        'q_code=~"5.."}[1h]': results.ok([series(6.0, namespace="shop", service="orders"),
                                          series(0.1, namespace="shop", service="frontend")]),
        'q_code=~"5.."}[7d]': results.ok([series(0.2, namespace="shop", service="orders"),
                                          series(0.1, namespace="shop", service="frontend")]),
        "q_http_requests_total[1h]": results.ok([
            series(50.0, namespace="shop", service="orders"),
            series(100.0, namespace="shop", service="frontend")]),
        "q_http_requests_total[7d]": results.ok([
            series(40.0, namespace="shop", service="orders"),
            series(100.0, namespace="shop", service="frontend")]),
        "q_bucket[1h]": results.ok([series(0.9, namespace="shop", service="frontend"),
                                    series(0.1, namespace="shop", service="orders")]),
        "q_bucket[7d]": results.ok([series(0.3, namespace="shop", service="frontend"),
                                    series(0.1, namespace="shop", service="orders")]),
    })
    built = run(lambda: digest.collect_digest(deps_for(tools)))
    services = next(p for p in built.parts if p.key == "services")
    assert services.lines == [
        "🔴 **shop/orders** — 5xx 12.0% of 50.0 req/s (7-day 0.50%)",
        "🔴 **shop/frontend** — p99 900 ms (7-day 300 ms)"]
    assert [f.target for f in services.flags] == ["Deployment/orders|shop",
                                                 "Deployment/frontend|shop"]


def with_redis(redis_url: str, body: Callable[[aioredis.Redis, str], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await body(client, f"opsbot:test:{uuid.uuid4().hex}:")
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_numbers_are_compared_with_yesterday(redis_url: str) -> None:
    async def body(redis: aioredis.Redis, prefix: str) -> digest.Digest:
        numbers = digest_history.DailyNumbers(redis, prefix=prefix)
        await numbers.save("all", date(2025, 3, 30), {"restarts_24h": 3.0,
                                                      "workloads_unavailable": 1.0,
                                                      "warning_events": 80.0})
        built = await digest.collect_digest(deps_for(crashloop_tools(), numbers=numbers))
        assert (await numbers.load("all", date(2025, 3, 31)) or {})["restarts_24h"] == 15
        return built

    built = with_redis(redis_url, body)
    fields = {f.label: f.value for f in built.reply.fields}
    assert fields["Restarts (24 h)"] == "15 (▲ 12 vs yesterday)"
    assert fields["Workloads not available"] == "1 (same as yesterday)"
    assert fields["Warning events"] == "57 (▼ 23 vs yesterday)"
    assert "compared with yesterday's digest" in built.reply.footnote


def test_alert_history_counts_fired_resolved_and_still_firing(redis_url: str) -> None:
    def alert(status: str, name: str, fingerprint: str, **labels: str) -> dict[str, Any]:
        return {"status": status, "fingerprint": fingerprint, "starts_at": iso(3600),
                "labels": {"alertname": name, "namespace": "shop", **labels}}

    async def body(redis: aioredis.Redis, prefix: str) -> digest.Digest:
        history = digest_history.AlertHistory(redis, key=prefix + "alerts")
        await history.record("firing", "g0", [alert("firing", "Old", "f0")], at=NOW - 2 * 86400)
        await history.record("firing", "g1", [
            alert("firing", "KubePodCrashLooping", "f1", severity="critical",
                  deployment="worker"),
            alert("firing", "KubePodCrashLooping", "f2", severity="critical")], at=NOW - 7200)
        await history.record("resolved", "g1", [
            alert("resolved", "KubePodCrashLooping", "f2", severity="critical")], at=NOW - 600)
        await history.record("firing", "g2", [alert("firing", "HighLatency", "f3",
                                                    severity="warning")], at=NOW - 5000)
        await history.record("resolved", "g2", [alert("resolved", "HighLatency", "f3",
                                                      severity="warning")], at=NOW - 4000)
        return await digest.collect_digest(deps_for(Tools(), alerts=history))

    built = with_redis(redis_url, body)
    part = next(p for p in built.parts if p.key == "alerts")
    assert part.lines == [
        "🔴 **KubePodCrashLooping** (critical, shop) — fired 2, resolved 1, 1 still firing",
        "**HighLatency** (warning, shop) — fired 1, resolved 1"]
    assert (built.numbers["alerts_fired"], built.numbers["alerts_resolved"]) == (3, 2)
    assert built.status == "red" and built.reply.buttons[0].value == "Deployment/worker|shop"


class Store:
    async def recent(self, since: float = 0.0, limit: int = 200) -> list[dict[str, Any]]:
        action = {"summary": "roll back Deployment/shop/worker to revision 3",
                  "resource": "Deployment/shop/worker"}
        return [{"id": "3f2a1c", "status": "pending", "expires_at": NOW + 900, "risk": "high",
                 "requester": "alice", "action": action},
                {"id": "0b0b0b", "status": "pending", "expires_at": NOW - 60, "risk": "low",
                 "requester": "bob", "action": action}]


class Audit:
    async def read(self, since: float = 0.0, count: int = 1000) -> list[dict[str, Any]]:
        action = {"summary": "restart Deployment/shop/orders",
                  "resource": "Deployment/shop/orders"}
        return [{"event": "executed", "approval": "aa11", "action": action},
                {"event": "verification_failed", "approval": "aa11", "lines": ["not ready"]},
                {"event": "rejected", "approval": "bb22"}]


def test_pending_approvals_and_actions_taken() -> None:
    built = run(lambda: digest.collect_digest(deps_for(Tools(), store=Store(), audit=Audit())))
    part = next(p for p in built.parts if p.key == "activity")
    assert part.lines == [
        "⏳ **3f2a1c** — roll back Deployment/shop/worker to revision 3 (high risk), asked by "
        "alice, expires 09:15",
        "🟠 restart Deployment/shop/orders (request aa11) — verification failed",
        "1 rejected"]
    assert (built.numbers["pending_approvals"], built.numbers["actions_24h"]) == (1, 1)
    assert built.status == "amber"
    assert [b.value for b in built.reply.buttons] == ["Deployment/orders|shop"]


def test_json_document_shape() -> None:
    document = run(lambda: digest.collect_digest(deps_for(crashloop_tools()))).to_json()
    assert set(document) == {"status", "reason", "day", "timezone", "namespace",
                             "generated_at", "numbers", "yesterday", "sections", "flagged",
                             "chart", "reply"}
    assert document["day"] == "2025-03-31" and document["timezone"] == "Asia/Shanghai"
    assert document["sections"][0]["key"] == "workloads"
    assert document["flagged"][0] == {"severity": "red", "rca": "Deployment/worker|shop",
                                      "reason": document["reason"].split("; and")[0]}
    json.dumps(document)  # plain JSON all the way down


def test_forecast_peak_with_a_capacity_warning() -> None:
    import math

    hours = [NOW - 3600 * k for k in range(7 * 24, -1, -1)]
    load = [[t, 40 + 20 * math.sin(2 * math.pi * (t % 86400) / 86400)] for t in hours]
    tools = Tools(**{
        "list_workloads": results.ok([workload("orders", 1, 1)]),
        "q_topk(": results.ok([series(load[-1][1], namespace="shop", service="orders")]),
        'r_service="orders"': results.ok([{"metric": {}, "points": load}]),
        "q_container_cpu_usage_seconds_total": results.ok([series(1.0)]),
        "q_kube_pod_container_resource_requests": results.ok([series(0.5)]),
    })
    built = run(lambda: digest.collect_digest(deps_for(tools)))
    part = next(p for p in built.parts if p.key == "forecast")
    (line,) = part.lines
    assert line.startswith("🟠 **shop/orders** — peak ")
    assert "1 run: scale out before" in line
    assert built.numbers["capacity_warnings"] == 1 and built.status == "amber"
    assert built.reply.buttons[0].value == "Deployment/orders|shop"
