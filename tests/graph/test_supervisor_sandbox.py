"""The supervisor end to end on the crashloop scenario: real Redis, the sandbox over HTTP
with the real kubernetes client, a local Prometheus, and an in-process MCP session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness

APPROVERS = {"low": ["alice", "bob"], "medium": ["alice", "bob"], "high": ["alice", "bob"],
             "critical": ["alice", "bob", "carol"]}


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[
        harness.RuntimeHarness]:
    settings = harness.make_settings(tmp_path_factory.mktemp("state"), redis_url,
                                     policy={"approvers": APPROVERS})
    with harness.RuntimeHarness(settings, scenario="crashloop") as running:
        yield running


def test_list_pods_flags_the_crashlooping_worker_through_mcp(
        bot: harness.RuntimeHarness) -> None:
    result = bot.say("list the pods in namespace shop", thread="pods")
    assert result.route == "query"
    assert ("list_pods", {"namespace": "shop"}) in [
        (c["name"], c["arguments"]) for c in result.tool_calls]
    reply = result.replies[0]
    assert "CrashLoopBackOff" in reply.text and "worker-" in reply.text
    flagged = reply.sections[0]
    assert flagged.title.startswith("⚠ shop/worker-")
    values = {f.label: f.value for f in flagged.fields}
    assert int(values["Restarts"]) > 0
    assert values["Last termination"].startswith("Error (exit code 1)")


def test_unknown_slash_command_gets_help(bot: harness.RuntimeHarness) -> None:
    reply = bot.say("/frobnicate the cluster", thread="help").replies[0]
    assert "don't know the command `/frobnicate`" in reply.text
    assert any(s.title == "Commands" for s in reply.sections)


def test_unknown_target_gets_candidates(bot: harness.RuntimeHarness) -> None:
    reply = bot.say("/rca chekout", thread="typo").replies[0]
    assert reply.kind == "question"
    assert "Deployment/shop/checkout-api" in [b.label for b in reply.buttons]
    chosen = bot.click(reply.buttons[0], thread="typo").replies[0]
    assert chosen.title == "RCA: Deployment/shop/checkout-api"


def test_missing_target_is_named(bot: harness.RuntimeHarness) -> None:
    reply = bot.say("/rca billing-engine", thread="missing").replies[0]
    assert reply.kind == "question"
    assert "billing-engine" in reply.text and "worker" in reply.text


def test_follow_up_uses_the_last_target(bot: harness.RuntimeHarness) -> None:
    bot.say("/rca worker", thread="follow")
    result = bot.say("show me the logs", thread="follow")
    assert result.route == "query"
    assert "worker" in result.replies[0].title.lower()


def test_rca_names_the_missing_env_var_and_offers_the_rollback(
        bot: harness.RuntimeHarness) -> None:
    reply = bot.say("why is the worker crashing?", thread="rca").replies[0]
    assert reply.title == "RCA: Deployment/shop/worker"
    assert "ConfigError" in reply.text and "QUEUE_URL" in reply.text
    evidence = reply.sections[0].text
    assert "KeyError: 'QUEUE_URL'" in evidence
    assert "env QUEUE_URL removed" in evidence
    action = json.loads(reply.buttons[0].value)
    assert action["action"] == "rollback" and action["risk"] == "high"


def test_fix_approve_reject_and_double_click(bot: harness.RuntimeHarness,
                                             tmp_path: Path) -> None:
    card = bot.say("/fix orders restart", user="alice", thread="fix").replies[0]
    assert card.kind == "approval" and card.card_id
    assert "kubectl.kubernetes.io/restartedAt" in card.sections[0].text
    reject = next(b for b in card.buttons if b.action_id == "reject")
    outsider = bot.click(reject, user="mallory", thread="fix").replies
    assert "may not decide" in outsider[0].text
    rejected = bot.click(reject, user="bob", thread="fix").replies
    assert rejected[0].replaces == card.card_id and not rejected[0].buttons
    assert "Rejected by bob" in rejected[0].text
    again = bot.click(card.buttons[0], user="bob", thread="fix").replies
    assert "already rejected by bob" in again[0].text


def test_rollback_approved_by_another_user_ends_the_crashloop(
        bot: harness.RuntimeHarness) -> None:
    rca = bot.say("/rca worker", user="alice", thread="heal").replies[0]
    card = bot.click(rca.buttons[0], user="alice", thread="heal").replies[0]
    assert card.kind == "approval"
    assert "-        - name: QUEUE_ENDPOINT" in card.sections[0].text
    approve = card.buttons[0]
    own = bot.click(approve, user="alice", thread="heal").replies
    assert "cannot be its only approver" in own[0].text
    done = bot.click(approve, user="bob", thread="heal").replies
    assert done[0].replaces == card.card_id and "executed by bob" in done[0].text
    assert "done and verified" in done[-1].text
    twice = bot.click(approve, user="bob", thread="heal").replies
    assert "already executed" in twice[0].text
    pods = bot.call_tool("list_pods", namespace="shop", workload="Deployment/worker")
    assert pods["status"] == "ok"
    assert not [p for p in pods["data"] if p["problems"]]
    audit = bot.loop.run(bot.rt.fix.deps.audit.read())  # type: ignore[union-attr]
    events = [e["event"] for e in audit if e.get("approval") == card.card_id]
    assert events[:1] == ["requested"] and "executed" in events and "verified" in events


def test_runbook_question_is_answered_with_citations(bot: harness.RuntimeHarness) -> None:
    result = bot.say("how do I drain a node safely?", thread="ask")
    assert result.route == "ask"
    reply = result.replies[0]
    assert "node-drain-cordon" in reply.text + "".join(s.text + s.title for s in
                                                       reply.sections)
