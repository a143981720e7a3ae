"""Feishu events and callbacks as Feishu sends them (schema 2.0)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fakes.harness import FEISHU_TOKEN

__all__ = ["CHAT", "button", "card_action", "message_event"]

CHAT = "oc_incidents"


def message_event(text: str, *, message_id: str = "om_root", chat_type: str = "group",
                  event_id: str | None = None, root_id: str = "",
                  mentioned: bool = True, sender_type: str = "user") -> dict[str, Any]:
    mentions = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "opsbot",
                 "tenant_key": "tk"}] if mentioned else []
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or uuid.uuid4().hex, "token": FEISHU_TOKEN,
                   "create_time": str(int(time.time() * 1000)),
                   "event_type": "im.message.receive_v1", "tenant_key": "tk",
                   "app_id": "cli_test"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_alice", "user_id": "alice",
                                     "union_id": "on_alice"},
                       "sender_type": sender_type, "tenant_key": "tk"},
            "message": {"message_id": message_id, "root_id": root_id, "parent_id": root_id,
                        "create_time": str(int(time.time() * 1000)), "chat_id": CHAT,
                        "chat_type": chat_type, "message_type": "text",
                        "content": json.dumps({"text": text}), "mentions": mentions},
        },
    }


def card_action(value: dict[str, Any], *, message_id: str,
                user: str = "ou_bob") -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {"event_id": uuid.uuid4().hex, "token": FEISHU_TOKEN,
                   "create_time": str(int(time.time() * 1000)),
                   "event_type": "card.action.trigger", "tenant_key": "tk",
                   "app_id": "cli_test"},
        "event": {"operator": {"tenant_key": "tk", "user_id": "bob", "open_id": user},
                  "token": "c-update-token", "host": "im_message",
                  "action": {"value": value, "tag": "button"},
                  "context": {"open_message_id": message_id, "open_chat_id": CHAT}},
    }


def button(card: dict[str, Any], label: str) -> dict[str, Any]:
    for row in card["body"]["elements"]:
        for column in row.get("columns", []):
            for element in column["elements"]:
                if element.get("tag") == "button" and element["text"]["content"] == label:
                    return dict(element["behaviors"][0]["value"])
    raise AssertionError(f"no button {label}")
