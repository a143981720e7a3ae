"""Which runbook section answers which kind of question.

Retrieval finds the right runbook well, but the section it ranks first is the one sharing
the most words with the question, and "how do I fix X" shares more words with the
Verification section ("... before the fix") than with Remediation. Runbooks here follow one
section order (Symptoms, How to confirm, Likely causes, Remediation, Verification,
Escalation, Related), so the question's intent picks the section to quote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["INTENTS", "Intent", "detect", "is_navigation", "matches_heading"]


@dataclass(frozen=True)
class Intent:
    name: str
    question: re.Pattern[str]   # what the question says
    heading: re.Pattern[str]    # what the section is called


def _re(*words: str) -> re.Pattern[str]:
    return re.compile("|".join(words), re.I)


# Checked in order: "how do I check whether ..." is about confirming, not fixing, although
# it starts like a how-to.
INTENTS = (
    Intent("confirm",
           _re(r"\bconfirm", r"\bcheck (?:if|whether|that|when)\b", r"\bwork out\b",
               r"\bfind (?:out|who|which)\b", r"\bdiagnos", r"\bhow (?:do|can) i (?:see|tell|know)",
               "确认", "判断", "排查", "怎么查", "如何查", "怎么看", "哪个", "是不是"),
           _re(r"\bconfirm", r"\bdiagnos", r"\bcheck", r"\binvestigat", "确认", "排查", "诊断")),
    Intent("cause",
           _re(r"\bwhy\b", r"\bcause", r"\breason", "为什么", "原因", "为何", "怎么回事"),
           _re(r"\bcause", r"\breason", "原因")),
    Intent("escalate",
           _re(r"\bescalat", r"\bwho (?:do|should) i (?:page|call|contact)", "升级给", "找谁",
               "联系谁"),
           _re(r"\bescalat", "升级")),
    Intent("remediate",
           _re(r"\bfix", r"\bresolv", r"\bremediat", r"\bmitigat", r"\brecover", r"\brepair",
               r"\bsolve", r"\bwhat (?:do|should) (?:i|we) do\b", r"\bwhat now\b",
               r"\bhow (?:do|can|should) (?:i|we)\b", r"\bhow to\b", r"\bget around\b",
               "怎么办", "怎么处理", "如何处理", "解决", "修复", "处置", "恢复", "怎么", "如何"),
           _re(r"\bremediat", r"\bmitigat", r"\bfix", r"\bresolution", r"\bworkaround",
               "处置", "处理", "解决", "修复", "缓解")),
)

# Sections that point elsewhere instead of answering anything.
_NAVIGATION = _re(r"^\s*(?:related|see also|references?)\b", r"^\s*相关")


def detect(question: str) -> Intent | None:
    """The first intent whose question pattern the question matches, if any."""
    return next((intent for intent in INTENTS if intent.question.search(question)), None)


def matches_heading(intent: Intent, heading: str) -> bool:
    return bool(intent.heading.search(heading))


def is_navigation(heading: str) -> bool:
    """True for "Related" / "相关" sections: lists of other runbooks, not answers."""
    return bool(_NAVIGATION.search(heading))
