"""The audit log: every request, decision and execution appended to a Redis stream."""

from __future__ import annotations

import json
import time
from typing import Any

from redis import asyncio as aioredis

__all__ = ["STREAM", "Audit"]

STREAM = "opsbot:audit"
_MAX_LEN = 100_000


class Audit:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def append(self, event: str, **fields: Any) -> str:
        """Append one entry: event name, time, and JSON-encoded fields (strings too, so
        that an id like "123456" reads back as the string it was)."""
        entry = {"event": event, "at": f"{time.time():.3f}"}
        entry.update({k: json.dumps(v, default=str) for k, v in fields.items()})
        entry_id = await self._redis.xadd(STREAM, entry,  # type: ignore[arg-type]
                                          maxlen=_MAX_LEN, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read(self, since: float = 0.0, count: int = 1000) -> list[dict[str, Any]]:
        """The newest `count` entries since `since`, oldest first."""
        start = f"{int(since * 1000)}-0" if since else "-"
        rows = list(reversed(await self._redis.xrevrange(STREAM, max="+", min=start,
                                                         count=count) or []))
        entries = []
        for entry_id, raw in rows or []:
            item: dict[str, Any] = {"id": entry_id.decode() if isinstance(entry_id, bytes)
                                    else entry_id}
            for key, value in (raw or {}).items():
                k = key.decode() if isinstance(key, bytes) else key
                v = value.decode() if isinstance(value, bytes) else value
                try:
                    item[k] = json.loads(v) if k not in ("event", "at") else v
                except ValueError:
                    item[k] = v
            entries.append(item)
        return entries
