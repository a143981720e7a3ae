"""Digest scheduling with a controlled clock: fire times across time zones and DST, one
post per channel and day with two schedulers sharing Redis, late posts after a missed
run, and nothing after the grace period."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError
from redis import asyncio as aioredis

from bot import outbound, scheduler
from bot import settings as settings_mod
from graph import chat

BERLIN, SHANGHAI = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Shanghai")


def schedule(**fields: Any) -> settings_mod.DigestSchedule:
    return settings_mod.DigestSchedule.model_validate(
        {"platform": "console", "channel": "ops", **fields})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# -- fire times ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "after", "expected_utc"), [
    # Berlin, spring forward on Sun 30 Mar 2025: 09:00 is 08:00 UTC before, 07:00 after.
    ({"timezone": "Europe/Berlin"}, utc(2025, 3, 27, 7, 59), utc(2025, 3, 27, 8, 0)),
    ({"timezone": "Europe/Berlin"}, utc(2025, 3, 28, 8, 30), utc(2025, 3, 31, 7, 0)),
    ({"timezone": "Europe/Berlin", "days": "daily"}, utc(2025, 3, 29, 9, 0),
     utc(2025, 3, 30, 7, 0)),
    # Berlin, fall back on Sun 26 Oct 2025: 09:00 is 07:00 UTC before, 08:00 after.
    ({"timezone": "Europe/Berlin"}, utc(2025, 10, 24, 6, 0), utc(2025, 10, 24, 7, 0)),
    ({"timezone": "Europe/Berlin", "days": "daily"}, utc(2025, 10, 25, 8, 0),
     utc(2025, 10, 26, 8, 0)),
    ({"timezone": "Europe/Berlin"}, utc(2025, 10, 24, 7, 1), utc(2025, 10, 27, 8, 0)),
    # Shanghai has no DST: always 01:00 UTC; Friday after the time -> Monday.
    ({"timezone": "Asia/Shanghai"}, utc(2025, 3, 28, 2, 0), utc(2025, 3, 31, 1, 0)),
    ({"timezone": "Asia/Shanghai", "time": "18:30", "days": "sat,sun"},
     utc(2025, 10, 24, 0, 0), utc(2025, 10, 25, 10, 30)),
    ({"timezone": "UTC", "days": "weekends"}, utc(2025, 3, 28, 12, 0), utc(2025, 3, 29, 9, 0)),
])
def test_next_fire_time(fields: dict[str, str], after: datetime,
                        expected_utc: datetime) -> None:
    s = schedule(**fields)
    fire = scheduler.next_fire_time(s, after)
    assert fire.astimezone(UTC) == expected_utc
    local = fire.astimezone(ZoneInfo(s.timezone))
    assert f"{local:%H:%M}" == s.time


def test_last_fire_time_looks_back_only_within_the_window() -> None:
    s = schedule(timezone="Asia/Shanghai")
    monday_nine = utc(2025, 3, 31, 1, 0)
    assert scheduler.last_fire_time(s, monday_nine, timedelta(hours=6)) == monday_nine
    later = monday_nine + timedelta(hours=5, minutes=59)
    assert scheduler.last_fire_time(s, later, timedelta(hours=6)) == monday_nine
    assert scheduler.last_fire_time(s, monday_nine + timedelta(hours=6, seconds=1),
                                    timedelta(hours=6)) is None
    # Sunday: no weekday run in the window at all.
    assert scheduler.last_fire_time(s, utc(2025, 3, 30, 3, 0), timedelta(hours=6)) is None


@pytest.mark.parametrize(("days", "normal"), [
    ("mon-fri", "mon-fri"), ("weekdays", "mon-fri"), ("Monday-Friday", "mon-fri"),
    ("daily", "mon-sun"), ("mon,wed,fri", "mon,wed,fri"), ("weekends", "sat,sun")])
def test_days_are_normalised(days: str, normal: str) -> None:
    assert schedule(days=days).days == normal


def test_bad_schedules_fail_at_start_up_naming_the_field(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [({"timezone": "Asia/Shangai"}, "digest.schedules.0.timezone"),
             ({"days": "1-5"}, "digest.schedules.0.days"),  # cron and APScheduler disagree
             ({"time": "9am"}, "digest.schedules.0.time"),
             ({"platform": "teams"}, "digest.schedules.0.platform")]
    for fields, where in cases:
        entry = {"platform": "slack", "channel": "C1", **fields}
        monkeypatch.setenv("DIGEST_SCHEDULES", f"[{__import__('json').dumps(entry)}]")
        with pytest.raises(ValidationError) as caught:
            settings_mod.load_settings(_env_file=None)
        assert where in str(caught.value)
    monkeypatch.setenv("DIGEST_SCHEDULES", '[{"platform": "slack", "channel": "C1", '
                       '"time": "9:30", "timezone": "Europe/Berlin"}]')
    monkeypatch.setenv("DIGEST_GRACE_HOURS", "2")
    loaded = settings_mod.load_settings(_env_file=None).digest
    assert loaded.schedules[0].time == "09:30" and loaded.grace_hours == 2.0


# -- posting -------------------------------------------------------------------------------

class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Builds a stand-in digest and posts it through a real PrintPoster."""

    def __init__(self, clock: Clock) -> None:
        self.printed: list[str] = []
        self.built = 0
        self.out = outbound.Outbound()
        self.out.register("console", outbound.PrintPoster(self.printed.append))
        self.publish = scheduler.DigestPublisher(self.build, self.out, clock=clock)

    async def build(self, s: settings_mod.DigestSchedule) -> chat.ChatReply:
        self.built += 1
        return chat.ChatReply(kind="card", title="Health digest · test", text="🟢 Green",
                              footnote="Last 24 h")


def run(redis_url: str, body: Callable[[aioredis.Redis, str], Awaitable[None]]) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await body(client, f"opsbot:test:{uuid.uuid4().hex}:")
        finally:
            await client.aclose()
    asyncio.run(main())


def test_two_schedulers_sharing_redis_post_once_per_day(redis_url: str) -> None:
    s = schedule(timezone="Asia/Shanghai")
    clock = Clock(utc(2025, 3, 31, 1, 0, 0, 200_000))  # Monday 09:00:00.2 in Shanghai

    async def body(redis: aioredis.Redis, prefix: str) -> None:
        replicas = [Recorder(clock), Recorder(clock)]
        schedulers = [scheduler.DigestScheduler([s], r.publish, redis, grace_s=6 * 3600,
                                                clock=clock, key_prefix=prefix,
                                                holder=f"replica-{i}")
                      for i, r in enumerate(replicas)]
        first = await asyncio.gather(*(x.run_schedule(0) for x in schedulers))
        assert sorted(o.status for o in first if o) == ["posted", "skipped"]
        posted = next(o for o in first if o and o.status == "posted")
        assert not posted.late and posted.at == utc(2025, 3, 31, 1, 0)
        # The periodic re-check an hour later, and a restart's catch-up: nothing more.
        clock.now += timedelta(hours=1)
        again = [o for x in schedulers for o in await x.run_due()]
        assert [o.status for o in again] == ["skipped", "skipped"]
        assert sum(r.built for r in replicas) == 1
        assert sum(len(r.printed) for r in replicas) == 1
        # Tuesday is a new day: exactly one post again.
        clock.now = utc(2025, 4, 1, 1, 0, 1)
        second = await asyncio.gather(*(x.run_schedule(0) for x in schedulers))
        assert sorted(o.status for o in second if o) == ["posted", "skipped"]
        assert sum(len(r.printed) for r in replicas) == 2
    run(redis_url, body)


def test_missed_run_is_posted_late_once_within_the_grace_period(redis_url: str) -> None:
    s = schedule(timezone="Europe/Berlin")
    clock = Clock(utc(2025, 10, 27, 10, 30))  # Monday 11:30 CET; due 09:00 (08:00 UTC)

    async def body(redis: aioredis.Redis, prefix: str) -> None:
        replica = Recorder(clock)
        sched = scheduler.DigestScheduler([s], replica.publish, redis, grace_s=6 * 3600,
                                          clock=clock, key_prefix=prefix)
        (outcome,) = await sched.run_due()  # what start() runs first
        assert outcome.status == "posted" and outcome.late
        assert outcome.at == utc(2025, 10, 27, 8, 0)
        (text,) = replica.printed
        assert "Health digest · test (late)" in text
        assert "Posted late at 11:30: this digest was due at 09:00 Europe/Berlin on Mon 27 " \
               "Oct" in text
        clock.now += timedelta(hours=2)
        assert [o.status for o in await sched.run_due()] == ["skipped"]
        assert len(replica.printed) == 1
    run(redis_url, body)


def test_nothing_is_posted_after_the_grace_period(redis_url: str) -> None:
    s = schedule(timezone="Asia/Shanghai")

    async def body(redis: aioredis.Redis, prefix: str) -> None:
        clock = Clock(utc(2025, 3, 31, 7, 0, 1))  # 15:00:01 in Shanghai, due 09:00
        replica = Recorder(clock)
        sched = scheduler.DigestScheduler([s], replica.publish, redis, grace_s=6 * 3600,
                                          clock=clock, key_prefix=prefix)
        assert await sched.run_due() == []
        clock.now = utc(2025, 3, 31, 12, 0)
        assert await sched.run_due() == []
        assert replica.printed == [] and replica.built == 0
        # Within the grace period of a shorter setting, the same miss is still posted.
        short = scheduler.DigestScheduler([s], replica.publish, redis, grace_s=3600,
                                          clock=Clock(utc(2025, 3, 31, 1, 59)),
                                          key_prefix=prefix)
        assert [o.status for o in await short.run_due()] == ["posted"]
    run(redis_url, body)


def test_a_local_time_that_happens_twice_posts_once(redis_url: str) -> None:
    # 02:30 happens twice in Berlin on 26 Oct 2025 and APScheduler fires at both.
    s = schedule(timezone="Europe/Berlin", time="02:30", days="daily")
    clock = Clock(utc(2025, 10, 26, 0, 30, 1))

    async def body(redis: aioredis.Redis, prefix: str) -> None:
        replica = Recorder(clock)
        sched = scheduler.DigestScheduler([s], replica.publish, redis, grace_s=0,
                                          clock=clock, key_prefix=prefix)
        assert [o.status for o in await sched.run_due()] == ["posted"]
        clock.now = utc(2025, 10, 26, 1, 30, 1)
        (second,) = await sched.run_due()
        assert second.at == utc(2025, 10, 26, 1, 30) and second.status == "skipped"
        assert len(replica.printed) == 1
    run(redis_url, body)


def test_a_failed_post_gives_the_day_back(redis_url: str) -> None:
    s = schedule()
    clock = Clock(utc(2025, 3, 31, 9, 0, 1))
    attempts: list[scheduler.Due] = []

    async def flaky(due: scheduler.Due) -> str:
        attempts.append(due)
        if len(attempts) == 1:
            raise OSError("chat platform unreachable")
        return "thread-1"

    async def body(redis: aioredis.Redis, prefix: str) -> None:
        sched = scheduler.DigestScheduler([s], flaky, redis, grace_s=3600, clock=clock,
                                          key_prefix=prefix)
        (failed,) = await sched.run_due()
        assert failed.status == "failed" and "unreachable" in failed.error
        clock.now += timedelta(minutes=15)  # the periodic re-check
        (posted,) = await sched.run_due()
        assert posted.status == "posted" and posted.late and posted.ref == "thread-1"
    run(redis_url, body)


def test_start_registers_one_cron_job_per_channel_and_a_catch_up(redis_url: str) -> None:
    schedules = [schedule(timezone="Europe/Berlin"),
                 schedule(channel="cn", timezone="Asia/Shanghai", days="daily")]

    async def body(redis: aioredis.Redis, prefix: str) -> None:
        async def never(due: scheduler.Due) -> str:
            raise AssertionError("nothing is due in this test")

        apscheduler = AsyncIOScheduler(timezone=UTC)
        sched = scheduler.DigestScheduler(schedules, never, redis, grace_s=3600,
                                          key_prefix=prefix)
        sched.start(apscheduler)
        try:
            jobs = {job.id: job for job in apscheduler.get_jobs()}
            assert set(jobs) == {"digest-0", "digest-1", "digest-recheck", "digest-catch-up"}
            now = datetime.now(UTC)
            for index, s in enumerate(schedules):
                job = jobs[f"digest-{index}"]
                assert job.next_run_time == scheduler.next_fire_time(s, now)
                assert job.misfire_grace_time == 3600 and job.coalesce
        finally:
            await sched.stop()
        assert not apscheduler.running
    run(redis_url, body)


def test_serve_wiring_checks_platforms(redis_url: str) -> None:
    class Handler:
        def __init__(self) -> None:
            self.digest = object()
            self.redis = object()

    settings = settings_mod.Settings(_env_file=None, digest={
        "schedules": [{"platform": "slack", "channel": "C1"}]})
    with pytest.raises(scheduler.ScheduleError, match=r"digest\.schedules\.0\.platform: slack"):
        scheduler.from_handler(settings, Handler(), outbound.Outbound())
    off = settings.model_copy(update={"digest": settings.digest.model_copy(
        update={"scheduler": False})})
    assert scheduler.from_handler(off, Handler(), outbound.Outbound()) is None
    console = settings_mod.Settings(_env_file=None, digest={
        "schedules": [{"platform": "console", "channel": "ops"}]})
    out = outbound.Outbound()
    built = scheduler.from_handler(console, Handler(), out)
    assert built is not None and out.poster("console") is not None
    # A digest channel named only by SLACK_DIGEST_CHANNEL gets the default schedule.
    out.register("slack", outbound.PrintPoster(print), digest_channel="C9")
    (default,) = [s for s in scheduler.schedules_for(console.digest, out.digest_destinations)
                  if s.platform == "slack"]
    assert (default.channel, default.time, default.timezone, default.days) == (
        "C9", "09:00", "UTC", "mon-fri")


def test_opsbot_serve_runs_the_scheduler_in_its_lifespan(
        run_server: Callable[..., Any], redis_url: str) -> None:
    from fakes.harness import make_settings
    from fakes.scripted import ScriptedHandler

    from graph import digest

    class Runtime(ScriptedHandler):
        """What `opsbot serve` reads from the runtime: digest deps, Redis, posters."""

        def __init__(self) -> None:
            super().__init__()
            self.digest = digest.DigestDeps(tools=object())  # type: ignore[arg-type]
            self.redis = aioredis.Redis.from_url(redis_url)
            self.outbound = outbound.Outbound()

    # Twelve hours away, so the catch-up at start finds nothing due.
    later = datetime.now(UTC) + timedelta(hours=12)
    settings = make_settings(digest={"schedules": [
        {"platform": "console", "channel": "ops", "time": f"{later:%H:%M}", "days": "daily"}]})
    server = run_server(settings, Runtime())
    digests = server.app.state.digests
    assert isinstance(digests, scheduler.DigestScheduler)
    running = digests._scheduler
    assert running is not None and running.running
    assert {job.id for job in running.get_jobs()} >= {"digest-0", "digest-recheck"}
    server.stop()
    assert digests._scheduler is None and not running.running
