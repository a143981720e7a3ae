"""`opsbot digest [--channel C] [--namespace NS] [--once] [--json]`: the digest, now.

Without a digest channel configured (DIGEST_SCHEDULES, SLACK_DIGEST_CHANNEL,
FEISHU_DIGEST_CHAT_ID) or named with --channel, the digest is only printed. With one,
it is also posted there through the same posters `opsbot serve` uses. `--once` takes the
same per-channel, per-day Redis key as the in-process scheduler, so a Kubernetes CronJob
and `opsbot serve` never both post the same day's digest.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot import outbound, render_text, runtime, scheduler
from bot import settings as settings_mod
from graph import chat, digest
from tools import errors

__all__ = ["add_arguments", "build_posters", "run_digest"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", default="", help="post only to this configured digest "
                        "channel, or to PLATFORM:CHANNEL (slack, feishu, console)")
    parser.add_argument("--namespace", default="", help="limit the digest to one namespace")
    parser.add_argument("--once", action="store_true", help="skip channels that already got "
                        "today's digest (what the CronJob uses)")
    parser.add_argument("--json", action="store_true")


def build_posters(settings: settings_mod.Settings, out: outbound.Outbound, *,
                  console: outbound.PrintPoster) -> None:
    """Posters for every platform whose credentials are set, plus the console."""
    if settings.slack.bot_token:
        from slack_sdk.http_retry.builtin_async_handlers import (
            AsyncConnectionErrorRetryHandler,
            AsyncRateLimitErrorRetryHandler,
        )
        from slack_sdk.web.async_client import AsyncWebClient

        from bot import slack_app

        client = AsyncWebClient(token=settings.slack.bot_token,
                                base_url=settings.slack.api_base_url,
                                retry_handlers=[AsyncConnectionErrorRetryHandler(),
                                                AsyncRateLimitErrorRetryHandler(
                                                    max_retry_count=settings.slack.
                                                    rate_limit_retries)])
        out.register("slack", slack_app.SlackPoster(client),
                     digest_channel=settings.slack.digest_channel)
    if settings.feishu.app_id:
        from bot import feishu_app

        out.register("feishu", feishu_app.FeishuPoster(feishu_app.FeishuApi(settings.feishu)),
                     digest_channel=settings.feishu.digest_chat_id)
    out.register("console", console)


def _targets(settings: settings_mod.Settings, out: outbound.Outbound,
             channel: str) -> list[settings_mod.DigestSchedule]:
    configured = scheduler.schedules_for(settings.digest, out.digest_destinations)
    if not channel:
        return configured
    platform, _, name = channel.rpartition(":")
    chosen = [s for s in configured if s.channel == name and platform in ("", s.platform)]
    if chosen:
        return chosen
    if platform in ("slack", "feishu", "console"):
        if out.poster(platform) is None:
            raise errors.OpsbotError(f"--channel {channel}: {platform} has no credentials set")
        return [settings_mod.DigestSchedule.model_validate(
            {"platform": platform, "channel": name, "timezone": settings.digest.timezone})]
    raise errors.OpsbotError(f"--channel {channel}: no digest channel of that name is "
                             "configured; name it as slack:ID, feishu:ID or console:NAME")


async def _claim(rt: runtime.Runtime, schedule: settings_mod.DigestSchedule,
                 ttl_s: int) -> str:
    """The day's key when this run took it, "" when another run already had it."""
    assert rt.redis is not None
    day = datetime.now(UTC).astimezone(ZoneInfo(schedule.timezone)).date()
    key = scheduler.claim_key(schedule, day)
    return key if await rt.redis.set(key, "opsbot digest", nx=True, ex=ttl_s) else ""


async def _post(args: argparse.Namespace, settings: settings_mod.Settings,
                rt: runtime.Runtime, out: outbound.Outbound,
                chosen: list[settings_mod.DigestSchedule]) -> tuple[dict[str, Any],
                                                                   list[dict[str, str]]]:
    assert rt.digest is not None, "runtime not started"
    built: dict[tuple[str, str], digest.Digest] = {}
    posted: list[dict[str, str]] = []
    ttl_s = int(settings.digest.grace_hours * 3600 + 2 * 86400)
    for schedule in chosen:
        row = {"platform": schedule.platform, "channel": schedule.channel}
        claimed = await _claim(rt, schedule, ttl_s) if args.once else ""
        if args.once and not claimed:
            posted.append({**row, "status": "skipped", "reason": "already posted today"})
            continue
        namespace = args.namespace or schedule.namespace
        key = (namespace, schedule.timezone)
        if key not in built:
            built[key] = await digest.collect_digest(rt.digest, namespace=namespace,
                                                     timezone=schedule.timezone)
        poster = out.poster(schedule.platform)
        try:
            if poster is None:
                raise errors.OpsbotError(f"{schedule.platform} has no credentials set")
            ref = await poster.open_thread(schedule.channel, built[key].reply)
        except Exception as exc:  # report every channel, whichever failed
            log.exception("posting the digest to %s failed", schedule.label)
            if claimed and rt.redis is not None:
                await rt.redis.delete(claimed)  # let the next run try again
            posted.append({**row, "status": "failed", "error": str(exc)})
            continue
        posted.append({**row, "status": "posted", "ref": ref})
    if not built:
        built[("", "")] = await digest.collect_digest(
            rt.digest, namespace=args.namespace,
            timezone=chosen[0].timezone if chosen else settings.digest.timezone)
    return next(iter(built.values())).to_json(), posted


async def _run(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    # In JSON mode stdout carries one document, so console posts go to stderr.
    console = outbound.PrintPoster(lambda text: print(
        text, file=sys.stderr if args.json else sys.stdout, flush=True))
    async with runtime.Runtime(settings, scenario=args.scenario) as rt:
        build_posters(settings, rt.outbound, console=console)
        chosen = _targets(settings, rt.outbound, args.channel)
        document, posted = await _post(args, settings, rt, rt.outbound, chosen)
    document["posted"] = posted
    if args.json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        if not any(p["platform"] == "console" for p in posted):
            print(render_text.render_reply(chat.ChatReply.model_validate(document["reply"])))
        for row in posted:
            detail = row.get("ref") or row.get("reason") or row.get("error", "")
            print(f"{row['status']}: {row['platform']}:{row['channel']} {detail}".rstrip(),
                  file=sys.stderr)
    return 1 if any(p["status"] == "failed" for p in posted) else 0


def run_digest(args: argparse.Namespace, settings: settings_mod.Settings) -> Any:
    return _run(args, settings)
