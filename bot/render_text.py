"""Render neutral replies as terminal text (console and `opsbot say`)."""

from __future__ import annotations

from graph import chat

__all__ = ["render_reply"]

_ICONS = {"error": "✖", "question": "?", "approval": "⚑", "progress": "…"}


def render_reply(reply: chat.ChatReply, *, width: int = 100) -> str:
    lines: list[str] = []
    icon = _ICONS.get(reply.kind, "")
    if reply.title:
        lines.append(f"── {reply.title} " + "─" * max(0, width - len(reply.title) - 4))
    lines.append(f"{icon} {reply.text}".strip())
    for field in reply.fields:
        lines.append(f"  {field.label}: {field.value}")
    for section in reply.sections:
        if section.title:
            lines.append(f"\n  {section.title}")
        if section.text:
            body = section.text.replace("```\n", "").replace("\n```", "").replace("```", "")
            lines.extend(f"    {line}" for line in body.splitlines())
        for field in section.fields:
            lines.append(f"    {field.label}: {field.value}")
    for image in reply.images:
        lines.append(f"  [chart: {image}]")
    if reply.buttons:
        lines.append("  Buttons (type the number to press):")
        for number, button in enumerate(reply.buttons, 1):
            lines.append(f"    [{number}] {button.label}")
    if reply.footnote:
        lines.append(f"  ({reply.footnote})")
    return "\n".join(lines)
