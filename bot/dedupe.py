"""Remembering ids for a while: dropped platform retries and threads the bot is in.

Slack retries an event it thinks we missed (``x-slack-retry-num``), Feishu does the same
with the same ``event_id``. With several replicas behind one Service the retry can land
on another pod, so the memory lives in Redis: ``SET key 1 NX EX ttl`` is atomic, the
first caller wins and every later one sees the key. Without Redis (tests, a single
process) :class:`MemoryKeys` does the same in one process.

When Redis fails we answer "first time": a duplicate reply is better than a lost one.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["KeyStore", "MemoryKeys", "RedisKeys"]

log = logging.getLogger(__name__)

_PREFIX = "opsbot:serve:"


class KeyStore(Protocol):
    async def first(self, key: str, ttl_s: int) -> bool:
        """True for the first caller with ``key`` within ``ttl_s``; False for the rest."""
        ...

    async def remember(self, key: str, ttl_s: int) -> None:
        """Keep ``key`` for ``ttl_s`` seconds (refreshing the expiry)."""
        ...

    async def known(self, key: str) -> bool:
        """Whether ``key`` is remembered."""
        ...

    async def aclose(self) -> None: ...


class RedisKeys:
    """Keys in Redis under ``prefix`` (``opsbot:serve:``), shared by every replica."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = _PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self.failures = 0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = _PREFIX,
                 max_connections: int = 32) -> RedisKeys:
        # A blocking pool: redis-py's default pool fails at once with "Too many
        # connections" when every connection is busy, which a burst of requests reached
        # (bench/serve_load.py); waiting a moment for a free connection is better.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=2.0, socket_timeout=2.0,
            socket_connect_timeout=2.0)
        return cls(aioredis.Redis.from_pool(pool), prefix=prefix)

    async def first(self, key: str, ttl_s: int) -> bool:
        try:
            created = await self._client.set(self._prefix + key, b"1", nx=True, ex=ttl_s)
        except RedisError as exc:
            self.failures += 1
            log.warning("dedupe: redis unavailable (%s); handling %s anyway", exc, key)
            return True
        return bool(created)

    async def remember(self, key: str, ttl_s: int) -> None:
        try:
            await self._client.set(self._prefix + key, b"1", ex=ttl_s)
        except RedisError as exc:
            self.failures += 1
            log.warning("dedupe: cannot remember %s: %s", key, exc)

    async def known(self, key: str) -> bool:
        try:
            return bool(await self._client.exists(self._prefix + key))
        except RedisError as exc:
            self.failures += 1
            log.warning("dedupe: cannot look up %s: %s", key, exc)
            return False

    async def aclose(self) -> None:
        await self._client.aclose()


class MemoryKeys:
    """The same in one process; expired keys are swept on write."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def _sweep(self, now: float) -> None:
        for key in [k for k, t in self._expiry.items() if t <= now]:
            del self._expiry[key]

    async def first(self, key: str, ttl_s: int) -> bool:
        now = time.monotonic()
        self._sweep(now)
        if key in self._expiry:
            return False
        self._expiry[key] = now + ttl_s
        return True

    async def remember(self, key: str, ttl_s: int) -> None:
        now = time.monotonic()
        self._sweep(now)
        self._expiry[key] = now + ttl_s

    async def known(self, key: str) -> bool:
        return self._expiry.get(key, 0.0) > time.monotonic()

    async def aclose(self) -> None:
        self._expiry.clear()
