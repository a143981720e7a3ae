"""Front-end load: how fast `opsbot serve` acknowledges Slack requests with many in
flight, and how soon the thread replies reach Slack.

    python bench/serve_load.py [--concurrency 50,200] [--requests 500] [--real]

Three processes, so that the load generator does not share an interpreter (and its GIL)
with what it measures:

- `opsbot serve`'s ASGI app (`bot.serve.build_app`) under uvicorn on a free loopback
  port, with event dedupe keys in an embedded Redis 8 (or ``--redis-url``);
- the fake Slack Web API of the test suite (tests/bot/fakes), answering every call after
  ``--api-latency-ms`` as the real one does over the internet, and recording when each
  call arrived;
- this one, sending correctly signed slash commands, ``block_actions`` clicks on
  approval cards and ``app_mention`` events, ``--concurrency`` at a time.

The handler is scripted by default (fixed answers, optionally after ``--work-ms``), so
the figures measure the front end: signature check, parsing and the ack, then the turn
(event dedupe in Redis, the handler, rendering) and its Web API calls. ``--real`` runs
the whole runtime (`bot.runtime.Runtime`) on the sandbox instead, which also shows
whether the graph holds up the event loop that acks. The server freezes its start-up
heap as `opsbot serve` does (``--no-gc-freeze`` to compare); ``--profile FILE`` writes a
cProfile of the server process. The default mix is commands and clicks, one to one;
``--mix command=4,click=4,mention=2`` adds app mentions.

Ack latency is from sending a request to its full HTTP answer. The reply figure is from
sending the request to the last Web API call of its thread that the fake received
(``chat.postMessage`` in the thread, ``chat.update`` of the clicked card). Server-side
errors and refused requests are read from the server's /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import itertools
import json
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import os
import pathlib
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import numpy as np
import uvicorn
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# The fakes are the test suite's (`from fakes.server import ...` inside them); spawned
# children import this module afresh, so the paths are set at import time.
for _path in (REPO_ROOT, REPO_ROOT / "tests" / "bot"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fakes.scripted import ScriptedHandler  # noqa: E402
from fakes.signing import slack_headers  # noqa: E402
from fakes.slack_api import BOT_USER, TEAM, FakeSlackApi  # noqa: E402

from bot import settings as settings_mod  # noqa: E402
from graph import chat  # noqa: E402

__all__ = ["Job", "LevelReport", "main", "run_level"]

SECRET = "bench-signing-secret-0123456789abcdef"
KINDS = ("command", "click", "mention")
_CHANNELS = 10
_BATCHES = itertools.count(1)
_REAL_COMMANDS = ("/rca worker", "/opsbot help", "/ask how do I restart a deployment")


# -- the fake Slack Web API (its own process) -----------------------------------------------
class BenchSlackApi(FakeSlackApi):
    """The test suite's fake with a network delay and a read-out of what arrived."""

    def __init__(self, latency_s: float) -> None:
        super().__init__()
        self.latency_s = latency_s

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/bench/calls", self._dump)

    async def _api(self, request: web.Request) -> web.Response:
        # Recorded on arrival, answered after the delay: the reply figure is when Slack
        # had the message, while the caller still pays the round trip.
        response = await super()._api(request)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return response

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = super()._answer(method, body)
        if method == "chat.postMessage":
            # `body` is the recorded call's: keeping the ts we handed out lets the
            # read-out tie later replies (thread_ts) to the message that opened a thread.
            body["answered_ts"] = answer["ts"]
        return answer

    async def _dump(self, request: web.Request) -> web.Response:
        calls = [{"api": c.api, "at": c.at, "channel": c.body.get("channel", ""),
                  "thread_ts": c.body.get("thread_ts", ""), "ts": c.body.get("ts", ""),
                  "answered_ts": c.body.get("answered_ts", ""),
                  "text": str(c.body.get("text", ""))[:200]}
                 for c in list(self.calls)]
        return web.json_response(calls)


def _fake_process(latency_s: float, ports: Any, stop: multiprocessing.synchronize.Event) -> None:
    fake = BenchSlackApi(latency_s)
    fake.start()
    ports.put(fake.port)
    stop.wait()
    fake.stop()


# -- opsbot serve (its own process) ---------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ServerOptions:
    api_url: str
    redis_url: str
    real: bool
    work_s: float
    state_dir: str
    freeze_heap: bool = True
    profile: str = ""


class BenchHandler:
    """The test suite's scripted handler, optionally taking ``work_s`` per turn."""

    def __init__(self, work_s: float) -> None:
        self._scripted = ScriptedHandler()
        self._work_s = work_s

    async def handle(self, request: chat.ChatRequest) -> Any:
        if self._work_s:
            await asyncio.sleep(self._work_s)
        return await self._scripted.handle(request)

    async def handle_alert(self, payload: Any) -> None:
        await self._scripted.handle_alert(payload)

    async def readiness(self) -> dict[str, str]:
        return await self._scripted.readiness()


def _settings(options: ServerOptions) -> settings_mod.Settings:
    return settings_mod.Settings(
        _env_file=None, OPSBOT_STATE_DIR=options.state_dir, OPSBOT_LOG_LEVEL="WARNING",
        redis=settings_mod.RedisSettings(url=options.redis_url),
        slack=settings_mod.SlackSettings(bot_token="xoxb-bench", signing_secret=SECRET,
                                         api_base_url=options.api_url),
        serve=settings_mod.ServeSettings(host="127.0.0.1", port=0, shutdown_grace_s=5.0))


class _StoppableServer(uvicorn.Server):
    """uvicorn stopped by an Event from the parent rather than a signal: after a
    graceful shutdown uvicorn raises the signal it caught again, which would end this
    process before the runtime has stopped what it started and the profile is written."""

    def __init__(self, config: uvicorn.Config, stop: multiprocessing.synchronize.Event) -> None:
        super().__init__(config)
        self._stop = stop

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        async def watch() -> None:
            while not await asyncio.to_thread(self._stop.wait, 0.5):
                pass
            self.should_exit = True

        watcher = asyncio.ensure_future(watch())
        try:
            await super().serve(sockets)
        finally:
            watcher.cancel()


async def _serve(options: ServerOptions, ports: Any,
                 stop: multiprocessing.synchronize.Event) -> None:
    # Imported here: the graph and its dependencies are only needed in this process.
    from bot import runtime, serve

    settings = _settings(options)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    async with contextlib.AsyncExitStack() as stack:
        handler: Any
        if options.real:
            rt = await stack.enter_async_context(runtime.Runtime(settings))
            handler, redis_url = rt, rt.redis_url
        else:
            handler, redis_url = BenchHandler(options.work_s), options.redis_url
        app = serve.build_app(settings, handler, redis_url=redis_url)
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                                timeout_graceful_shutdown=10)
        if options.freeze_heap:
            serve.freeze_startup_heap()  # as `opsbot serve` does before it listens
        ports.put(listener.getsockname()[1])
        await _StoppableServer(config, stop).serve([listener])


def _server_process(options: ServerOptions, ports: Any,
                    stop: multiprocessing.synchronize.Event) -> None:
    logging.basicConfig(level=logging.WARNING,
                        format="server %(levelname)s %(name)s: %(message)s")
    profiler = cProfile.Profile() if options.profile else None
    try:
        if profiler is not None:
            profiler.enable()
        asyncio.run(_serve(options, ports, stop))
    except Exception as exc:  # the child's outermost edge: tell the parent, then fail
        logging.getLogger("bench").exception("server failed")
        ports.put(f"error: {exc}")
        raise
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(options.profile)


# -- requests as Slack sends them -----------------------------------------------------------
@dataclasses.dataclass
class Job:
    """One request and what became of it."""

    index: int
    kind: str
    body: bytes
    content_type: str
    user: str
    channel: str
    thread_key: str = ""  # known up front for clicks and mentions, found for commands
    sent_at: float = 0.0
    ack_s: float = 0.0
    status: int = 0
    error: str = ""


def _command(index: int, run: str, real: bool) -> Job:
    user, channel = f"U{run}{index:06d}", f"C{index % _CHANNELS:04d}"
    text = (_REAL_COMMANDS[index % len(_REAL_COMMANDS)] if real else f"/rca svc-{index}")
    name, _, args = text.partition(" ")
    body = urlencode({"token": "x", "team_id": TEAM, "team_domain": "bench",
                      "channel_id": channel, "channel_name": "incidents", "user_id": user,
                      "user_name": "sre", "command": name, "text": args,
                      "api_app_id": "A0001", "trigger_id": f"{index}.1",
                      "response_url": "http://127.0.0.1:9/unused"}).encode()
    return Job(index, "command", body, "application/x-www-form-urlencoded", user, channel)


def _click(index: int, run: str, batch: int) -> Job:
    user, channel = f"U{run}{index:06d}", f"C{index % _CHANNELS:04d}"
    # A ts of its own per batch, and none the fake hands out (those start at 1700000001).
    ts = f"16{batch:03d}00000.{index:06d}"
    plan = f"bench-{run}-{index}"
    block_id = f"opsbot:approval:{plan}"
    payload = {
        "type": "block_actions", "api_app_id": "A0001", "token": "x",
        "trigger_id": f"{index}.2", "user": {"id": user, "username": "sre", "team_id": TEAM},
        "team": {"id": TEAM, "domain": "bench"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                      "is_ephemeral": False},
        "channel": {"id": channel, "name": "incidents"},
        "message": {"type": "message", "ts": ts, "text": "Restart deployment?",
                    "bot_id": "BBOT", "blocks": [{"type": "actions", "block_id": block_id}]},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"type": "button", "action_id": "opsbot:0:approve", "block_id": block_id,
                     "value": plan, "text": {"type": "plain_text", "text": "Approve"},
                     "action_ts": str(time.time())}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return Job(index, "click", body, "application/x-www-form-urlencoded", user, channel,
               thread_key=ts)


def _mention(index: int, run: str, batch: int, real: bool) -> Job:
    user, channel = f"U{run}{index:06d}", f"C{index % _CHANNELS:04d}"
    ts = f"16{batch:03d}50000.{index:06d}"
    question = "list the pods in namespace shop" if real else f"why is svc-{index} failing?"
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {question}",
             "ts": ts, "event_ts": ts, "channel": channel, "channel_type": "channel"}
    # Event ids are remembered in Redis for a day: unique per run, or a rerun is dropped.
    body = json.dumps({"token": "x", "team_id": TEAM, "api_app_id": "A0001",
                       "type": "event_callback", "event_id": f"Ev{run}{index:06d}",
                       "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": TEAM, "user_id": BOT_USER,
                                           "is_bot": True}]}).encode()
    return Job(index, "mention", body, "application/json", user, channel, thread_key=ts)


def _parse_mix(text: str) -> list[str]:
    """``command=4,click=4,mention=2`` -> a repeating pattern of request kinds."""
    pattern: list[str] = []
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise argparse.ArgumentTypeError(f"unknown request kind {kind!r} in --mix")
        pattern += [kind] * int(weight or 1)
    if not pattern:
        raise argparse.ArgumentTypeError("--mix names no requests")
    return pattern


def make_jobs(count: int, pattern: list[str], *, real: bool) -> list[Job]:
    run = uuid.uuid4().hex[:6].upper()
    batch = next(_BATCHES)
    jobs = []
    for index in range(count):
        kind = pattern[index % len(pattern)]
        if kind == "command":
            jobs.append(_command(index, run, real))
        elif kind == "click":
            jobs.append(_click(index, run, batch))
        else:
            jobs.append(_mention(index, run, batch, real))
    return jobs


# -- the load ---------------------------------------------------------------------------------
async def _send_all(url: str, jobs: list[Job], concurrency: int) -> float:
    """Closed loop: ``concurrency`` senders, each sending its next request on an answer."""
    pending: Iterator[Job] = iter(jobs)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def sender() -> None:
            for job in pending:
                headers = slack_headers(SECRET, job.body, content_type=job.content_type)
                job.sent_at = time.monotonic()
                try:
                    async with http.post(url, data=job.body, headers=headers) as response:
                        await response.read()
                        job.status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    job.error = type(exc).__name__
                job.ack_s = time.monotonic() - job.sent_at

        began = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return time.monotonic() - began


async def _fake_calls(http: aiohttp.ClientSession, fake_url: str) -> list[dict[str, Any]]:
    async with http.get(f"{fake_url}/bench/calls") as response:
        calls: list[dict[str, Any]] = await response.json()
        return calls


def _thread_times(jobs: list[Job], calls: list[dict[str, Any]]) -> dict[int, list[float]]:
    """Per job, when the fake received each reply belonging to its thread."""
    by_user = {job.user: job for job in jobs if job.kind == "command"}
    for call in calls:
        # A command's answer thread hangs off the "<@user> asked: ..." message it posts.
        if call["api"] == "chat.postMessage" and not call["thread_ts"]:
            user = call["text"][2:].split(">", 1)[0]
            if user in by_user:
                by_user[user].thread_key = call["answered_ts"]
    owner = {job.thread_key: job.index for job in jobs if job.thread_key}
    times: dict[int, list[float]] = {}
    for call in calls:
        key = call["thread_ts"] if call["api"] == "chat.postMessage" else call["ts"]
        index = owner.get(key)
        if index is None:
            continue
        if call["api"] == "chat.postMessage" and call["answered_ts"]:
            owner.setdefault(call["answered_ts"], index)  # a progress message, updated later
        times.setdefault(index, []).append(call["at"])
    return times


async def _settle(fake_url: str, jobs: list[Job], timeout_s: float,
                  quiet_s: float = 1.0) -> dict[int, list[float]]:
    """Wait until every acknowledged job has a reply and the fake has gone quiet."""
    expected = {job.index for job in jobs if job.status == 200}
    start = min(job.sent_at for job in jobs)
    deadline = time.monotonic() + timeout_s
    last_count, quiet_since = -1, time.monotonic()
    async with aiohttp.ClientSession() as http:
        while True:
            # The fake's clock is this one's: CLOCK_MONOTONIC is system-wide on Linux.
            calls = [c for c in await _fake_calls(http, fake_url) if c["at"] >= start]
            times = _thread_times(jobs, calls)
            now = time.monotonic()
            if len(calls) != last_count:
                last_count, quiet_since = len(calls), now
            if (expected <= times.keys() and now - quiet_since >= quiet_s) or now > deadline:
                return times
            await asyncio.sleep(0.25)


async def _server_metrics(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    figures: dict[str, float] = {"errors": 0.0, "rejected": 0.0, "ack_sum_s": 0.0,
                                 "ack_count": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "opsbot_errors_total":
                figures["errors"] += sample.value
            elif (sample.name == "opsbot_chat_events_total"
                  and labels.get("outcome") == "rejected"):
                figures["rejected"] += sample.value
            elif (sample.name.startswith("opsbot_http_request_duration_seconds")
                  and labels.get("endpoint") == "/slack/events"):
                if sample.name.endswith("_sum"):
                    figures["ack_sum_s"] = sample.value
                elif sample.name.endswith("_count"):
                    figures["ack_count"] = sample.value
    return figures


# -- figures ----------------------------------------------------------------------------------
@dataclasses.dataclass
class LevelReport:
    concurrency: int
    requests: int
    wall_s: float
    throughput_rps: float
    ack_ms: dict[str, float]
    ack_ms_by_kind: dict[str, dict[str, float]]
    server_mean_ack_ms: float
    server_cpu_ms_per_request: float | None
    errors: dict[str, int]
    server_errors: int
    reply_ms: dict[str, float]
    missing_replies: int
    all_replies_s: float
    target_met: bool


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
            "p99": round(float(p99), 1), "max": round(max(values), 1)}


def _cpu_s(pid: int | None) -> float | None:
    """User plus system CPU seconds of a process so far (Linux; None elsewhere)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def run_level(url: str, fake_url: str, jobs: list[Job], concurrency: int, *,
                    settle_s: float, target_ms: float,
                    server_pid: int | None = None) -> LevelReport:
    before = await _server_metrics(url)
    cpu_before = _cpu_s(server_pid)
    wall = await _send_all(f"{url}/slack/events", jobs, concurrency)
    times = await _settle(fake_url, jobs, settle_s)
    cpu_after = _cpu_s(server_pid)
    after = await _server_metrics(url)
    acks = [job.ack_s * 1000 for job in jobs if job.status == 200]
    errors: dict[str, int] = {}
    for job in jobs:
        if job.status != 200:
            reason = job.error or f"HTTP {job.status}"
            errors[reason] = errors.get(reason, 0) + 1
    replies = [(max(times[job.index]) - job.sent_at) * 1000 for job in jobs
               if job.index in times]
    acked = [job for job in jobs if job.status == 200]
    start = min(job.sent_at for job in jobs)
    last_reply = max((max(t) for t in times.values()), default=start)
    served = after["ack_count"] - before["ack_count"]
    p99 = _percentiles(acks).get("p99", float("inf"))
    return LevelReport(
        concurrency=concurrency, requests=len(jobs), wall_s=round(wall, 2),
        throughput_rps=round(len(jobs) / wall, 1), ack_ms=_percentiles(acks),
        ack_ms_by_kind={kind: _percentiles([j.ack_s * 1000 for j in acked if j.kind == kind])
                        for kind in KINDS if any(j.kind == kind for j in jobs)},
        server_mean_ack_ms=round((after["ack_sum_s"] - before["ack_sum_s"]) * 1000
                                 / served, 1) if served else 0.0,
        # Acks and turns together; the settle loop's read-outs are a rounding error.
        server_cpu_ms_per_request=(round((cpu_after - cpu_before) * 1000 / len(jobs), 2)
                                   if cpu_before is not None and cpu_after is not None
                                   else None),
        errors=errors,
        server_errors=int(after["errors"] - before["errors"]
                          + after["rejected"] - before["rejected"]),
        reply_ms=_percentiles(replies),
        missing_replies=sum(1 for job in acked if job.index not in times),
        all_replies_s=round(last_reply - start, 2),
        target_met=not errors and p99 < target_ms)


def _print(report: LevelReport, target_ms: float) -> None:
    def row(figures: dict[str, float]) -> str:
        return "  ".join(f"{k} {v:.1f}" for k, v in figures.items()) or "none"

    print(f"concurrency {report.concurrency}: {report.requests} requests in "
          f"{report.wall_s:.2f} s ({report.throughput_rps:.0f}/s)")
    print(f"  ack ms            {row(report.ack_ms)}   "
          f"(server-side mean {report.server_mean_ack_ms:.1f})")
    if report.server_cpu_ms_per_request is not None:
        print(f"  server CPU        {report.server_cpu_ms_per_request:.2f} ms per request, "
              "ack and turn")
    for kind, figures in report.ack_ms_by_kind.items():
        print(f"    {kind:<15} {row(figures)}")
    errors = ", ".join(f"{k} x{v}" for k, v in report.errors.items()) or "0"
    print(f"  errors            {errors}  (server-side errors/rejections "
          f"{report.server_errors})")
    print(f"  thread reply ms   {row(report.reply_ms)}   (missing {report.missing_replies})")
    print(f"  all replies in    {report.all_replies_s:.2f} s after the first request")
    verdict = "met" if report.target_met else "NOT met"
    print(f"  target ack p99 < {target_ms:.0f} ms without errors: {verdict}")


# -- orchestration ----------------------------------------------------------------------------
async def _wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"opsbot serve did not answer on {url} in {timeout_s:.0f} s")
            await asyncio.sleep(0.1)


def _port(ports: Any, timeout_s: float, what: str) -> int:
    value = ports.get(timeout=timeout_s)
    if not isinstance(value, int):
        raise SystemExit(f"{what} did not start: {value}")
    return value


def _stop_process(process: multiprocessing.process.BaseProcess,
                  stop: multiprocessing.synchronize.Event, timeout_s: float) -> None:
    stop.set()
    process.join(timeout_s)
    if process.is_alive():
        process.terminate()
        process.join(5)


def _levels(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("--concurrency takes positive integers, e.g. 50,200")
    return levels


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=_levels, default=[50],
                        help="requests in flight; a comma list runs one level after another")
    parser.add_argument("--requests", type=int, default=500, help="requests per level")
    parser.add_argument("--mix", type=_parse_mix, default=_parse_mix("command=1,click=1"),
                        help="request kinds and weights, e.g. command=4,click=4,mention=2")
    parser.add_argument("--warmup", type=int, default=20,
                        help="unmeasured requests first (connections, caches, auth.test)")
    parser.add_argument("--api-latency-ms", type=float, default=100.0,
                        help="how long the fake Slack Web API takes to answer a call")
    parser.add_argument("--work-ms", type=float, default=0.0,
                        help="time the scripted handler takes per turn")
    parser.add_argument("--real", action="store_true",
                        help="the real runtime on the sandbox instead of the scripted handler")
    parser.add_argument("--redis-url", default="",
                        help="Redis for event dedupe; empty starts an embedded one")
    parser.add_argument("--target-ms", type=float, default=100.0, help="ack p99 target")
    parser.add_argument("--settle-s", type=float, default=0.0,
                        help="how long to wait for the replies (default 60, 900 with --real)")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="leave start-up objects to the garbage collector (to compare)")
    parser.add_argument("--profile", default="",
                        help="write a cProfile of the server process to this file")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser.parse_args()


async def _measure(args: argparse.Namespace, url: str, fake_url: str,
                   server_pid: int | None) -> list[LevelReport]:
    settle_s = args.settle_s or (900.0 if args.real else 60.0)
    if args.warmup:
        warm = make_jobs(args.warmup, args.mix, real=args.real)
        await run_level(url, fake_url, warm, min(args.warmup, 10), settle_s=settle_s,
                        target_ms=args.target_ms)
    reports = []
    for level in args.concurrency:
        jobs = make_jobs(args.requests, args.mix, real=args.real)
        report = await run_level(url, fake_url, jobs, level, settle_s=settle_s,
                                 target_ms=args.target_ms, server_pid=server_pid)
        if not args.json:
            _print(report, args.target_ms)
        reports.append(report)
    return reports


def main() -> None:
    args = _arguments()
    context = multiprocessing.get_context("spawn")
    stop_fake = context.Event()
    stop_server = context.Event()
    ports = context.Queue()
    with contextlib.ExitStack() as stack:
        state = stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbot-load-"))
        redis_url = args.redis_url
        if not redis_url and not args.real:
            from tools.embedded import redis_server

            redis_url = stack.enter_context(
                redis_server.EmbeddedRedis(pathlib.Path(state) / "redis")).url
        fake = context.Process(target=_fake_process, name="fake-slack",
                               args=(args.api_latency_ms / 1000, ports, stop_fake))
        fake.start()
        stack.callback(_stop_process, fake, stop_fake, 10)
        fake_url = f"http://127.0.0.1:{_port(ports, 30, 'the fake Slack API')}"
        options = ServerOptions(api_url=f"{fake_url}/api/", redis_url=redis_url,
                                real=args.real, work_s=args.work_ms / 1000, state_dir=state,
                                freeze_heap=not args.no_gc_freeze,
                                profile=str(pathlib.Path(args.profile).resolve())
                                if args.profile else "")
        server = context.Process(target=_server_process, name="opsbot-serve",
                                 args=(options, ports, stop_server))
        began = time.monotonic()
        server.start()
        stack.callback(_stop_process, server, stop_server, 60)
        url = f"http://127.0.0.1:{_port(ports, 600 if args.real else 60, 'opsbot serve')}"
        asyncio.run(_wait_ready(url, 60))
        if not args.json:
            mode = "real runtime on the sandbox" if args.real else "scripted handler"
            kinds = sorted(set(args.mix), key=KINDS.index)
            print(f"opsbot serve on {url} ({mode}, ready in {time.monotonic() - began:.1f} s);"
                  f" Web API latency {args.api_latency_ms:.0f} ms; mix "
                  f"{', '.join(f'{k} {args.mix.count(k)}' for k in kinds)}")
        reports = asyncio.run(_measure(args, url, fake_url, server.pid))
    if args.json:
        print(json.dumps({"reports": [dataclasses.asdict(r) for r in reports]}, indent=2))


if __name__ == "__main__":
    main()
