"""`opsbot audit [--since] [--json]`: read the audit stream."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from redis import asyncio as aioredis

from bot import settings as settings_mod
from graph.fix import audit
from tools import errors, prom

__all__ = ["redis_url_for", "run_audit"]


@contextlib.contextmanager
def redis_url_for(settings: settings_mod.Settings) -> Iterator[str]:
    """The configured Redis, or the embedded one over the state dir for this command."""
    if settings.redis.url:
        yield settings.redis.url
        return
    from tools.embedded import redis_server

    with redis_server.EmbeddedRedis(settings.state_path / "redis") as embedded:
        yield embedded.url


def _since(text: str) -> float:
    if not text:
        return 0.0
    try:
        return time.time() - prom.parse_duration(text)
    except prom.QueryError:
        return prom.parse_time(text).timestamp()


async def _read(url: str, since: float) -> list[dict[str, object]]:
    client = aioredis.Redis.from_url(url)
    try:
        return await audit.Audit(client).read(since=since)
    except OSError as exc:
        raise errors.BackendUnavailable("redis", f"{url}: {exc}") from exc
    finally:
        await client.aclose()


def run_audit(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    since = _since(args.since)
    with redis_url_for(settings) as url:
        entries = asyncio.run(_read(url, since))
    if args.json:
        sys.stdout.write(json.dumps(entries, ensure_ascii=False, default=str) + "\n")
        return 0
    if not entries:
        print("The audit log is empty" + (" for that period." if since else "."))
    for entry in entries:
        at = datetime.fromtimestamp(float(str(entry.get("at", 0))), UTC)
        rest = {k: v for k, v in entry.items() if k not in ("id", "at", "event")}
        print(f"{at:%Y-%m-%d %H:%M:%S} {entry.get('event'):<18} "
              + " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)[:160]}"
                         for k, v in rest.items()))
    return 0
