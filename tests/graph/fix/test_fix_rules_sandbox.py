"""Remediation safety rules through the graph, with the real Redis and the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph import chat
from tests import harness

APPROVERS = {"low": ["alice", "bob"], "medium": ["alice", "bob"], "high": ["alice", "bob"],
             "critical": ["alice", "bob", "carol"]}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[object]:
    yield harness.make_settings(tmp_path_factory.mktemp("state"), redis_url,
                                policy={"approvers": APPROVERS})


@pytest.fixture(scope="module")
def bot(settings: object) -> Iterator[harness.RuntimeHarness]:
    with harness.RuntimeHarness(settings, scenario="crashloop") as running:  # type: ignore[arg-type]
        yield running


def propose(bot: harness.RuntimeHarness, action: dict[str, object], *, user: str = "alice",
            thread: str = "t") -> list[chat.ChatReply]:
    button = chat.Button(action_id="propose_fix", label="x", value=json.dumps(action))
    return bot.click(button, user=user, thread=thread).replies


def test_expired_request_changes_nothing(bot: harness.RuntimeHarness) -> None:
    card = bot.say("/fix orders restart", thread="expire").replies[0]
    store = bot.rt.fix.deps.store  # type: ignore[union-attr]
    bot.loop.run(store.update(card.card_id, expires_at=0))
    replies = bot.click(card.buttons[0], user="bob", thread="expire").replies
    assert replies[0].replaces == card.card_id and "Expired" in replies[0].text
    assert "expired; nothing was changed" in replies[1].text
    again = bot.click(card.buttons[0], user="bob", thread="expire").replies
    assert "expired" in again[0].text


def test_critical_needs_two_distinct_approvers(bot: harness.RuntimeHarness) -> None:
    action = {"action": "restart", "resource": "Deployment/shop/frontend", "params": {},
              "risk": "critical", "summary": "Restart frontend"}
    card = propose(bot, action, user="dave", thread="crit")[0]
    assert card.kind == "approval" and "critical" in card.text
    first = bot.click(card.buttons[0], user="alice", thread="crit").replies
    assert first[0].kind == "approval" and first[0].replaces == card.card_id
    assert "Approved so far by alice" in first[0].text
    twice = bot.click(card.buttons[0], user="alice", thread="crit").replies
    assert "already approved" in twice[0].text
    done = bot.click(card.buttons[0], user="carol", thread="crit").replies
    assert "executed by alice, carol" in done[0].text


def test_a_forged_button_cannot_lower_the_risk(bot: harness.RuntimeHarness) -> None:
    action = {"action": "rollback", "resource": "Deployment/shop/worker",
              "params": {"revision": 3}, "risk": "low", "summary": "Roll back worker"}
    card = propose(bot, action, thread="forged")[0]
    assert "high risk" in card.text


def test_namespace_outside_the_allow_list_is_refused(bot: harness.RuntimeHarness) -> None:
    policy = bot.rt.fix.deps.policy  # type: ignore[union-attr]
    policy.namespaces = ["payments"]
    try:
        replies = bot.say("/fix orders restart", thread="ns").replies
    finally:
        policy.namespaces = []
    assert replies[0].kind == "error" and "outside the remediation allow-list" in replies[0].text
    audit = bot.loop.run(bot.rt.fix.deps.audit.read())  # type: ignore[union-attr]
    assert audit[-1]["event"] == "refused"


def test_a_dry_run_the_api_rejects_proposes_nothing(bot: harness.RuntimeHarness) -> None:
    action = {"action": "scale", "resource": "Deployment/shop/no-such-app",
              "params": {"replicas": 2}, "risk": "medium", "summary": "Scale no-such-app"}
    replies = propose(bot, action, thread="dry")
    assert replies[0].kind == "error" and "dry run" in replies[0].text
    assert not replies[0].buttons


def test_failed_verification_offers_the_undo(bot: harness.RuntimeHarness) -> None:
    bot.rt.fix.deps.verify_timeout_s = 3  # type: ignore[union-attr]
    bot.rt.fix.deps.verify_poll_s = 0.5  # type: ignore[union-attr]
    try:
        card = bot.say("/fix payments-api set image to shop/payments-api:9.9.9-missing",
                       thread="verify").replies[0]
        assert card.kind == "approval", card.text
        done = bot.click(card.buttons[0], user="bob", thread="verify").replies
    finally:
        bot.rt.fix.deps.verify_timeout_s = 120  # type: ignore[union-attr]
    result = done[-1]
    assert "verification failed" in result.text
    undo = json.loads(result.buttons[0].value)
    assert result.buttons[0].action_id == "propose_fix" and undo["action"] == "rollback"
    back = propose(bot, undo, user="alice", thread="verify")[0]
    assert back.kind == "approval"


def test_pending_approval_survives_a_restart(settings: object, tmp_path: Path) -> None:
    with harness.RuntimeHarness(settings, scenario="crashloop") as first:  # type: ignore[arg-type]
        card = first.say("/fix redis-cache restart", thread="restart").replies[0]
        assert card.kind == "approval"
    with harness.RuntimeHarness(settings, scenario="crashloop") as second:  # type: ignore[arg-type]
        done = second.click(card.buttons[0], user="bob", thread="restart").replies
        assert "executed by bob" in done[0].text
        assert "done and verified" in done[-1].text
