"""Slack over HTTP: signed requests to `opsbot serve`, Web API calls seen by a fake Slack."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.harness import SLACK_SECRET, RunningServer
from fakes.scripted import ScriptedHandler
from fakes.server import wait_for
from fakes.signing import slack_form, slack_headers, slack_json
from fakes.slack_api import BOT_USER, TEAM, FakeSlackApi

from bot import settings as settings_mod

Start = Callable[..., RunningServer]
SettingsFactory = Callable[..., settings_mod.Settings]
CHANNEL = "C0CHAN"
USER = "U0ALICE"


def post_command(server: RunningServer, command: str, text: str, *,
                 user: str = USER) -> httpx.Response:
    body = slack_form({"token": "x", "team_id": TEAM, "team_domain": "fake",
                       "channel_id": CHANNEL, "channel_name": "incidents", "user_id": user,
                       "user_name": "alice", "command": command, "text": text,
                       "api_app_id": "A0001", "trigger_id": "1.2.3",
                       "response_url": "http://127.0.0.1:9/unused"})
    headers = slack_headers(SLACK_SECRET, body,
                            content_type="application/x-www-form-urlencoded")
    return httpx.post(f"{server.url}/slack/events", content=body, headers=headers)


def post_event(server: RunningServer, event: dict[str, Any], *, event_id: str | None = None,
               retry: int | None = None, secret: str = SLACK_SECRET,
               timestamp: int | None = None) -> httpx.Response:
    body = slack_json({"token": "x", "team_id": TEAM, "api_app_id": "A0001",
                       "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex}",
                       "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": TEAM, "user_id": BOT_USER,
                                           "is_bot": True}]})
    headers = slack_headers(secret, body, timestamp=timestamp)
    if retry is not None:
        headers["x-slack-retry-num"] = str(retry)
        headers["x-slack-retry-reason"] = "http_timeout"
    return httpx.post(f"{server.url}/slack/events", content=body, headers=headers)


def click(server: RunningServer, message: dict[str, Any], label: str,
          *, user: str = "U0BOB") -> httpx.Response:
    """Press the button labelled ``label`` on a message as the fake API recorded it."""
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["text"]["text"] == label)
    ts = message["ts"]
    payload = {
        "type": "block_actions", "api_app_id": "A0001", "token": "x", "trigger_id": "1.2.3",
        "user": {"id": user, "username": "bob", "team_id": TEAM},
        "team": {"id": TEAM, "domain": "fake"},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL,
                      "is_ephemeral": False, "thread_ts": message.get("thread_ts")},
        "channel": {"id": CHANNEL, "name": "incidents"},
        "message": {"type": "message", "ts": ts, "thread_ts": message.get("thread_ts"),
                    "text": message["text"], "blocks": message["blocks"], "bot_id": "BBOT"},
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{"type": "button", "action_id": button["action_id"],
                     "block_id": actions["block_id"], "value": button["value"],
                     "text": button["text"], "action_ts": str(time.time())}],
    }
    body = slack_form({"payload": json.dumps(payload)})
    headers = slack_headers(SLACK_SECRET, body,
                            content_type="application/x-www-form-urlencoded")
    return httpx.post(f"{server.url}/slack/events", content=body, headers=headers)


def posted_message(fake: FakeSlackApi, index: int) -> dict[str, Any]:
    """The index-th chat.postMessage body with the ts the fake answered."""
    calls = fake.wait_calls("chat.postMessage", index + 1)
    body = dict(calls[index].body)
    body["ts"] = f"{1700000000 + index + 1}.{index + 1:06d}"
    return body


def test_rca_command_acks_then_answers_in_a_thread(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    started = time.monotonic()
    response = post_command(server, "/rca", "checkout")
    assert response.status_code == 200
    assert time.monotonic() - started < 3.0

    anchor, answer = slack_api.wait_calls("chat.postMessage", 2)
    assert anchor.body["channel"] == CHANNEL and "thread_ts" not in anchor.body
    assert anchor.body["text"] == f"<@{USER}> asked: `/rca checkout`"
    assert answer.body["thread_ts"] == posted_message(slack_api, 0)["ts"]
    assert answer.headers["Authorization"] == "Bearer xoxb-test"
    blocks = answer.body["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text",
                                                    "text": "Root cause: shop/checkout",
                                                    "emoji": True}}
    assert "*CrashLoop*" in blocks[1]["text"]["text"]
    assert "<https://runbooks.example/crashloop|runbook>" in blocks[1]["text"]["text"]
    assert blocks[-1]["type"] == "context"
    assert answer.body["text"].startswith("*CrashLoop*")

    (request,) = handler.calls()
    assert request.platform == "slack" and request.channel == f"{TEAM}:{CHANNEL}"
    assert request.thread == posted_message(slack_api, 0)["ts"]
    assert request.user == USER and request.text == "/rca checkout"


def test_fix_card_then_approve_updates_the_card_in_place(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    assert post_command(server, "/fix", "checkout").status_code == 200
    slack_api.wait_calls("chat.postMessage", 3)
    card = posted_message(slack_api, 2)
    actions = next(b for b in card["blocks"] if b["type"] == "actions")
    assert [e["style"] for e in actions["elements"]] == ["primary", "danger"]
    assert [e["action_id"] for e in actions["elements"]] == ["opsbot:0:approve",
                                                             "opsbot:1:reject"]
    assert actions["block_id"] == "opsbot:approval:plan-1"

    assert click(server, card, "Approve").status_code == 200
    (update,) = slack_api.wait_calls("chat.update")
    assert update.body["ts"] == card["ts"] and update.body["channel"] == CHANNEL
    assert all(b["type"] != "actions" for b in update.body["blocks"])
    assert "Approved by U0BOB" in update.body["text"]
    feedback = slack_api.wait_calls("chat.postMessage", 4)[3]
    assert feedback.body["thread_ts"] == card["thread_ts"]

    pressed = handler.calls()[-1]
    assert pressed.action is not None
    assert (pressed.action.action_id, pressed.action.value) == ("approve", "plan-1")
    assert pressed.action.message_ref == card["ts"]
    assert pressed.thread == card["thread_ts"] and pressed.user == "U0BOB"
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'opsbot_approvals_total{outcome="approved"} 1.0' in metrics
    assert 'opsbot_graph_runs_total{platform="slack",route="fix"} 2.0' in metrics


def test_reject_replaces_the_card(slack_api: FakeSlackApi, slack_settings: SettingsFactory,
                                  run_server: Start, handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    post_command(server, "/fix", "checkout")
    slack_api.wait_calls("chat.postMessage", 3)
    card = posted_message(slack_api, 2)
    click(server, card, "Reject")
    (update,) = slack_api.wait_calls("chat.update")
    assert update.body["blocks"][0]["text"]["text"] == "Rejected"
    assert all(b["type"] != "actions" for b in update.body["blocks"])
    assert handler.calls()[-1].action.action_id == "reject"


def test_double_click_passes_both_through_without_crashing(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    post_command(server, "/fix", "checkout")
    slack_api.wait_calls("chat.postMessage", 3)
    card = posted_message(slack_api, 2)
    assert click(server, card, "Approve").status_code == 200
    assert click(server, card, "Approve", user="U0CAROL").status_code == 200
    wait_for(lambda: len([r for r in handler.calls() if r.action]) == 2, what="two clicks")
    # One click updated the card; the other got the handler's "already decided" answer,
    # which is an error and so must not touch the card.
    slack_api.wait_calls("chat.update", 1)
    texts = [c.body["text"] for c in slack_api.wait_calls("chat.postMessage", 5)]
    assert any("Already approved" in t for t in texts)
    # Five posts (anchor, plan, card, feedback, "already") mean both turns are delivered.
    assert len(slack_api.calls_to("chat.update")) == 1
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_mention_in_a_thread_and_follow_up_messages(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    root = "1699999999.000100"
    mention = {"type": "app_mention", "user": USER, "channel": CHANNEL, "ts": root,
               "text": f"<@{BOT_USER}> why is   checkout &amp; cart failing?"}
    assert post_event(server, mention).status_code == 200
    (reply,) = slack_api.wait_calls("chat.postMessage")
    assert reply.body["thread_ts"] == root
    assert handler.calls()[0].text == "why is checkout & cart failing?"

    # The same message also arrives as a message event: answered once, via app_mention.
    as_message = dict(mention, type="message", channel_type="channel")
    post_event(server, as_message)
    # A plain follow-up in the thread the bot is in is answered without a mention.
    follow_up = {"type": "message", "user": USER, "channel": CHANNEL, "channel_type": "channel",
                 "ts": "1699999999.000200", "thread_ts": root, "text": "and the logs?"}
    post_event(server, follow_up)
    slack_api.wait_calls("chat.postMessage", 2)
    # Messages elsewhere, from bots, or edits are not.
    post_event(server, dict(follow_up, thread_ts="1600000000.000001", ts="1600000000.000002"))
    post_event(server, dict(follow_up, bot_id="B0OTHER", ts="1699999999.000300"))
    post_event(server, dict(follow_up, subtype="message_changed", ts="1699999999.000400"))
    post_event(server, dict(follow_up, user=BOT_USER, bot_id="BBOT", ts="1699999999.000500"))
    # A last follow-up marks the end: by the time it is answered (a whole turn), the
    # ignored events, which only need one Redis lookup, have been dropped.
    post_event(server, dict(follow_up, ts="1699999999.000600", text="sentinel"))
    slack_api.wait_calls("chat.postMessage", 3)
    assert sorted(r.text for r in handler.calls()) == [
        "and the logs?", "sentinel", "why is checkout & cart failing?"]


def test_retried_event_is_handled_once(slack_api: FakeSlackApi,
                                       slack_settings: SettingsFactory, run_server: Start,
                                       handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    event = {"type": "app_mention", "user": USER, "channel": CHANNEL, "ts": "1699999999.1",
             "text": f"<@{BOT_USER}> hello"}
    assert post_event(server, event, event_id="Ev0RETRY").status_code == 200
    assert post_event(server, event, event_id="Ev0RETRY", retry=1).status_code == 200
    post_event(server, dict(event, text=f"<@{BOT_USER}> sentinel"), event_id="Ev0NEXT")
    slack_api.wait_calls("chat.postMessage", 2)
    assert sorted(r.text for r in handler.calls()) == ["hello", "sentinel"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'opsbot_chat_events_total{outcome="duplicate",platform="slack"} 1.0' in metrics


def test_rate_limited_call_is_retried_after_retry_after(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    slack_api.fail("chat.postMessage", 429, headers={"Retry-After": "1"})
    event = {"type": "app_mention", "user": USER, "channel": CHANNEL, "ts": "1699999999.2",
             "text": f"<@{BOT_USER}> hello"}
    post_event(server, event)
    first, second = slack_api.wait_calls("chat.postMessage", 2, timeout=8)
    assert second.at - first.at >= 1.0
    assert first.body == second.body


@pytest.mark.parametrize("case", ["bad-signature", "stale", "unsigned"])
def test_unverified_requests_are_refused(case: str, slack_api: FakeSlackApi,
                                         slack_settings: SettingsFactory, run_server: Start,
                                         handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    event = {"type": "app_mention", "user": USER, "channel": CHANNEL, "ts": "1.1",
             "text": f"<@{BOT_USER}> delete everything"}
    if case == "bad-signature":
        response = post_event(server, event, secret="not-the-secret")
    elif case == "stale":
        response = post_event(server, event, timestamp=int(time.time()) - 600)
    else:
        response = httpx.post(f"{server.url}/slack/events", json={"event": event})
    assert response.status_code == 401
    # Refused before anything is started: nothing can arrive later.
    assert handler.calls() == []
    assert slack_api.calls_to("chat.postMessage") == []


def test_malformed_json_is_a_400(slack_api: FakeSlackApi, slack_settings: SettingsFactory,
                                 run_server: Start, handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    body = b'{"type": "event_callback", "event": '
    response = httpx.post(f"{server.url}/slack/events", content=body,
                          headers=slack_headers(SLACK_SECRET, body))
    assert response.status_code == 400
    assert "malformed" in response.json()["error"]


def test_url_verification_challenge(slack_api: FakeSlackApi, slack_settings: SettingsFactory,
                                    run_server: Start, handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    body = slack_json({"token": "x", "challenge": "c-123", "type": "url_verification"})
    response = httpx.post(f"{server.url}/slack/events", content=body,
                          headers=slack_headers(SLACK_SECRET, body))
    assert response.status_code == 200 and response.json() == {"challenge": "c-123"}


def test_slow_turn_posts_progress_then_updates_it(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(progress_after_s=0.2), handler)
    post_event(server, {"type": "app_mention", "user": USER, "channel": CHANNEL,
                        "ts": "1699999999.3", "text": f"<@{BOT_USER}> slow question"})
    (progress,) = slack_api.wait_calls("chat.postMessage")
    assert progress.body["text"] == "Working on it…"
    handler.gate.set()
    (update,) = slack_api.wait_calls("chat.update")
    assert update.body["ts"] == posted_message(slack_api, 0)["ts"]
    assert update.body["text"] == "You said: slow question"
    assert len(slack_api.calls_to("chat.postMessage")) == 1


def test_handler_failure_becomes_an_error_reply(
        slack_api: FakeSlackApi, slack_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    post_event(server, {"type": "app_mention", "user": USER, "channel": CHANNEL,
                        "ts": "1699999999.4", "text": f"<@{BOT_USER}> boom"})
    (reply,) = slack_api.wait_calls("chat.postMessage")
    assert "something went wrong" in reply.body["text"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'opsbot_errors_total{where="handler"} 1.0' in metrics


def test_charts_are_uploaded_into_the_thread(
        tmp_path: Path, slack_api: FakeSlackApi, slack_settings: SettingsFactory,
        run_server: Start, handler: ScriptedHandler) -> None:
    chart = tmp_path / "cpu.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    handler.images.append(str(chart))
    server = run_server(slack_settings(), handler)
    post_command(server, "/rca", "checkout")
    (complete,) = slack_api.wait_calls("files.completeUploadExternal")
    (get_url,) = slack_api.calls_to("files.getUploadURLExternal")
    assert get_url.body["filename"] == "cpu.png"
    assert slack_api.uploads == [(json.loads(complete.body["files"])[0]["id"], 72)]
    assert complete.body["thread_ts"] == posted_message(slack_api, 0)["ts"]
    assert complete.body["channel_id"] == CHANNEL


def test_direct_messages_are_answered(slack_api: FakeSlackApi,
                                      slack_settings: SettingsFactory, run_server: Start,
                                      handler: ScriptedHandler) -> None:
    server = run_server(slack_settings(), handler)
    post_event(server, {"type": "message", "channel_type": "im", "user": USER,
                        "channel": "D0DIRECT", "ts": "1699999999.5", "text": "/opsbot help"})
    (reply,) = slack_api.wait_calls("chat.postMessage")
    assert (reply.body["channel"], reply.body["thread_ts"]) == ("D0DIRECT", "1699999999.5")
    assert handler.calls()[0].channel == f"{TEAM}:D0DIRECT"
