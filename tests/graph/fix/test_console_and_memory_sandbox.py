"""The console approval flow, the audit command, and the feedback loop: a verified fix
becomes incident memory that a later RCA shows as "seen before"."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import console
from tests import harness

APPROVERS = {"low": ["console-user", "bob"], "medium": ["console-user", "bob"],
             "high": ["console-user", "bob"], "critical": ["console-user", "bob"]}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[
        harness.RuntimeHarness]:
    settings = harness.make_settings(tmp_path_factory.mktemp("state"), redis_url,
                                     policy={"approvers": APPROVERS})
    with harness.RuntimeHarness(settings, scenario="crashloop") as running:
        yield running


def test_console_card_and_approval_as_another_user(bot: harness.RuntimeHarness) -> None:
    lines = "/fix worker roll back\n1\n1 --as bob\n"
    out = io.StringIO()
    bot.loop.run(console.run_console(bot.rt, stdin=io.StringIO(lines), stdout=out))
    text = out.getvalue()
    assert "Approval needed [" in text and "approve " in text
    assert "console-user asked for this high-risk action and cannot be its only" in text
    assert "executed by bob" in text and "done and verified" in text


def test_audit_command_lists_the_decisions(bot: harness.RuntimeHarness, redis_url: str,
                                           tmp_path: Path) -> None:
    env = {"OPSBOT_STATE_DIR": str(tmp_path), "REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "--since", "1h",
                           "--json"], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    events = [e["event"] for e in json.loads(done.stdout)]
    assert {"requested", "approval_refused", "executed", "verified"} <= set(events)


def test_a_resolved_incident_is_seen_before_by_the_next_rca(
        bot: harness.RuntimeHarness) -> None:
    # The worker was healed by the rollback above; roll forward to the broken revision
    # again, the same incident comes back, and RCA remembers how it was fixed.
    history = bot.call_tool("rollout_history", name="worker", namespace="shop")["data"]
    broken = next(r for r in history if "worker: env QUEUE_URL removed" in r["changes"])
    card = bot.say(f"/fix worker roll back to revision {broken['revision']}",
                   user="console-user", thread="again").replies[0]
    deps = bot.rt.fix.deps  # type: ignore[union-attr]
    deps.verify_timeout_s, deps.verify_poll_s = 2, 0.5  # the broken revision never settles
    try:
        bot.click(card.buttons[0], user="bob", thread="again")
    finally:
        deps.verify_timeout_s, deps.verify_poll_s = 120, 2
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # until the new pod has crashed at least once
        pods = bot.call_tool("list_pods", namespace="shop", workload="Deployment/worker")
        if any(p["restarts"] and p["last_termination"] for p in pods.get("data") or []):
            break
        time.sleep(1)
    feedback = bot.say("/rca worker", thread="again").replies[0]
    assert "ConfigError" in feedback.text
    seen = next(s for s in feedback.sections if s.title == "Seen before")
    assert "ConfigError" in seen.text and "Roll back worker" in seen.text
