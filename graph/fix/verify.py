"""After a change: is the rollout complete, are the pods ready, is the error ratio back?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph import query, targets

__all__ = ["Verification", "verify_action"]


@dataclass
class Verification:
    ok: bool
    lines: list[str] = field(default_factory=list)


def _rollout_done(obj: dict[str, Any]) -> tuple[bool, str]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    total = int(status.get("replicas") or 0)
    observed = int(status.get("observedGeneration") or 0) >= int(
        obj.get("metadata", {}).get("generation") or 0)
    done = observed and updated >= want and ready >= want and available >= want and total <= want
    return done, (f"{ready}/{want} ready, {updated} updated, {available} available"
                  + ("" if total <= want else f", {total - want} old pod(s) still terminating"))


async def _error_ratio(tools: targets.ToolCaller, target: targets.Target) -> float | None:
    result = await tools.call("prom_query", query=query.promql_for("error_rate", target).replace(
        "[10m]", "[1m]"))
    if result.get("status") != "ok" or not result["data"]:
        return None
    value = result["data"][0]["value"]
    return float(value) if value is not None else None


async def verify_action(tools: targets.ToolCaller, action: dict[str, Any], *,
                        timeout_s: float = 120.0, poll_s: float = 2.0,
                        baseline_error: float | None = None,
                        clock: Callable[[], float] = time.monotonic) -> Verification:
    """Poll until the workload settles or the timeout passes."""
    target = targets.Target.parse(action["resource"])
    kind, namespace, name = target.kind, target.namespace, target.name
    if kind in ("Node", "HorizontalPodAutoscaler") or action["action"] == "delete_pod":
        return await _verify_simple(tools, kind, namespace, name)
    deadline = clock() + timeout_s
    state = ""
    while True:
        described = await tools.call("describe", kind=kind, name=name, namespace=namespace)
        if described.get("status") == "ok":
            done, state = _rollout_done(described["data"]["object"])
            if done:
                break
        else:
            state = f"cannot read {action['resource']}: {described.get('message')}"
        if clock() >= deadline:
            return Verification(False, [f"Rollout not complete after {timeout_s:.0f} s: {state}"])
        await asyncio.sleep(poll_s)
    lines = [f"Rollout complete: {state}"]
    pods = await tools.call("list_pods", namespace=namespace, workload=f"{kind}/{name}")
    troubled = [p for p in pods.get("data") or [] if p["problems"]]
    if troubled:
        names = ", ".join(f"{p['name']} {p['status']}" for p in troubled[:3])
        return Verification(False, [*lines, f"{len(troubled)} pod(s) still unhealthy: {names}"])
    lines.append("All pods ready")
    ratio = await _error_ratio(tools, target)
    if ratio is None:
        lines.append("Error ratio: no request metrics for this workload")
        return Verification(True, lines)
    limit = max(0.01, 2 * (baseline_error or 0.0))
    while ratio is not None and ratio > limit and clock() < deadline:
        await asyncio.sleep(poll_s)
        ratio = await _error_ratio(tools, target)
    if ratio is not None and ratio > limit:
        return Verification(False, [*lines, f"5xx ratio still {ratio:.1%} (limit {limit:.1%})"])
    lines.append(f"5xx ratio {ratio:.2%}, within the baseline" if ratio is not None
                 else "Error ratio: no longer reported")
    return Verification(True, lines)


async def _verify_simple(tools: targets.ToolCaller, kind: str, namespace: str,
                         name: str) -> Verification:
    if kind == "Pod":
        return Verification(True, [f"Pod {name} deleted; its controller recreates it"])
    described = await tools.call("describe", kind=kind, name=name, namespace=namespace)
    if described.get("status") != "ok":
        return Verification(False, [f"cannot read {kind}/{name}: {described.get('message')}"])
    spec = described["data"]["object"].get("spec", {})
    if kind == "Node":
        return Verification(True, [f"Node {name} unschedulable={bool(spec.get('unschedulable'))}"])
    return Verification(True, [f"HPA {name} maxReplicas={spec.get('maxReplicas')}"])
