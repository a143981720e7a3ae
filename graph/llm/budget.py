"""Token accounting for one chat request, which may take several model calls.

A tool loop that keeps calling could otherwise spend without bound on one question.
Counts before a call are estimates (no tokenizer download is possible offline, and
endpoints use different tokenizers); after a call the endpoint's reported usage is
charged when it reports one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tools import errors

__all__ = ["BudgetExhausted", "TokenBudget", "estimate_messages", "estimate_tokens",
           "truncate_to_tokens"]


class BudgetExhausted(errors.OpsbotError):
    """The request's token budget cannot pay for another model call."""


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate: ~3 ASCII characters per token, one per other character.

    Logs and JSON tokenise worse than prose, and CJK text is about one token a character.
    """
    if not text:
        return 0
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


def estimate_messages(messages: Iterable[Any], extra: str = "") -> int:
    total = estimate_tokens(extra)
    for message in messages:
        content = getattr(message, "content", message)
        total += 4 + estimate_tokens(content if isinstance(content, str) else str(content))
        for call in getattr(message, "tool_calls", None) or []:
            total += 8 + estimate_tokens(str(call.get("args", "")))
    return total


def truncate_to_tokens(text: str, tokens: int) -> str:
    """`text` cut so that its estimate fits `tokens`, with a marker saying it was cut."""
    if estimate_tokens(text) <= tokens:
        return text
    low, high = 0, len(text)
    while low < high:  # the estimate is monotonic in the prefix length
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle]) <= max(0, tokens - 8):
            low = middle
        else:
            high = middle - 1
    return text[:low] + "\n[... cut to fit the token budget]"


class TokenBudget:
    """Tokens one chat request may still spend on model calls."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.calls = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def ensure(self, estimate: int) -> None:
        """Refuse a call whose estimated cost exceeds what is left."""
        if estimate > self.remaining:
            raise BudgetExhausted(f"a model call needs about {estimate} tokens and only "
                                  f"{self.remaining} of {self.limit} are left for this request")

    def charge(self, tokens: int) -> None:
        self.used += max(0, tokens)
        self.calls += 1
