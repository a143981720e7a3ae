"""Conversation memory for the model: the last turns of one chat thread, in a token window.

The supervisor keeps this short list in its checkpointed state (one per thread), so a
follow-up ("and what do its logs say?") reaches the model with its context, across
restarts. Texts are redacted and cut before they are stored: the checkpoint is not a
place for secrets or whole cards.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph.llm import budget, redact, untrusted

__all__ = ["MAX_TURNS", "Turn", "remember", "render", "window"]

Turn = dict[str, str]  # {"role": "user" | "assistant", "text": ...}
MAX_TURNS = 8
_TURN_CHARS = 400


def window(history: Sequence[Turn], max_tokens: int) -> list[Turn]:
    """The newest turns whose estimated size fits `max_tokens`, oldest first."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        cost = 4 + budget.estimate_tokens(turn.get("text", ""))
        if used + cost > max_tokens:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))


def remember(history: Sequence[Turn] | None, user_text: str, reply_text: str, *,
             max_tokens: int = 800) -> list[Turn]:
    """`history` plus this exchange, trimmed to the window and `MAX_TURNS`."""
    turns = list(history or [])
    for role, text in (("user", user_text), ("assistant", reply_text)):
        text = redact.redact(" ".join(text.split()))
        if text:
            turns.append({"role": role, "text": text[:_TURN_CHARS]})
    return window(turns[-MAX_TURNS:], max_tokens)


def render(history: Sequence[Turn], fence: untrusted.Fence, max_tokens: int) -> str:
    """The recent conversation as one fenced block for a prompt, or "" when there is none."""
    turns = window(history, max_tokens)
    if not turns:
        return ""
    transcript = "\n".join(f"{t.get('role', 'user')}: {t.get('text', '')}" for t in turns)
    return "Earlier in this chat thread:\n" + fence.wrap(transcript, "chat history")
