"""Feishu over HTTP callbacks: signed (and encrypted) requests to `opsbot serve`,
Open API calls seen by a fake Feishu."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fakes.feishu_api import TOKEN, FakeFeishuApi
from fakes.feishu_events import CHAT, button, card_action, message_event
from fakes.harness import FEISHU_KEY, FEISHU_TOKEN, RunningServer
from fakes.scripted import ScriptedHandler, approval_card
from fakes.server import wait_for
from fakes.signing import feishu_encrypt, feishu_headers

from bot import feishu_render
from bot import settings as settings_mod
from graph import chat

Start = Callable[..., RunningServer]
SettingsFactory = Callable[..., settings_mod.Settings]


def send(server: RunningServer, document: dict[str, Any], *, encrypt: bool = True,
         key: str = FEISHU_KEY, timestamp: int | None = None) -> httpx.Response:
    body = feishu_encrypt(document, key) if encrypt else json.dumps(document).encode()
    return httpx.post(f"{server.url}/feishu/events", content=body,
                      headers=feishu_headers(key, body, timestamp=timestamp))


def test_url_verification_plain_and_encrypted(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    challenge = {"challenge": "ch-1", "token": FEISHU_TOKEN, "type": "url_verification"}
    body = json.dumps(challenge).encode()
    plain = httpx.post(f"{server.url}/feishu/events", content=body,
                       headers={"content-type": "application/json"})
    assert plain.status_code == 200 and plain.json() == {"challenge": "ch-1"}
    encrypted = send(server, challenge)
    assert encrypted.status_code == 200 and encrypted.json() == {"challenge": "ch-1"}
    wrong = httpx.post(f"{server.url}/feishu/events",
                       json=dict(challenge, token="forged"))
    assert wrong.status_code == 401


def test_encrypted_mention_is_answered_in_its_thread(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    response = send(server, message_event("@_user_1  /rca checkout"))
    assert response.status_code == 200

    (reply,) = feishu_api.wait_calls("reply")
    assert reply.path == "/open-apis/im/v1/messages/om_root/reply"
    assert reply.headers["Authorization"] == f"Bearer {TOKEN}"
    assert reply.body["msg_type"] == "interactive" and reply.body["reply_in_thread"] is True
    card = json.loads(reply.body["content"])
    assert card["schema"] == "2.0" and card["config"]["update_multi"] is True
    assert card["header"]["title"]["content"] == "Root cause: shop/checkout"
    assert card["body"]["elements"][0]["content"].startswith("**CrashLoop**")
    (token_call,) = feishu_api.calls_to("tenant_access_token")
    assert token_call.body == {"app_id": "cli_test", "app_secret": "secret"}

    (request,) = handler.calls()
    assert (request.platform, request.channel, request.thread, request.user, request.text) == (
        "feishu", CHAT, "om_root", "ou_alice", "/rca checkout")


def test_thread_replies_and_ignored_messages(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    send(server, message_event("@_user_1 hello", message_id="om_2", root_id="om_topic"))
    send(server, message_event("no mention", message_id="om_3", mentioned=False))
    send(server, message_event("@_user_1 from an app", message_id="om_4", sender_type="app"))
    send(server, message_event("direct", message_id="om_5", chat_type="p2p", mentioned=False))
    first, second = feishu_api.wait_calls("reply", 2)
    assert {first.path, second.path} == {"/open-apis/im/v1/messages/om_topic/reply",
                                         "/open-apis/im/v1/messages/om_5/reply"}
    assert sorted(r.text for r in handler.calls()) == ["direct", "hello"]


def test_duplicate_event_is_handled_once(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    event = message_event("@_user_1 hello", event_id="ev-dup")
    assert send(server, event).status_code == 200
    assert send(server, event).status_code == 200
    send(server, message_event("@_user_1 sentinel", message_id="om_next"))
    feishu_api.wait_calls("reply", 2)
    assert sorted(r.text for r in handler.calls()) == ["hello", "sentinel"]


def test_fix_card_then_approve_answers_with_toast_and_card(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    send(server, message_event("@_user_1 /fix checkout"))
    _, card_reply = feishu_api.wait_calls("reply", 2)
    card = json.loads(card_reply.body["content"])
    assert card["header"]["template"] == "orange"
    approve = button(card, "Approve")
    assert approve["action_id"] == "approve" and approve["thread"] == "om_root"

    response = send(server, card_action(approve, message_id="om_reply_2"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["toast"]["type"] == "success"
    assert answer["toast"]["content"].startswith("Approved by ou_bob")
    assert answer["card"]["type"] == "raw"
    updated = answer["card"]["data"]
    assert updated["header"]["title"]["content"] == "Approved: restart shop/checkout"
    assert "button" not in json.dumps(updated)
    # The feedback question is a new reply in the same thread.
    feedback = feishu_api.wait_calls("reply", 3)[2]
    assert feedback.path == "/open-apis/im/v1/messages/om_root/reply"
    assert feishu_api.calls_to("patch") == []

    pressed = handler.calls()[-1]
    assert pressed.action == chat.ButtonAction(action_id="approve", value="plan-1",
                                               message_ref="om_reply_2")
    assert (pressed.user, pressed.thread) == ("ou_bob", "om_root")


def test_slow_click_toasts_at_once_then_patches_the_card(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(card_answer_s=0.2), handler)
    card = approval_card("slow-plan")
    value = feishu_render.button_value(card.buttons[0], card, "om_root")
    started = time.monotonic()
    response = send(server, card_action(value, message_id="om_card"))
    assert time.monotonic() - started < 2.0
    assert response.json() == {"toast": {"type": "info", "content": "Working on it…"}}
    handler.gate.set()
    (patch,) = feishu_api.wait_calls("patch")
    assert patch.path == "/open-apis/im/v1/messages/om_card"
    assert json.loads(patch.body["content"])["header"]["title"]["content"].startswith(
        "Approved")


def test_double_click_and_reject(feishu_api: FakeFeishuApi,
                                 feishu_settings: SettingsFactory, run_server: Start,
                                 handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    card = approval_card("plan-7")
    reject = feishu_render.button_value(card.buttons[1], card, "om_root")
    first = send(server, card_action(reject, message_id="om_card")).json()
    second = send(server, card_action(reject, message_id="om_card", user="ou_carol")).json()
    assert first["card"]["data"]["header"]["title"]["content"] == "Rejected"
    # The second click reaches the handler and gets its answer, but the card stays.
    assert second["toast"]["type"] == "error" and "card" not in second
    assert len([r for r in handler.calls() if r.action]) == 2
    (error_post,) = feishu_api.wait_calls("reply")
    assert "Already rejected" in error_post.body["content"]


@pytest.mark.parametrize("case", ["bad-signature", "stale", "unsigned", "bad-token"])
def test_unverified_callbacks_are_refused(case: str, feishu_api: FakeFeishuApi,
                                          feishu_settings: SettingsFactory,
                                          run_server: Start, handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    event = message_event("@_user_1 /fix checkout")
    if case == "bad-signature":
        body = feishu_encrypt(event, FEISHU_KEY)
        headers = feishu_headers("another-key", body)
        response = httpx.post(f"{server.url}/feishu/events", content=body, headers=headers)
    elif case == "stale":
        response = send(server, event, timestamp=int(time.time()) - 600)
    elif case == "unsigned":
        response = httpx.post(f"{server.url}/feishu/events", json=event)
    else:
        event["header"]["token"] = "forged"
        response = send(server, event)
    assert response.status_code == 401
    assert handler.calls() == [] and feishu_api.calls_to("reply") == []


def test_malformed_bodies_are_a_400(feishu_api: FakeFeishuApi,
                                    feishu_settings: SettingsFactory, run_server: Start,
                                    handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(), handler)
    body = b'{"encrypt": '
    response = httpx.post(f"{server.url}/feishu/events", content=body,
                          headers=feishu_headers(FEISHU_KEY, body))
    assert response.status_code == 400
    body = json.dumps({"encrypt": "bm90IGNpcGhlcnRleHQ="}).encode()
    response = httpx.post(f"{server.url}/feishu/events", content=body,
                          headers=feishu_headers(FEISHU_KEY, body))
    assert response.status_code == 400


def test_plain_callbacks_with_only_a_verification_token(
        feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory, run_server: Start,
        handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(encrypt_key=""), handler)
    ok = httpx.post(f"{server.url}/feishu/events", json=message_event("@_user_1 hi"))
    assert ok.status_code == 200
    wait_for(lambda: feishu_api.calls_to("reply"), what="a reply")
    forged = message_event("@_user_1 hi")
    forged["header"]["token"] = "forged"
    assert httpx.post(f"{server.url}/feishu/events", json=forged).status_code == 401


def test_slow_message_gets_a_progress_card_patched_with_the_answer(
        tmp_path: Any, feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory,
        run_server: Start, handler: ScriptedHandler) -> None:
    server = run_server(feishu_settings(progress_after_s=0.2), handler)
    send(server, message_event("@_user_1 slow question"))
    (progress,) = feishu_api.wait_calls("reply")
    progress_card = json.loads(progress.body["content"])
    assert progress_card["body"]["elements"][0]["content"] == "Working on it…"
    handler.gate.set()
    (patch,) = feishu_api.wait_calls("patch")
    assert patch.path == "/open-apis/im/v1/messages/om_reply_1"
    assert "You said: slow question" in patch.body["content"]


def test_charts_are_uploaded_and_shown_on_the_card(
        tmp_path: Any, feishu_api: FakeFeishuApi, feishu_settings: SettingsFactory,
        run_server: Start, handler: ScriptedHandler) -> None:
    chart = tmp_path / "cpu.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    handler.images.append(str(chart))
    server = run_server(feishu_settings(), handler)
    send(server, message_event("@_user_1 /rca checkout"))
    (reply,) = feishu_api.wait_calls("reply")
    (upload,) = feishu_api.calls_to("image")
    assert b'name="image_type"' in upload.raw and b"\x89PNG" in upload.raw
    images = [e for e in json.loads(reply.body["content"])["body"]["elements"]
              if e["tag"] == "img"]
    assert [e["img_key"] for e in images] == ["img_v3_1"]
