"""Block Kit rendering: Markdown to mrkdwn, Block Kit limits, action id round trip."""

from __future__ import annotations

import pytest

from bot import slack_render
from graph import chat


@pytest.mark.parametrize(("markdown", "mrkdwn"), [
    ("**bold** and __strong__", "*bold* and *strong*"),
    ("*italic* but 2 * 3 * 4", "_italic_ but 2 * 3 * 4"),
    ("[runbook](https://rb.example/a?b=1&c=2)", "<https://rb.example/a?b=1&amp;c=2|runbook>"),
    ("## Evidence", "*Evidence*"),
    ("- one\n* two", "• one\n• two"),
    ("~~old~~", "~old~"),
    ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
    ("`**kept**` and ```\nx ** 2 < 3\n```", "`**kept**` and ```\nx ** 2 &lt; 3\n```"),
])
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert slack_render.to_mrkdwn(markdown) == mrkdwn


def test_action_ids_round_trip_and_are_unique() -> None:
    reply = chat.ChatReply(text="pick", kind="approval", card_id="plan-9", buttons=[
        chat.Button(action_id="choose", label="A", value="a"),
        chat.Button(action_id="choose", label="B", value="b", style="danger")])
    (actions,) = [b for b in slack_render.render_blocks(reply) if b["type"] == "actions"]
    ids = [e["action_id"] for e in actions["elements"]]
    assert len(set(ids)) == 2
    assert [slack_render.decode_action_id(i) for i in ids] == ["choose", "choose"]
    assert slack_render.decode_block_id(actions["block_id"]) == ("approval", "plan-9")
    assert "style" not in actions["elements"][0]
    assert actions["elements"][1]["style"] == "danger"
    assert slack_render.decode_action_id("someone-elses") == "someone-elses"
    assert slack_render.decode_block_id("xyz") == ("", "")


def test_full_reply_layout() -> None:
    reply = chat.ChatReply(
        title="T", text="**hi**", fields=[chat.ReplyField(label="Risk", value="high")],
        sections=[chat.Section(title="Why", text="because")], footnote="_note_")
    blocks = slack_render.render_blocks(reply)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "divider",
                                           "section", "context"]
    assert blocks[2]["fields"][0]["text"] == "*Risk*\nhigh"
    assert blocks[4]["text"]["text"] == "*Why*\nbecause"
    assert slack_render.fallback_text(reply) == "*hi*"


def test_limits_are_respected_and_buttons_survive() -> None:
    reply = chat.ChatReply(
        title="x" * 400, text="y" * 7000,
        fields=[chat.ReplyField(label=f"f{i}", value="v" * 3000) for i in range(23)],
        sections=[chat.Section(title=f"s{i}", text="z") for i in range(60)],
        buttons=[chat.Button(action_id=f"b{i}", label="L" * 100) for i in range(30)],
        footnote="end")
    blocks = slack_render.render_blocks(reply)
    assert len(blocks) == slack_render.MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= slack_render.MAX_SECTION_CHARS
        if "fields" in block:
            assert len(block["fields"]) <= slack_render.MAX_FIELDS
            assert all(len(f["text"]) <= 2000 for f in block["fields"])
    assert blocks[1]["text"]["text"] == "y" * 3000  # split, not lost
    assert blocks[-2]["type"] == "actions" and len(blocks[-2]["elements"]) == 25
    assert all(len(e["text"]["text"]) <= 75 for e in blocks[-2]["elements"])
    assert blocks[-1]["type"] == "context"
    assert blocks[-3]["text"]["text"].startswith("…")
