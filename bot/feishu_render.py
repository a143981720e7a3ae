"""Neutral replies as Feishu/Lark cards (JSON 2.0).

Every reply is a card, even a plain answer: only cards can be patched in place, which
the progress message and clicked approval cards need (``update_multi`` makes the update
visible to everyone in the chat). Feishu's markdown element reads common Markdown, so
text passes through. A button's callback value carries what the click handler needs
and the callback does not tell: the neutral action id and value, the kind and id of the
card, and the thread to answer in.
"""

from __future__ import annotations

from typing import Any

from graph import chat

__all__ = ["button_value", "parse_button_value", "render_card", "toast"]

_TEMPLATES = {
    "answer": "blue",
    "card": "indigo",
    "question": "wathet",
    "error": "red",
    "progress": "grey",
    "approval": "orange",
}
# A card without a title has no header, except an approval card, which must stand out.
_DEFAULT_TITLES = {"approval": "Approval needed"}
_BUTTON_TYPES = {"primary": "primary_filled", "danger": "danger_filled", "default": "default"}
_MAX_TEXT = 8000       # keeps a long card under Feishu's 30 KB card limit
_MAX_ELEMENTS = 150    # Feishu allows 200 components; room for buttons and footnote
_MAX_BUTTONS = 20
_VALUE_MARK = "opsbot"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markdown(content: str, **extra: Any) -> dict[str, Any]:
    return {"tag": "markdown", "content": _cut(content, _MAX_TEXT), **extra}


def _fields(fields: list[chat.ReplyField]) -> list[dict[str, Any]]:
    """Label/value pairs two to a row."""
    rows = []
    for start in range(0, len(fields), 2):
        columns = [{"tag": "column", "width": "weighted", "weight": 1,
                    "elements": [_markdown(f"**{f.label}**\n{f.value}")]}
                   for f in fields[start:start + 2]]
        rows.append({"tag": "column_set", "flex_mode": "bisect", "columns": columns})
    return rows


def button_value(button: chat.Button, reply: chat.ChatReply, thread: str) -> dict[str, str]:
    return {_VALUE_MARK: "1", "action_id": button.action_id, "value": button.value,
            "kind": reply.kind, "card_id": reply.card_id, "thread": thread}


def parse_button_value(value: Any) -> dict[str, str] | None:
    """The fields of one of our button values; None for anything else."""
    if not isinstance(value, dict) or value.get(_VALUE_MARK) != "1":
        return None
    return {key: str(value.get(key, "")) for key in
            ("action_id", "value", "kind", "card_id", "thread")}


def _buttons(reply: chat.ChatReply, thread: str) -> list[dict[str, Any]]:
    if not reply.buttons:
        return []
    columns = []
    for button in reply.buttons[:_MAX_BUTTONS]:
        columns.append({"tag": "column", "width": "auto", "elements": [{
            "tag": "button",
            "text": {"tag": "plain_text", "content": _cut(button.label, 40)},
            "type": _BUTTON_TYPES.get(button.style, "default"),
            "behaviors": [{"type": "callback",
                           "value": button_value(button, reply, thread)}],
        }]})
    return [{"tag": "column_set", "flex_mode": "flow", "columns": columns}]


def render_card(reply: chat.ChatReply, *, thread: str = "",
                image_keys: list[str] | None = None) -> dict[str, Any]:
    """A card 2.0 document for one reply; ``image_keys`` are uploaded charts."""
    elements: list[dict[str, Any]] = []
    if reply.text:
        elements.append(_markdown(reply.text))
    elements.extend(_fields(reply.fields))
    for section in reply.sections:
        if elements:
            elements.append({"tag": "hr"})
        if section.title:
            elements.append(_markdown(f"**{section.title}**"))
        if section.text:
            elements.append(_markdown(section.text))
        elements.extend(_fields(section.fields))
    for key in image_keys or []:
        elements.append({"tag": "img", "img_key": key,
                         "alt": {"tag": "plain_text", "content": "chart"}})
    tail = _buttons(reply, thread)
    if reply.footnote:
        tail.append(_markdown(reply.footnote, text_size="notation"))
    if len(elements) + len(tail) > _MAX_ELEMENTS:
        elements = [*elements[:_MAX_ELEMENTS - len(tail) - 1],
                    _markdown("… (cut to fit Feishu's limits)")]
    card: dict[str, Any] = {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": _cut(reply.text, 100)}},
        "body": {"elements": elements + tail},
    }
    title = reply.title or _DEFAULT_TITLES.get(reply.kind, "")
    if title:
        card["header"] = {"title": {"tag": "plain_text", "content": _cut(title, 100)},
                          "template": _TEMPLATES.get(reply.kind, "blue")}
    return card


def toast(reply: chat.ChatReply | None) -> dict[str, str]:
    """The short toast a card click answers with."""
    if reply is None:
        return {"type": "info", "content": "Working on it…"}
    kind = {"error": "error", "question": "warning"}.get(reply.kind, "success")
    first_line = (reply.text or reply.title or "Done").strip().splitlines()[0]
    return {"type": kind, "content": _cut(first_line, 60)}
