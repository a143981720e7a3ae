"""Approval cards: pending (with Approve / Reject) and decided (no buttons, who and when)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graph import chat

__all__ = ["decided_card", "pending_card"]

_RISK_ICON = {"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _common(record: dict[str, Any]) -> tuple[list[chat.ReplyField], list[chat.Section]]:
    action = record["action"]
    fields = [
        chat.ReplyField(label="Risk", value=f"{_RISK_ICON.get(action['risk'], '')} "
                        f"{action['risk']}"),
        chat.ReplyField(label="Requested by", value=record["requester"]),
        chat.ReplyField(label="Target", value=action["resource"]),
        chat.ReplyField(label="Expires", value=_when(record["expires_at"])),
    ]
    if record.get("needed", 1) > 1:
        have = len(record.get("approvals") or [])
        fields.append(chat.ReplyField(label="Approvals",
                                      value=f"{have}/{record['needed']} (distinct approvers)"))
    sections = [chat.Section(title="What will change (server-side dry run)",
                             text="```\n" + (record.get("diff") or "(no diff)")[:2800] + "\n```")]
    if record.get("evidence"):
        sections.append(chat.Section(title="Why", text="\n".join(
            f"• {line}" for line in record["evidence"][:4])))
    return fields, sections


def pending_card(record: dict[str, Any]) -> chat.ChatReply:
    fields, sections = _common(record)
    action = record["action"]
    approvals = record.get("approvals") or []
    note = ""
    if approvals:
        note = " Approved so far by " + ", ".join(a["user"] for a in approvals) + "."
    if record.get("approvers_hint"):
        note += f" {record['approvers_hint']}"
    return chat.ChatReply(
        kind="approval", title=f"Approval needed [{record['id']}]",
        text=f"{action['summary']} — needs approval ({action['risk']} risk).{note}",
        fields=fields, sections=sections, card_id=record["id"],
        buttons=[chat.Button(action_id="approve", label="Approve", value=record["id"],
                             style="primary"),
                 chat.Button(action_id="reject", label="Reject", value=record["id"],
                             style="danger")],
        footnote=f"In the console: approve {record['id']} / reject {record['id']} [reason]")


def decided_card(record: dict[str, Any]) -> chat.ChatReply:
    """The card after a decision: the same facts, who decided and when, no buttons."""
    fields, sections = _common(record)
    status = record["status"]
    who = record.get("decided_by") or ", ".join(a["user"] for a in record.get("approvals") or [])
    when = _when(record["decided_at"]) if record.get("decided_at") else ""
    verdict = {"approved": "✅ Approved", "executed": "✅ Approved and executed",
               "failed": "⚠️ Approved, execution failed", "rejected": "❌ Rejected",
               "expired": "⌛ Expired"}.get(status, status)
    text = f"{record['action']['summary']} — {verdict}"
    if who and status != "expired":
        text += f" by {who}"
    if when:
        text += f" at {when}"
    if record.get("reason"):
        text += f" ({record['reason']})"
    return chat.ChatReply(kind="card", title=f"Approval [{record['id']}]", text=text,
                          fields=fields, sections=sections, replaces=record["id"],
                          card_id=record["id"])
