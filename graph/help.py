"""The `help` route: what opsbot can do, with examples."""

from __future__ import annotations

from graph import chat

__all__ = ["help_reply"]

_COMMANDS = [
    ("/rca TARGET", "find the root cause of a failing workload, ranked with evidence"),
    ("/fix TARGET [what]", "propose a remediation; it runs only after an allowed approval"),
    ("/ask QUESTION", "answer from the team's runbooks and past incidents"),
    ("/predict TARGET [metric] [horizon]", "forecast load or resources and advise capacity"),
    ("/digest", "the health digest now"),
    ("/opsbot help", "this message"),
]
_EXAMPLES = [
    "list the pods in namespace shop",
    "show logs of worker",
    "events in shop",
    "error rate of checkout-api",
    "why is checkout failing?",
    "roll back worker",
    "how do I drain a node?",
    "orders 明天高峰需要几个副本？",
]


def help_reply(unknown_command: str = "", capabilities: dict[str, bool] | None = None) -> (
        chat.ChatReply):
    """The help card; names an unknown command first when that is why it is shown."""
    lines = [f"`{cmd}` — {what}" for cmd, what in _COMMANDS]
    text = "I'm opsbot, your on-call teammate. Ask in plain English or Chinese, or use a command."
    if unknown_command:
        text = f"I don't know the command `{unknown_command}`. " + text
    sections = [chat.Section(title="Commands", text="\n".join(lines)),
                chat.Section(title="Try", text="\n".join(f"• {e}" for e in _EXAMPLES))]
    if capabilities:
        off = [name for name, on in capabilities.items() if not on]
        if off:
            sections.append(chat.Section(title="Not available here",
                                         text=", ".join(off)))
    return chat.ChatReply(kind="card", title="opsbot help", text=text, sections=sections)
