"""Slack Socket Mode and the Feishu long connection against local WebSocket fakes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from fakes.feishu_api import FakeFeishuApi
from fakes.feishu_events import button, card_action, message_event
from fakes.harness import RunningServer, make_settings
from fakes.scripted import ScriptedHandler
from fakes.server import wait_for
from fakes.slack_api import BOT_USER, TEAM, FakeSlackApi

from bot import settings as settings_mod

Start = Callable[..., RunningServer]


def envelope(kind: str, payload: dict[str, Any], *, retry: int = 0) -> dict[str, Any]:
    return {"envelope_id": uuid.uuid4().hex, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": retry,
            "retry_reason": "timeout" if retry else ""}


def mention(text: str, event_id: str) -> dict[str, Any]:
    return {"token": "x", "team_id": TEAM, "api_app_id": "A0001", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": "app_mention", "user": "U0ALICE", "channel": "C0CHAN",
                      "ts": "1699999999.000100", "text": f"<@{BOT_USER}> {text}"}}


def test_slack_socket_mode(slack_api: FakeSlackApi, run_server: Start,
                           handler: ScriptedHandler) -> None:
    settings = make_settings(slack=settings_mod.SlackSettings(
        bot_token="xoxb-test", app_token="xapp-test", api_base_url=slack_api.api_url))
    server = run_server(settings, handler)
    (opened,) = slack_api.wait_calls("apps.connections.open")
    assert opened.headers["Authorization"] == "Bearer xapp-test"
    assert "/slack/events" not in {r.path for r in server.app.routes}

    first = envelope("events_api", mention("hello", "Ev0SOCKET"))
    slack_api.push(first)
    slack_api.push(envelope("events_api", mention("hello", "Ev0SOCKET"), retry=1))
    slack_api.push(envelope("slash_commands", {
        "team_id": TEAM, "channel_id": "C0CHAN", "user_id": "U0ALICE", "command": "/opsbot",
        "text": "help", "response_url": "http://127.0.0.1:9/unused", "trigger_id": "1"}))
    posts = slack_api.wait_calls("chat.postMessage", 3)
    wait_for(lambda: len(slack_api.socket_received) >= 3, what="three acks")
    assert first["envelope_id"] in {m["envelope_id"] for m in slack_api.socket_received}
    assert sorted(r.text for r in handler.calls()) == ["/opsbot help", "hello"]
    threads = [p.body.get("thread_ts") for p in posts]
    assert "1699999999.000100" in threads  # the mention's answer
    assert threads.count(None) == 1  # the command's anchor message


def test_feishu_long_connection(feishu_api: FakeFeishuApi, run_server: Start,
                                handler: ScriptedHandler) -> None:
    settings = make_settings(feishu=settings_mod.FeishuSettings(
        app_id="cli_test", app_secret="secret", api_base_url=feishu_api.base_url,
        long_connection=True))
    server = run_server(settings, handler)
    assert "/feishu/events" not in {r.path for r in server.app.routes}
    (endpoint,) = feishu_api.wait_calls("ws_endpoint")
    assert endpoint.body == {"AppID": "cli_test", "AppSecret": "secret"}

    feishu_api.push_event(message_event("@_user_1 /fix checkout"), "m-1")
    _, card_reply = feishu_api.wait_calls("reply", 2)
    assert wait_for(lambda: feishu_api.frame_answers.get("m-1"))["code"] == 200

    approve = button(json.loads(card_reply.body["content"]), "Approve")
    feishu_api.push_event(card_action(approve, message_id="om_reply_2"), "m-2")
    answer = wait_for(lambda: feishu_api.frame_answers.get("m-2"), what="the card answer")
    assert answer["code"] == 200
    assert answer["data"]["toast"]["type"] == "success"
    assert answer["data"]["card"]["data"]["header"]["title"]["content"].startswith("Approved")
    pressed = handler.calls()[-1]
    assert pressed.action is not None and pressed.action.message_ref == "om_reply_2"
