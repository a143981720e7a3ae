"""The digest end to end on the crashloop scenario: `/digest` through the supervisor on a
real runtime (sandbox cluster over HTTP, local Prometheus with its history, Redis), the
`/rca` button it offers, a Prometheus outage, and `opsbot digest --json`."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import cli, outbound, scheduler
from bot import settings as settings_mod
from graph import digest
from tests import harness
from tools import results

DOWN = "prometheus: http://127.0.0.1:9: connection refused"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[
        harness.RuntimeHarness]:
    settings = harness.make_settings(tmp_path_factory.mktemp("state"), redis_url,
                                     digest={"timezone": "Asia/Shanghai"})
    with harness.RuntimeHarness(settings, scenario="crashloop") as running:
        yield running


def test_digest_lists_the_crashlooping_worker_first(bot: harness.RuntimeHarness) -> None:
    result = bot.say("/digest", thread="digest")
    assert result.route == "digest"
    (reply,) = result.replies
    assert reply.kind == "card" and reply.title.startswith("Health digest · ")
    assert reply.text.startswith("🔴 **Red** — Deployment shop/worker: CrashLoopBackOff")
    first = reply.sections[0]
    assert first.title == "Workloads not fully available"
    assert first.text.splitlines()[0].startswith("- 🔴 **Deployment shop/worker** — ")
    assert "CrashLoopBackOff" in first.text and "last exit Error code 1" in first.text
    titles = [s.title for s in reply.sections]
    assert titles[:2] == ["Workloads not fully available", "Pods restarted in the last 24 h"]
    restarts = reply.sections[1].text
    assert "top reasons: Error" in restarts and "(Deployment/worker)" in restarts
    assert all(s.text.strip() for s in reply.sections)  # sections with nothing are left out
    assert not any("did not answer" in s.text for s in reply.sections)
    # The healthy parts of the shop stay quiet: no node or service outlier sections.
    assert "Nodes with conditions" not in titles
    assert "Error rate and latency vs the 7-day baseline" not in titles
    assert reply.buttons[0].action_id == "rca"
    assert reply.buttons[0].value == "Deployment/worker|shop"
    (chart,) = reply.images
    assert Path(chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Asia/Shanghai" in reply.footnote


def test_daily_report_in_chat_and_the_rca_button(bot: harness.RuntimeHarness) -> None:
    result = bot.say("daily report please", thread="report")
    assert result.route == "digest"
    button = result.replies[0].buttons[0]
    investigated = bot.click(button, thread="report")
    assert investigated.route == "rca"
    assert investigated.replies[0].title == "RCA: Deployment/shop/worker"


class PrometheusDown:
    """The runtime's own tools, with Prometheus answering as an unreachable server does."""

    def __init__(self, tools: Any) -> None:
        self._tools = tools

    async def call(self, name: str, /, **arguments: Any) -> dict[str, Any]:
        if name.startswith("prom_"):
            return results.error(DOWN, backend="prometheus")
        return dict(await self._tools.call(name, **arguments))


def test_prometheus_down_is_said_and_the_digest_still_posts(
        bot: harness.RuntimeHarness) -> None:
    assert bot.rt.digest is not None and bot.rt.redis is not None
    deps = dataclasses.replace(bot.rt.digest, tools=PrometheusDown(bot.rt.tools))
    printed: list[str] = []
    out = outbound.Outbound()
    out.register("console", outbound.PrintPoster(printed.append))
    schedule = settings_mod.DigestSchedule(platform="console", channel="ops",
                                           timezone="Europe/Berlin", days="daily")
    now = datetime.now(UTC)
    due = scheduler.last_fire_time(schedule, now, timedelta(days=1))
    assert due is not None

    async def build(s: settings_mod.DigestSchedule) -> Any:
        return await digest.build_digest(deps, timezone=s.timezone)

    sched = scheduler.DigestScheduler(
        [schedule], scheduler.DigestPublisher(build, out), bot.rt.redis, grace_s=86400,
        clock=lambda: now, key_prefix=f"opsbot:test:{now.timestamp()}:")
    (outcome,) = bot.loop.run(sched.run_due())
    assert outcome.status == "posted"
    (text,) = printed
    assert text.count(f"⚠ Prometheus did not answer: {DOWN}") == 3  # restarts, services, forecast
    assert "restarts over the last 24 h are unknown" in text
    assert "From the Kubernetes API instead (restarts since each pod started" in text
    assert "**Deployment shop/worker**" in text.split("Pods restarted")[0]


@pytest.fixture
def broken_prometheus() -> Iterator[str]:
    """Something at the Prometheus URL that answers every query with a 404 at once (a
    refused connection would be retried with backoff and slow the test down)."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404, "no Prometheus here")

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


def test_opsbot_digest_json(tmp_path: Path, redis_url: str, broken_prometheus: str,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    # A broken Prometheus keeps this run short and shows the CLI posts all the same.
    monkeypatch.setenv("OPSBOT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PROMETHEUS_URL", broken_prometheus)
    channel = f"ops-{tmp_path.name}"
    monkeypatch.setenv("DIGEST_SCHEDULES", json.dumps([{
        "platform": "console", "channel": channel, "timezone": "Europe/Berlin"}]))
    assert cli.main(["digest", "--json", "--once", "--scenario", "crashloop"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) >= {"status", "reason", "day", "timezone", "namespace",
                             "generated_at", "numbers", "yesterday", "sections", "flagged",
                             "chart", "reply", "posted"}
    assert document["status"] == "red" and document["timezone"] == "Europe/Berlin"
    assert document["sections"][0]["key"] == "workloads"
    assert "shop/worker" in document["sections"][0]["lines"][0]
    assert any(s["missing"].startswith("Prometheus did not answer") for s in
               document["sections"])
    assert document["flagged"][0]["rca"] == "Deployment/worker|shop"
    assert document["reply"]["buttons"][0]["value"] == "Deployment/worker|shop"
    assert document["posted"] == [{"platform": "console", "channel": channel,
                                   "status": "posted", "ref": f"{channel}-1"}]
    assert f"[{channel} · new thread {channel}-1]" in captured.err  # the console post
    # The CronJob's second run on the same day posts nothing.
    assert cli.main(["digest", "--json", "--once", "--scenario", "crashloop"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["posted"] == [{"platform": "console", "channel": channel,
                                "status": "skipped", "reason": "already posted today"}]
