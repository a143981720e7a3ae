"""Alertmanager notifications open one investigated thread per alert group."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot import alertmanager
from graph import chat
from tests import harness


class RecordingPoster:
    def __init__(self) -> None:
        self.posts: list[tuple[str, str, chat.ChatReply]] = []

    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        self.posts.append(("open", channel, reply))
        return f"thread-{len(self.posts)}"

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str:
        self.posts.append((thread, channel, reply))
        return thread

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None:
        self.posts.append((f"update:{ref}", channel, reply))


def payload(status: str, group: str = "{}:{alertname=\"KubePodCrashLooping\"}") -> dict[str, Any]:
    return {
        "version": "4", "groupKey": group, "status": status, "receiver": "opsbot",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop",
                         "deployment": "worker", "severity": "warning"},
        "commonAnnotations": {"summary": "worker pods are crash looping"},
        "externalURL": "http://alertmanager", "truncatedAlerts": 0,
        "alerts": [{"status": status, "labels": {"alertname": "KubePodCrashLooping",
                                                  "namespace": "shop", "deployment": "worker"},
                    "annotations": {"summary": "worker pods are crash looping"},
                    "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": "abc"}],
    }


def test_alert_thread_repeat_and_resolve(tmp_path: Path, redis_url: str) -> None:
    settings = harness.make_settings(tmp_path, redis_url)
    with harness.RuntimeHarness(settings, scenario="crashloop") as bot:
        poster = RecordingPoster()
        bot.rt.outbound.register("slack", poster, alert_channel="C-ALERTS")
        alerts = bot.rt.alerts
        assert alerts is not None
        group = f'{{}}:{{alertname="KubePodCrashLooping",run="{tmp_path.name}"}}'
        firing = alertmanager.AlertPayload.model_validate(payload("firing", group))
        replies = bot.loop.run(alerts.process(firing))
        assert replies[0].title == "🔥 KubePodCrashLooping"
        assert "ConfigError" in replies[1].text and "QUEUE_URL" in replies[1].text
        assert [p[0] for p in poster.posts] == ["open", "thread-1"]

        # Alertmanager repeats the group inside its interval: no second investigation.
        assert bot.loop.run(alerts.process(firing)) == []
        assert len(poster.posts) == 2

        resolved = alertmanager.AlertPayload.model_validate(payload("resolved", group))
        done = bot.loop.run(alerts.process(resolved))
        assert "resolved" in done[0].text
        assert poster.posts[-1][0] == "thread-1"  # the same thread


def test_say_alert_prints_the_investigation(tmp_path: Path, redis_url: str) -> None:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(payload("firing", f"say-{tmp_path.name}")))
    env = {"OPSBOT_STATE_DIR": str(tmp_path / "state"), "REDIS_URL": redis_url,
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--alert", str(alert),
                           "--json", "--scenario", "crashloop"], capture_output=True,
                          text=True, env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    assert document["status"] == "firing"
    assert "ConfigError" in document["replies"][1]["text"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "4"}')
    refused = subprocess.run([sys.executable, "-m", "bot.cli", "say", "--alert", str(bad)],
                             capture_output=True, text=True, env=env, timeout=60,
                             check=False)
    assert refused.returncode == 2
    assert "not an Alertmanager v4 payload" in refused.stderr
