"""Approval records and the exactly-once keys, in Redis.

The LangGraph checkpoint holds the paused remediation run; this record is what cards,
the console, the digest and clicks read: status, approvals so far, expiry. Two keys make
clicks and execution happen once: a short lock while one click is being processed, and
an execution claim that is never released.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from redis import asyncio as aioredis

__all__ = ["ApprovalStore"]

_PREFIX = "opsbot:approval:"
_INDEX = "opsbot:approvals"
_KEEP_S = 30 * 86400  # decided requests stay readable for the audit trail's sake


class ApprovalStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(3)

    async def save(self, record: dict[str, Any]) -> None:
        key = _PREFIX + record["id"]
        await self._redis.set(key, json.dumps(record, default=str), ex=_KEEP_S)
        await self._redis.zadd(_INDEX, {record["id"]: float(record["created_at"])})

    async def get(self, approval_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(_PREFIX + approval_id)
        return json.loads(raw) if raw else None

    async def update(self, approval_id: str, **fields: Any) -> dict[str, Any] | None:
        record = await self.get(approval_id)
        if record is None:
            return None
        record.update(fields)
        await self.save(record)
        return record

    async def recent(self, since: float = 0.0, limit: int = 200) -> list[dict[str, Any]]:
        ids = await self._redis.zrevrangebyscore(_INDEX, "+inf", since, start=0, num=limit)
        found = []
        for approval_id in ids:
            record = await self.get(approval_id.decode() if isinstance(
                approval_id, bytes) else str(approval_id))
            if record:
                found.append(record)
        return found

    async def lock(self, approval_id: str, holder: str, ttl_s: int = 120) -> bool:
        """One click at a time per request; a crashed holder's lock expires."""
        return bool(await self._redis.set(f"{_PREFIX}{approval_id}:lock", holder, nx=True,
                                          ex=ttl_s))

    async def unlock(self, approval_id: str) -> None:
        await self._redis.delete(f"{_PREFIX}{approval_id}:lock")

    async def claim_execution(self, approval_id: str, holder: str) -> bool:
        """True exactly once per request, whatever the clicks, retries or replicas."""
        return bool(await self._redis.set(f"{_PREFIX}{approval_id}:executed",
                                          f"{holder}@{time.time():.0f}", nx=True, ex=_KEEP_S))
