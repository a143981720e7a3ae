"""The RCA reply card: summary line, top causes with confidence and evidence, and the
proposed actions as buttons that start the approval flow."""

from __future__ import annotations

import json
from typing import Any

from graph import chat

__all__ = ["rca_card"]

_MAX_CAUSES = 3


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def rca_card(target_ref: str, result: dict[str, Any]) -> chat.ChatReply:
    causes = result["causes"]
    took = result.get("took_s", 0.0)
    checked = result.get("checked") or [target_ref]
    missing = result.get("missing") or []
    footnote = f"Checked {', '.join(checked[:5])} in {took:.1f} s"
    if missing:
        footnote += "; not available: " + "; ".join(missing[:3])
    if not causes:
        return chat.ChatReply(kind="card", title=f"RCA: {target_ref}",
                              text=f"Nothing wrong found with {target_ref}: pods, events, "
                              "logs and metrics look normal for the window.",
                              footnote=footnote)
    top = causes[0]
    sections: list[chat.Section] = []
    buttons: list[chat.Button] = []
    for number, cause in enumerate(causes[:_MAX_CAUSES], 1):
        bullets = "\n".join(f"• {line}" for line in cause["evidence"][:4])
        heading = f"{number}. {cause['kind']} — {cause['resource']}"
        sections.append(chat.Section(title=f"{heading} ({_percent(cause['confidence'])})",
                                     text=f"{cause['summary']}\n{bullets}"))
        for action in cause["actions"][:2]:
            if len(buttons) < 4:
                buttons.append(chat.Button(action_id="propose_fix", label=action["summary"][:70],
                                           value=json.dumps(action), style="primary"
                                           if not buttons else "default"))
    similar = result.get("similar") or []
    if similar:
        sections.append(chat.Section(title="Seen before", text="\n".join(
            f"• {s}" for s in similar[:3])))
    buttons += [chat.Button(action_id="feedback", label="👍 Helpful", value="good"),
                chat.Button(action_id="feedback", label="👎 Wrong", value="bad")]
    headline = (f"Most likely cause of trouble in {target_ref}: {top['kind']} in "
                f"{top['resource']} ({_percent(top['confidence'])}) — {top['summary']}")
    return chat.ChatReply(kind="card", title=f"RCA: {target_ref}", text=headline,
                          sections=sections, buttons=buttons, footnote=footnote)
