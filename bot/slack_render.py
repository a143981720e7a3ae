"""Neutral replies as Slack Block Kit, within Block Kit's limits.

The graph writes common Markdown; Slack's ``mrkdwn`` differs (``*bold*``, ``_italic_``,
``<url|label>``, and ``&``, ``<``, ``>`` must be escaped). Code spans and blocks are kept
as they are. Anything over a limit is cut with "…" rather than rejected by Slack: a
truncated card is better than no card during an incident. Buttons and the footnote are
kept whatever is cut, because an approval card without its buttons is useless.

Button action ids must be unique within a message, the neutral ones need not be, so
they are sent as ``opsbot:<index>:<action_id>`` and decoded on the way back. The actions
block's ``block_id`` carries the card's kind and id, which a click payload returns.
"""

from __future__ import annotations

import re
from typing import Any

from graph import chat

__all__ = [
    "ACTION_PREFIX",
    "MAX_BLOCKS",
    "MAX_BUTTONS",
    "MAX_FIELDS",
    "MAX_SECTION_CHARS",
    "decode_action_id",
    "decode_block_id",
    "encode_action_id",
    "fallback_text",
    "render_blocks",
    "to_mrkdwn",
]

ACTION_PREFIX = "opsbot:"
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_BUTTONS = 25
MAX_HEADER_CHARS = 150
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_VALUE = 2000
MAX_FALLBACK_CHARS = 3000

_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+|mailto:[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(.+?)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)
_BOLD_MARK = "\x00B\x00"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _convert_prose(text: str) -> str:
    text = _escape(text)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    # Single-star emphasis only after bold is out of the way; bullets first so that
    # "* item" is not mistaken for emphasis.
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return text.replace(_BOLD_MARK, "*")


def to_mrkdwn(markdown: str) -> str:
    """Convert common Markdown to Slack mrkdwn, leaving code untouched (but escaped)."""
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(markdown):
        out.append(_convert_prose(markdown[last:match.start()]))
        out.append(_escape(match.group(0)))
        last = match.end()
    out.append(_convert_prose(markdown[last:]))
    return "".join(out)


def encode_action_id(index: int, action_id: str) -> str:
    return _cut(f"{ACTION_PREFIX}{index}:{action_id}", MAX_ACTION_ID)


def decode_action_id(encoded: str) -> str:
    """The neutral action id of an encoded one; foreign ids come back unchanged."""
    if not encoded.startswith(ACTION_PREFIX):
        return encoded
    _, _, rest = encoded[len(ACTION_PREFIX):].partition(":")
    return rest


def _block_id(reply: chat.ChatReply) -> str:
    return _cut(f"{ACTION_PREFIX}{reply.kind}:{reply.card_id}", 255)


def decode_block_id(block_id: str) -> tuple[str, str]:
    """(kind, card_id) of a card's actions block; ("", "") for anything else."""
    if not block_id.startswith(ACTION_PREFIX):
        return "", ""
    kind, _, card_id = block_id[len(ACTION_PREFIX):].partition(":")
    return kind, card_id


def _section(text: str) -> dict[str, Any]:
    return {"type": "section",
            "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION_CHARS)}}


def _text_sections(markdown: str) -> list[dict[str, Any]]:
    """A long text as consecutive sections, split on line boundaries where possible."""
    text = to_mrkdwn(markdown).strip()
    blocks: list[dict[str, Any]] = []
    while text:
        if len(text) <= MAX_SECTION_CHARS:
            blocks.append(_section(text))
            break
        split = text.rfind("\n", 0, MAX_SECTION_CHARS)
        if split < MAX_SECTION_CHARS // 2:
            split = MAX_SECTION_CHARS
        blocks.append(_section(text[:split]))
        text = text[split:].lstrip("\n")
    return blocks


def _field_sections(fields: list[chat.ReplyField]) -> list[dict[str, Any]]:
    blocks = []
    for start in range(0, len(fields), MAX_FIELDS):
        chunk = fields[start:start + MAX_FIELDS]
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn",
             "text": _cut(f"*{_escape(f.label)}*\n{to_mrkdwn(f.value)}", MAX_FIELD_CHARS)}
            for f in chunk]})
    return blocks


def _actions(reply: chat.ChatReply) -> list[dict[str, Any]]:
    if not reply.buttons:
        return []
    elements = []
    for index, button in enumerate(reply.buttons[:MAX_BUTTONS]):
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(button.label, MAX_BUTTON_TEXT),
                     "emoji": True},
            "action_id": encode_action_id(index, button.action_id),
            "value": button.value[:MAX_VALUE],
        }
        if button.style in ("primary", "danger"):
            element["style"] = button.style
        elements.append(element)
    return [{"type": "actions", "block_id": _block_id(reply), "elements": elements}]


def render_blocks(reply: chat.ChatReply) -> list[dict[str, Any]]:
    """Block Kit blocks for one reply (header, text, fields, sections, buttons, footnote)."""
    body: list[dict[str, Any]] = []
    if reply.title:
        body.append({"type": "header", "text": {
            "type": "plain_text", "text": _cut(reply.title, MAX_HEADER_CHARS), "emoji": True}})
    if reply.text:
        body.extend(_text_sections(reply.text))
    body.extend(_field_sections(reply.fields))
    for section in reply.sections:
        if body and body[-1]["type"] != "header":
            body.append({"type": "divider"})
        heading = f"**{section.title}**\n" if section.title else ""
        if heading or section.text:
            body.extend(_text_sections(heading + section.text))
        body.extend(_field_sections(section.fields))
    tail = _actions(reply)
    if reply.footnote:
        tail.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": _cut(to_mrkdwn(reply.footnote), MAX_SECTION_CHARS)}]})
    room = MAX_BLOCKS - len(tail)
    if len(body) > room:
        body = [*body[:room - 1], _section("… (cut to fit Slack's limits)")]
    return body + tail


def fallback_text(reply: chat.ChatReply) -> str:
    """Notification and screen-reader text; Slack wants it beside the blocks."""
    text = reply.text or reply.title or "opsbot"
    return _cut(to_mrkdwn(text), MAX_FALLBACK_CHARS)
