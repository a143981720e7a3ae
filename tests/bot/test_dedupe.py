"""Event dedupe and thread memory, in Redis and in process."""

from __future__ import annotations

import asyncio

from bot import dedupe


async def _exercise(keys: dedupe.KeyStore) -> None:
    assert await keys.first("event:1", 60) is True
    assert await keys.first("event:1", 60) is False
    assert await keys.first("event:2", 60) is True
    assert await keys.known("thread:a") is False
    await keys.remember("thread:a", 60)
    assert await keys.known("thread:a") is True
    await keys.aclose()


def test_redis_keys(keys: dedupe.RedisKeys) -> None:
    asyncio.run(_exercise(keys))


def test_redis_keys_expire(redis_url: str) -> None:
    async def run() -> None:
        keys = dedupe.RedisKeys.from_url(redis_url, prefix="opsbot:test:expire:")
        assert await keys.first("event:short", 1)
        ttl = await keys._client.ttl("opsbot:test:expire:event:short")
        assert 0 < ttl <= 1
        await keys.aclose()

    asyncio.run(run())


def test_redis_down_fails_open() -> None:
    async def run() -> None:
        keys = dedupe.RedisKeys.from_url("redis://127.0.0.1:1")
        assert await keys.first("event:1", 60) is True
        assert await keys.first("event:1", 60) is True
        assert await keys.known("thread:a") is False
        assert keys.failures == 3
        await keys.aclose()

    asyncio.run(run())


def test_memory_keys() -> None:
    asyncio.run(_exercise(dedupe.MemoryKeys()))
