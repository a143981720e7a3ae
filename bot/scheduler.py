"""Scheduled digests: per channel a local time, an IANA time zone and weekdays.

APScheduler's AsyncIOScheduler (3.x) only wakes the process; whether to post is decided
here from an injected clock, so every rule is testable without waiting:

- at most one post per channel per local date, whatever the replicas: the first one to
  `SET NX` the day's key in Redis posts, the others skip;
- a run missed while no replica was up (or whose post failed) is posted late, once,
  marked as late, if a replica comes back within the grace period; after it, never;
- the day's key is released when posting fails, so a later check may try again.

The CronTrigger gets day names and the schedule's zone (DESIGN.md section 7: its
`from_crontab` counts day-of-week 0 as Monday), so DST switches move the UTC fire time
and not the local one. When a local time happens twice (autumn), the day's key makes
the second firing a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from redis import asyncio as aioredis

from bot import outbound
from bot import settings as settings_mod
from graph import chat
from graph import digest as digest_mod
from tools import errors

__all__ = [
    "CLAIM_PREFIX",
    "DigestPublisher",
    "DigestScheduler",
    "Due",
    "Outcome",
    "ScheduleError",
    "claim_key",
    "from_handler",
    "last_fire_time",
    "mark_late",
    "next_fire_time",
    "schedules_for",
    "trigger_for",
]

log = logging.getLogger(__name__)

CLAIM_PREFIX = "opsbot:digest:posted:"
# A post this long after its time counts as late (APScheduler itself wakes within ms).
ON_TIME_S = 300.0
RECHECK_S = 900.0
_CLAIM_EXTRA_S = 2 * 86400  # the key outlives the grace period, so nothing posts twice


class ScheduleError(errors.OpsbotError):
    """A digest schedule cannot run with these settings (e.g. its platform is off)."""


@dataclass(frozen=True)
class Due:
    """A digest that should be posted now: its schedule, the time it was due (in the
    schedule's zone) and whether it is late."""

    schedule: settings_mod.DigestSchedule
    at: datetime
    late: bool


@dataclass(frozen=True)
class Outcome:
    schedule: settings_mod.DigestSchedule
    at: datetime
    status: Literal["posted", "skipped", "failed"]
    late: bool = False
    ref: str = ""
    error: str = ""


Publish = Callable[[Due], Awaitable[str]]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- time --------------------------------------------------------------------------------

def trigger_for(schedule: settings_mod.DigestSchedule) -> CronTrigger:
    return CronTrigger(day_of_week=schedule.days, hour=schedule.hour, minute=schedule.minute,
                       timezone=ZoneInfo(schedule.timezone))


def next_fire_time(schedule: settings_mod.DigestSchedule, after: datetime) -> datetime:
    """The first scheduled time at or after `after` (aware), in the schedule's zone."""
    fire = trigger_for(schedule).get_next_fire_time(None, after)
    if fire is None:  # a cron trigger without an end date always has a next time
        raise ScheduleError(f"digest schedule {schedule.label} never fires")
    return fire


def last_fire_time(schedule: settings_mod.DigestSchedule, now: datetime,
                   within: timedelta) -> datetime | None:
    """The latest scheduled time in [now - within, now] (in UTC), or None."""
    trigger = trigger_for(schedule)
    # Compared in UTC: Python never finds an ambiguous local time (fold=1) equal to an
    # instant in another zone.
    fire = _in_utc(trigger.get_next_fire_time(None, now - within))
    last = None
    while fire is not None and fire <= now:
        last = fire
        following = _in_utc(trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1)))
        # After the second of two equal local times (autumn), APScheduler answers with
        # the same instant again: stop rather than loop.
        if following is None or following <= fire:
            break
        fire = following
    return last


def _in_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def claim_key(schedule: settings_mod.DigestSchedule, day: date,
              prefix: str = CLAIM_PREFIX) -> str:
    """The Redis key that lets one post through per channel and local date."""
    return f"{prefix}{schedule.platform}:{schedule.channel}:{day.isoformat()}"


def schedules_for(settings: settings_mod.DigestSettings,
                  destinations: Sequence[outbound.Destination]) -> list[
                      settings_mod.DigestSchedule]:
    """The configured schedules, plus the default one for each digest channel that
    SLACK_DIGEST_CHANNEL / FEISHU_DIGEST_CHAT_ID name and no schedule lists."""
    schedules = list(settings.schedules)
    listed: set[tuple[str, str]] = {(s.platform, s.channel) for s in schedules}
    for where in destinations:
        if (where.platform, where.channel) not in listed:
            schedules.append(settings_mod.DigestSchedule.model_validate(
                {"platform": where.platform, "channel": where.channel}))
            listed.add((where.platform, where.channel))
    return schedules


def mark_late(reply: chat.ChatReply, due: Due, now: datetime) -> chat.ChatReply:
    tz = ZoneInfo(due.schedule.timezone)
    when, posted = due.at.astimezone(tz), now.astimezone(tz)
    note = (f"Posted late at {posted:%H:%M}: this digest was due at {when:%H:%M} "
            f"{due.schedule.timezone} on {when:%a %d %b}, when opsbot was not running.")
    return reply.model_copy(update={
        "title": f"{reply.title} (late)" if reply.title else "Health digest (late)",
        "footnote": f"{note} {reply.footnote}".strip()})


# -- posting -------------------------------------------------------------------------------

class DigestPublisher:
    """Build the digest for a schedule and open a thread with it in its channel."""

    def __init__(self, build: Callable[[settings_mod.DigestSchedule], Awaitable[chat.ChatReply]],
                 out: outbound.Outbound, *, clock: Clock = _utcnow) -> None:
        self._build = build
        self._out = out
        self._clock = clock

    async def __call__(self, due: Due) -> str:
        poster = self._out.poster(due.schedule.platform)
        if poster is None:
            raise ScheduleError(f"{due.schedule.platform} is not enabled, so the digest for "
                                f"{due.schedule.channel} cannot be posted")
        reply = await self._build(due.schedule)
        if due.late:
            reply = mark_late(reply, due, self._clock())
        return await poster.open_thread(due.schedule.channel, reply)


class DigestScheduler:
    def __init__(self, schedules: Sequence[settings_mod.DigestSchedule], publish: Publish,
                 redis: aioredis.Redis, *, grace_s: float, clock: Clock = _utcnow,
                 holder: str = "", key_prefix: str = CLAIM_PREFIX,
                 recheck_s: float = RECHECK_S) -> None:
        self.schedules = list(schedules)
        self._publish = publish
        self._redis = redis
        self._grace = timedelta(seconds=max(grace_s, 0.0))
        self._clock = clock
        self._holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self._prefix = key_prefix
        self._recheck_s = recheck_s
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def _window(self) -> timedelta:
        # Even with no grace, the run APScheduler starts on time must find its slot.
        return max(self._grace, timedelta(seconds=ON_TIME_S))

    async def run_schedule(self, index: int) -> Outcome | None:
        """Post schedule `index`'s digest if it is due and nobody posted it yet."""
        schedule = self.schedules[index]
        now = self._clock()
        at = last_fire_time(schedule, now, self._window)
        if at is None:
            return None
        key = claim_key(schedule, at.astimezone(ZoneInfo(schedule.timezone)).date(),
                        self._prefix)
        ttl = int(self._window.total_seconds() + _CLAIM_EXTRA_S)
        try:
            claimed = await self._redis.set(key, self._holder, nx=True, ex=ttl)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("digest for %s not claimed, Redis did not answer: %s",
                        schedule.label, exc)
            return Outcome(schedule, at, "failed", error=f"redis: {exc}")
        if not claimed:
            return Outcome(schedule, at, "skipped")
        late = (now - at).total_seconds() > ON_TIME_S
        try:
            ref = await self._publish(Due(schedule, at, late))
        except (Exception, asyncio.CancelledError) as exc:
            # Give the day back so the next check (or another replica) can try again.
            await self._release(key)
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("posting the digest to %s failed", schedule.label)
            return Outcome(schedule, at, "failed", late, error=str(exc))
        record = json.dumps({"holder": self._holder, "ref": ref, "late": late,
                             "posted_at": now.isoformat()})
        # The claim stands either way; the record is for people reading Redis only.
        with contextlib.suppress(aioredis.RedisError, OSError):
            await self._redis.set(key, record, xx=True, keepttl=True)
        log.info("digest posted to %s%s", schedule.label, " (late)" if late else "")
        return Outcome(schedule, at, "posted", late, ref)

    async def _release(self, key: str) -> None:
        try:
            await self._redis.delete(key)
        except (aioredis.RedisError, OSError) as exc:
            log.warning("could not release %s: %s", key, exc)

    async def run_due(self) -> list[Outcome]:
        """Check every schedule: the catch-up at start and the periodic re-check."""
        outcomes = []
        for index in range(len(self.schedules)):
            outcome = await self.run_schedule(index)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def start(self, scheduler: AsyncIOScheduler | None = None) -> None:
        """Add the jobs and start APScheduler; call with the event loop running."""
        self._scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        grace = max(int(self._window.total_seconds()), 1)
        for index, schedule in enumerate(self.schedules):
            self._scheduler.add_job(self.run_schedule, trigger_for(schedule), args=[index],
                                    id=f"digest-{index}", name=schedule.label,
                                    misfire_grace_time=grace, coalesce=True, max_instances=1)
        if self.schedules:
            self._scheduler.add_job(self.run_due, IntervalTrigger(seconds=self._recheck_s),
                                    id="digest-recheck", coalesce=True, max_instances=1)
            # A missed run is caught up as soon as the process is up.
            self._scheduler.add_job(self.run_due, id="digest-catch-up", max_instances=1)
        self._scheduler.start()
        for schedule in self.schedules:
            log.info("digest for %s: next at %s", schedule.label,
                     next_fire_time(schedule, self._clock()).isoformat())

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            # AsyncIOScheduler.shutdown only queues itself on the loop: let it run.
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)
        self._scheduler = None


# -- wiring --------------------------------------------------------------------------------

def _print(text: str) -> None:
    print(text, flush=True)


def from_handler(settings: settings_mod.Settings, handler: Any,
                 out: outbound.Outbound | None) -> DigestScheduler | None:
    """The scheduler for `opsbot serve`, or None when there is nothing to schedule.

    The handler is the runtime: its `digest` deps build the card and its `redis` holds
    the day's keys. Raises `ScheduleError` naming the schedule whose platform is off."""
    deps: digest_mod.DigestDeps | None = getattr(handler, "digest", None)
    redis: aioredis.Redis | None = getattr(handler, "redis", None)
    if out is None or deps is None or redis is None or not settings.digest.scheduler:
        return None
    schedules = schedules_for(settings.digest, out.digest_destinations)
    for index, schedule in enumerate(schedules):
        if schedule.platform == "console" and out.poster("console") is None:
            out.register("console", outbound.PrintPoster(_print))
        if out.poster(schedule.platform) is None:
            raise ScheduleError(f"digest.schedules.{index}.platform: {schedule.platform} is "
                                "not enabled in opsbot serve (set its credentials or "
                                "serve.platforms)")
    if not schedules:
        return None

    async def build(schedule: settings_mod.DigestSchedule) -> chat.ChatReply:
        return await digest_mod.build_digest(deps, namespace=schedule.namespace,
                                             timezone=schedule.timezone)

    return DigestScheduler(schedules, DigestPublisher(build, out), redis,
                           grace_s=settings.digest.grace_hours * 3600)
