"""Feishu card 2.0 rendering."""

from __future__ import annotations

import json

from bot import feishu_render
from graph import chat


def test_card_layout_and_button_callbacks() -> None:
    reply = chat.ChatReply(
        kind="approval", title="Scale checkout to 5?", text="**why**: saturation",
        fields=[chat.ReplyField(label="Risk", value="medium"),
                chat.ReplyField(label="Namespace", value="shop"),
                chat.ReplyField(label="Expires", value="10:30")],
        sections=[chat.Section(title="Diff", text="```\nreplicas: 3 -> 5\n```")],
        buttons=[chat.Button(action_id="approve", label="Approve", value="p1",
                             style="primary"),
                 chat.Button(action_id="reject", label="Reject", value="p1", style="danger")],
        footnote="asked by alice", card_id="p1")
    card = feishu_render.render_card(reply, thread="om_root", image_keys=["img_1"])
    assert card["schema"] == "2.0" and card["config"]["update_multi"] is True
    assert card["header"] == {"title": {"tag": "plain_text", "content": "Scale checkout to 5?"},
                              "template": "orange"}
    tags = [e["tag"] for e in card["body"]["elements"]]
    assert tags == ["markdown", "column_set", "column_set", "hr", "markdown", "markdown",
                    "img", "column_set", "markdown"]
    fields_row = card["body"]["elements"][1]
    assert [c["elements"][0]["content"] for c in fields_row["columns"]] == [
        "**Risk**\nmedium", "**Namespace**\nshop"]
    buttons = [c["elements"][0] for c in card["body"]["elements"][7]["columns"]]
    assert [b["type"] for b in buttons] == ["primary_filled", "danger_filled"]
    value = buttons[0]["behaviors"][0]["value"]
    assert buttons[0]["behaviors"][0]["type"] == "callback"
    assert feishu_render.parse_button_value(value) == {
        "action_id": "approve", "value": "p1", "kind": "approval", "card_id": "p1",
        "thread": "om_root"}
    assert card["body"]["elements"][-1]["text_size"] == "notation"
    json.dumps(card)  # serialisable as message content


def test_kinds_colours_and_toasts() -> None:
    assert "header" not in feishu_render.render_card(chat.ChatReply(text="plain"))
    error = feishu_render.render_card(chat.ChatReply(text="bad", kind="error", title="Oops"))
    assert error["header"]["template"] == "red"
    assert feishu_render.toast(chat.ChatReply(text="Denied: not allowed\nmore",
                                              kind="error")) == {"type": "error",
                                                                 "content": "Denied: not allowed"}
    assert feishu_render.toast(None)["type"] == "info"
    assert feishu_render.parse_button_value({"action_id": "x"}) is None
    assert feishu_render.parse_button_value("nope") is None


def test_long_cards_are_cut_but_keep_buttons() -> None:
    reply = chat.ChatReply(text="t" * 20000,
                           sections=[chat.Section(text=f"s{i}") for i in range(300)],
                           buttons=[chat.Button(action_id="ok", label="OK")])
    elements = feishu_render.render_card(reply)["body"]["elements"]
    assert len(elements) <= 150
    assert len(elements[0]["content"]) <= 8000
    assert elements[-1]["tag"] == "column_set"
    assert elements[-2]["content"].startswith("…")
