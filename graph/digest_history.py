"""What the digest remembers between runs, in Redis: Alertmanager notifications (a stream
the webhook appends to) and each day's headline numbers (for "compared with yesterday").

Both are keyed by what they describe, not by the process, so every replica and the
CronJob see the same history.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date
from typing import Any

from redis import asyncio as aioredis

__all__ = ["ALERT_STREAM", "AlertHistory", "DailyNumbers"]

ALERT_STREAM = "opsbot:alerts:history"
_STREAM_MAX_LEN = 50_000
_MAX_ALERTS_PER_ENTRY = 100
_NUMBERS_PREFIX = "opsbot:digest:numbers:"
_NUMBERS_TTL_S = 9 * 86400  # a week back and a little more, for "same day last week" later
# Labels that name the object an alert is about, and the kind each one names.
_OBJECT_LABELS = (("deployment", "Deployment"), ("statefulset", "StatefulSet"),
                  ("daemonset", "DaemonSet"), ("pod", "Pod"), ("node", "Node"))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _alert_row(alert: dict[str, Any]) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    fingerprint = str(alert.get("fingerprint") or "")
    if not fingerprint:
        # Alertmanager always sends one; a hand-written payload may not.
        fingerprint = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
    row = {"fingerprint": fingerprint, "status": str(alert.get("status") or ""),
           "alertname": labels.get("alertname", "alert"),
           "severity": labels.get("severity", ""),
           "namespace": labels.get("namespace") or labels.get("exported_namespace", ""),
           "starts_at": str(alert.get("starts_at") or "")}
    for label, kind in _OBJECT_LABELS:
        if labels.get(label):
            row["object"] = f"{kind}/{labels[label]}"
            break
    return row


class AlertHistory:
    """Every Alertmanager notification, newest last; the digest counts fired/resolved."""

    def __init__(self, redis: aioredis.Redis, *, key: str = ALERT_STREAM) -> None:
        self._redis = redis
        self._key = key

    async def record(self, status: str, group_key: str, alerts: list[dict[str, Any]],
                     *, at: float | None = None) -> str:
        """Append one notification. `alerts` items carry status, labels, fingerprint and
        starts_at, as Alertmanager sends them."""
        entry = {"at": f"{time.time() if at is None else at:.3f}", "status": status,
                 "group_key": group_key[:500],
                 "alerts": json.dumps([_alert_row(a) for a in alerts[:_MAX_ALERTS_PER_ENTRY]])}
        entry_id = await self._redis.xadd(self._key, entry,  # type: ignore[arg-type]
                                          maxlen=_STREAM_MAX_LEN, approximate=True)
        return _text(entry_id)

    async def read(self, since: float, *, limit: int = 5000) -> list[dict[str, Any]]:
        """Notifications recorded at or after `since` (epoch seconds), oldest first."""
        found: list[dict[str, Any]] = []
        rows = await self._redis.xrevrange(self._key, max="+", min="-", count=limit)
        for _, raw in rows or []:
            fields = {_text(k): _text(v) for k, v in (raw or {}).items()}
            try:
                at = float(fields.get("at", "0"))
                alerts = json.loads(fields.get("alerts") or "[]")
            except ValueError:
                continue  # an entry some other writer left: skip rather than fail the digest
            if at < since:
                break  # newest first: everything after this is older still
            found.append({"at": at, "status": fields.get("status", ""),
                          "group_key": fields.get("group_key", ""), "alerts": alerts})
        found.reverse()
        return found


class DailyNumbers:
    """One JSON document of headline numbers per scope and local date."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str = _NUMBERS_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, scope: str, day: date) -> str:
        return f"{self._prefix}{scope}:{day.isoformat()}"

    async def save(self, scope: str, day: date, numbers: dict[str, float]) -> None:
        await self._redis.set(self._key(scope, day), json.dumps(numbers), ex=_NUMBERS_TTL_S)

    async def load(self, scope: str, day: date) -> dict[str, float] | None:
        raw = await self._redis.get(self._key(scope, day))
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}
