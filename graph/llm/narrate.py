"""Narratives written by the model from evidence the bot collected: the RCA summary,
the digest opening and /ask answers. Each cites the numbered evidence it was given;
evidence text is fenced as untrusted data and redacted; an uncited narrative is dropped.

The ranking, the digest facts and the quoted runbooks never depend on these: they are
computed offline and the narrative is only laid on top.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from graph.llm import budget as budget_mod
from graph.llm import client as client_mod
from graph.llm import prompting, redact, untrusted
from graph.rca import subgraph

__all__ = ["AskAnswerer", "DigestNarrator", "cites", "make_ask_answerer",
           "make_digest_narrator", "make_rca_narrator"]

log = logging.getLogger(__name__)

DigestNarrator = Callable[[Sequence[str]], Awaitable[str]]
AskAnswerer = Callable[[str, list[Any]], Awaitable[str]]

_CITATION = re.compile(r"\[(\d+)\]")
_EVIDENCE_LINES = 6
_LINE_CHARS = 300
_EXCERPT_CHARS = 1500
_CJK = re.compile(r"[\u4e00-\u9fff]")


def cites(text: str, count: int) -> bool:
    """Whether `text` cites at least one of the `count` numbered items, and none beyond."""
    numbers = [int(n) for n in _CITATION.findall(text)]
    return bool(numbers) and all(0 < n <= count for n in numbers)


def _system(prompts: prompting.Prompts, task: str, fence: untrusted.Fence, **slots: str
            ) -> SystemMessage:
    return SystemMessage(prompts["system"].render(fence_rule=fence.describe()) + "\n"
                         + prompts[task].render(**slots))


async def _write(client: client_mod.LLMClient, messages: list[Any], count: int,
                 purpose: str) -> str:
    answer = await client.complete(messages, budget=client.new_budget(), purpose=purpose)
    text = redact.redact(answer.text.strip())
    if not cites(text, count):
        log.warning("LLM %s narrative cites no valid evidence; dropped", purpose)
        return ""
    return text


def make_rca_narrator(client: client_mod.LLMClient, prompts: prompting.Prompts, *,
                      note_on_failure: bool = True) -> subgraph.Narrator:
    """`RcaDeps.narrator`: a short explanation of the ranked causes, citing them.

    With `note_on_failure`, an unavailable model yields a one-line note instead of an
    error, so the reader knows why the summary is missing.
    """

    async def narrate(result: dict[str, Any]) -> str:
        fence = untrusted.new_fence()
        causes = list(result.get("causes") or [])[:3]
        blocks = []
        for number, cause in enumerate(causes, 1):
            actions = "; ".join(str(a.get("summary", "")) for a in cause.get("actions") or [])
            observed = "\n".join([str(cause.get("summary", "")), *(
                str(line)[:_LINE_CHARS] for line in (cause.get("evidence") or [])[
                    :_EVIDENCE_LINES])])
            blocks.append(
                f"[{number}] {cause.get('kind')} in {cause.get('resource')}, confidence "
                f"{float(cause.get('confidence', 0.0)):.0%}; proposed action: "
                f"{redact.redact(actions) or 'none'}\n"
                + fence.wrap(observed, f"[{number}] summary and evidence"))
        messages = [_system(prompts, "rca_narrative", fence),
                    HumanMessage("Ranked causes, best first:\n\n" + "\n\n".join(blocks))]
        try:
            return await _write(client, messages, len(causes), "rca")
        except (client_mod.LLMUnavailable, budget_mod.BudgetExhausted) as exc:
            if not note_on_failure:
                raise
            detail = exc.detail if isinstance(exc, client_mod.LLMUnavailable) else str(exc)
            return (f"_No summary: the language model is unavailable ({detail}). The "
                    "ranking below is the offline analysis._")

    return narrate


def make_digest_narrator(client: client_mod.LLMClient, prompts: prompting.Prompts
                         ) -> DigestNarrator:
    """The digest's opening from its facts (one line each); raises when the model is
    unavailable, so the digest shows its facts alone."""

    async def narrate(facts: Sequence[str]) -> str:
        if not facts:
            return ""
        fence = untrusted.new_fence()
        numbered = "\n".join(f"[{n}] {fact[:_LINE_CHARS]}" for n, fact in enumerate(facts, 1))
        messages = [_system(prompts, "digest_narrative", fence),
                    HumanMessage("Facts:\n" + fence.wrap(numbered, "digest facts"))]
        return await _write(client, messages, len(facts), "digest")

    return narrate


def make_ask_answerer(client: client_mod.LLMClient, prompts: prompting.Prompts
                      ) -> AskAnswerer:
    """`knowledge.answer.LLMAnswer`: a grounded answer citing the numbered excerpts.

    Hits are retrieval hits (title, source, text). Failures raise project errors, which
    the knowledge answer turns into the quoted, extractive answer.
    """

    async def answer(question: str, hits: list[Any]) -> str:
        fence = untrusted.new_fence()
        excerpts = "\n\n".join(
            f"[{n}] {getattr(hit, 'title', '')} ({getattr(hit, 'source', '')})\n"
            + fence.wrap(str(getattr(hit, "text", ""))[:_EXCERPT_CHARS], f"[{n}] excerpt")
            for n, hit in enumerate(hits, 1))
        language = "Chinese" if _CJK.search(question) else "English"
        messages = [_system(prompts, "ask_answer", fence, language=language),
                    HumanMessage("Question:\n" + fence.wrap(question, "chat question")
                                 + "\n\nExcerpts:\n" + excerpts)]
        answer_text = await client.complete(messages, budget=client.new_budget(),
                                            purpose="ask")
        # Uncited text is still returned: the knowledge card lists the closest runbooks
        # when nothing is cited, and "The runbooks do not cover this" cites nothing.
        return redact.redact(answer_text.text.strip())

    return answer
