"""Digest sections about what happened around the cluster: alerts fired and resolved
(from the Alertmanager history the webhook records), approvals still waiting and the
actions opsbot took (from the approval store and the audit stream).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

from redis import asyncio as aioredis

from graph.digest_history import AlertHistory
from graph.digest_model import SEVERITY_ICON, Flag, Part, Scope, clock_time, level

__all__ = ["ApprovalReader", "AuditReader", "activity_part", "alerts_part"]

_DAY_S = 86400.0
_PAGE_SEVERITIES = {"critical", "page", "p1"}
_MAX_LINES = 8


class ApprovalReader(Protocol):
    async def recent(self, since: float = 0.0, limit: int = 200) -> list[dict[str, Any]]: ...


class AuditReader(Protocol):
    async def read(self, since: float = 0.0, count: int = 1000) -> list[dict[str, Any]]: ...


def _redis_missing(exc: Exception) -> str:
    return f"Redis did not answer: {exc}"


def _rca_value(resource: str) -> str:
    """"Kind/namespace/name" (an action's resource) as an `rca` button value."""
    parts = resource.split("/")
    if len(parts) == 3:
        return f"{parts[0]}/{parts[2]}|{parts[1]}"
    return f"{resource}|" if len(parts) == 2 else ""


# -- alerts ----------------------------------------------------------------------------

async def alerts_part(scope: Scope, history: AlertHistory | None) -> Part:
    part = Part("alerts", "Alerts in the last 24 h", order=45)
    if history is None:
        return part
    try:
        entries = await history.read(since=scope.now - _DAY_S)
    except (aioredis.RedisError, OSError) as exc:
        part.missing = _redis_missing(exc)
        return part
    fired: dict[str, set[str]] = defaultdict(set)
    resolved: dict[str, set[str]] = defaultdict(set)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:  # oldest first, so the last status of a fingerprint wins
        for alert in entry["alerts"]:
            if scope.namespace and alert.get("namespace") != scope.namespace:
                continue
            name, fingerprint = str(alert.get("alertname")), str(alert.get("fingerprint"))
            (fired if alert.get("status") == "firing" else resolved)[name].add(fingerprint)
            latest[(name, fingerprint)] = alert
    part.numbers["alerts_fired"] = sum(len(f) for f in fired.values())
    part.numbers["alerts_resolved"] = sum(len(r) for r in resolved.values())
    names = sorted(set(fired) | set(resolved))
    still: dict[str, list[dict[str, Any]]] = {
        name: [a for (n, _), a in latest.items() if n == name and a.get("status") == "firing"]
        for name in names}
    part.numbers["alerts_firing"] = sum(len(s) for s in still.values())
    names.sort(key=lambda n: (-len(still[n]), -len(fired[n]), n))
    for name in names:
        alerts = [a for (n, _), a in latest.items() if n == name]
        severity = next((str(a.get("severity")) for a in alerts if a.get("severity")), "")
        spaces = sorted({str(a.get("namespace")) for a in alerts if a.get("namespace")})
        about = ", ".join(x for x in (severity, ", ".join(spaces[:3])) if x)
        counts = f"fired {len(fired[name])}, resolved {len(resolved[name])}"
        icon = ""
        if still[name]:
            worst = level(severity.lower() in _PAGE_SEVERITIES)
            icon = SEVERITY_ICON[worst] + " "
            counts += f", {len(still[name])} still firing"
            first = still[name][0]
            obj, ns = str(first.get("object") or ""), str(first.get("namespace") or "")
            value = f"{obj}|{ns}" if obj else (f"Namespace/{ns}|" if ns else "")
            part.flags.append(Flag(worst, f"alert {name} still firing"
                                   + (f" ({about})" if about else ""), value,
                                   f"RCA {obj.partition('/')[2] or ns}" if value else "",
                                   weight=len(still[name])))
        if len(part.lines) < _MAX_LINES:
            part.lines.append(f"{icon}**{name}**" + (f" ({about})" if about else "")
                              + f" — {counts}")
    if len(names) > _MAX_LINES:
        part.lines.append(f"… and {len(names) - _MAX_LINES} more alerts")
    return part


# -- approvals and actions -------------------------------------------------------------

def _action(entry: dict[str, Any]) -> dict[str, Any]:
    action = entry.get("action")
    return action if isinstance(action, dict) else {}


async def activity_part(scope: Scope, store: ApprovalReader | None,
                        audit: AuditReader | None) -> Part:
    part = Part("activity", "Approvals and actions (24 h)", order=70)
    if store is None or audit is None:
        return part
    try:
        records = await store.recent(since=scope.now - 7 * _DAY_S)
        entries = await audit.read(since=scope.now - _DAY_S)
    except (aioredis.RedisError, OSError) as exc:
        part.missing = _redis_missing(exc)
        return part
    pending = [r for r in records if r.get("status") == "pending"
               and float(r.get("expires_at") or 0) > scope.now]
    part.numbers["pending_approvals"] = len(pending)
    for record in pending[:_MAX_LINES]:
        action = record.get("action") or {}
        expires = clock_time(float(record["expires_at"]), scope.tz, scope.now)
        part.lines.append(f"⏳ **{record.get('id')}** — {action.get('summary', '?')} "
                          f"({record.get('risk', '?')} risk), asked by "
                          f"{record.get('requester', '?')}, expires {expires}")
    if pending:
        part.flags.append(Flag("amber", f"{len(pending)} approval request(s) waiting",
                               weight=len(pending)))
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        events[str(entry.get("event"))].append(entry)
    outcome = {str(e.get("approval")): e for e in events["verified"]
               + events["verification_failed"]}
    executed = events["executed"]
    part.numbers["actions_24h"] = len(executed)
    for entry in executed[-_MAX_LINES:]:
        action = _action(entry)
        check = outcome.get(str(entry.get("approval")))
        result = ("verified" if check and check.get("event") == "verified" else
                  "verification failed" if check else "not verified yet")
        icon = "✅" if result == "verified" else SEVERITY_ICON["amber"]
        part.lines.append(f"{icon} {action.get('summary', 'action')} "
                          f"(request {entry.get('approval')}) — {result}")
        if check and check.get("event") == "verification_failed":
            resource = str(action.get("resource") or "")
            value = _rca_value(resource)
            part.flags.append(Flag("amber", f"{action.get('summary', 'an action')}: "
                                   "verification failed", value,
                                   f"RCA {resource.rsplit('/', 1)[-1]}" if value else ""))
    for entry in events["execution_failed"]:
        action = _action(entry)
        part.lines.append(f"{SEVERITY_ICON['amber']} {action.get('summary', 'action')} "
                          f"(request {entry.get('approval')}) — execution failed: "
                          f"{str(entry.get('error') or '')[:120]}")
        part.flags.append(Flag("amber", f"{action.get('summary', 'an action')}: execution "
                               "failed"))
    others = {name: len(events[name]) for name in ("rejected", "expired") if events[name]}
    if others:
        part.lines.append(", ".join(f"{count} {name}" for name, count in others.items()))
    return part
