"""Answers from retrieved chunks, as neutral chat cards.

With no LLM the answer is extractive: the most relevant passage(s) quoted verbatim, each
with its source, plus the other runbooks that matched. Quoting instead of paraphrasing is
deliberate: on-call commands must be exactly what the runbook says. With an LLM hook the
model writes a short answer that cites the numbered excerpts it used, and the card lists
those sources; when it fails, the extractive answer stands in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from graph import chat
from knowledge import glossary as glossary_mod
from knowledge import intent as intent_mod
from knowledge import retrieval
from knowledge import text as text_mod
from tools import errors

__all__ = [
    "EMPTY_INDEX_TEXT",
    "LLMAnswer",
    "best_excerpt",
    "choose_passages",
    "coverage",
    "extractive_reply",
    "llm_reply",
    "make_llm_answerer",
    "no_index_reply",
    "source_link",
]

log = logging.getLogger(__name__)

LLMAnswer = Callable[[str, list[retrieval.Hit]], Awaitable[str]]

EMPTY_INDEX_TEXT = "No runbooks indexed yet, run `opsbot kb ingest DIR` (for example " \
    "`opsbot kb ingest knowledge/runbooks`)."
_PROMPT = Path(__file__).with_name("prompts") / "answer.md"
# Quotes longer than this are cut to their most relevant paragraphs: a card is read on a
# phone in the middle of an incident.
QUOTE_CHARS = 900
# Below this share of the question's terms found in the best runbook, the answer says it
# may not cover the question. Measured on the shipped set: 5 of 60 real questions fall
# below it, and 6 of 8 off-topic ones (recipes, sports, travel); term overlap cannot do
# better, so the answer hedges instead of refusing. An LLM, when configured, judges.
MIN_COVERAGE = 0.3
_NOT_COVERED = re.compile(r"runbooks do not cover|not covered|没有覆盖|未覆盖", re.I)

_LABELS = {
    "en": {"title": "From the runbooks", "related": "Related runbooks",
           "none": "I found no runbook that covers this.", "closest": "Closest runbooks",
           "unsure": "I'm not sure the runbooks cover this; the closest passage:",
           "foot": "Quoted from the runbooks (no LLM configured); check before acting.",
           "sources": "Sources", "llm_foot": "Written by the LLM from the cited runbooks.",
           "llm_down": "The LLM is unavailable, so this is quoted from the runbooks."},
    "zh": {"title": "来自 runbook 的答案", "related": "相关 runbook",
           "none": "没有找到覆盖这个问题的 runbook。", "closest": "最接近的 runbook",
           "unsure": "不确定 runbook 是否覆盖这个问题，最接近的内容：",
           "foot": "以上内容摘自 runbook（未配置 LLM），执行前请核对。",
           "sources": "引用来源", "llm_foot": "由 LLM 根据所引用的 runbook 撰写。",
           "llm_down": "LLM 不可用，以下内容直接摘自 runbook。"},
}


def _labels(question: str) -> dict[str, str]:
    return _LABELS[text_mod.detect_lang(question)]


def no_index_reply() -> chat.ChatReply:
    return chat.ChatReply(kind="error", text=EMPTY_INDEX_TEXT)


def source_link(hit: retrieval.Hit, link_base: str = "") -> str:
    """Markdown for the hit's source: a link when a base URL is configured."""
    where = hit.source + (f"#{hit.anchor}" if hit.anchor else "")
    if hit.kind == "incident":
        return f"incident `{hit.extra.get('id') or hit.source}`"
    if link_base:
        return f"[{hit.doc_title or hit.source}]({link_base.rstrip('/')}/{where})"
    return f"`{where}`"


def _terms(text: str) -> set[str]:
    return {glossary_mod.stem(t) if t.isascii() else t for t in text_mod.tokens(text)}


def coverage(question: str, text: str, glossary: glossary_mod.Glossary | None = None) -> float:
    """Share of the question's terms that ``text`` mentions, in either language.

    Ranking always puts something first; this says whether the first thing is about the
    question at all. The text is expanded with the glossary, so an English question is
    measured against a Chinese runbook's translated terms too.
    """
    terms = _terms(question)
    if not terms:
        return 0.0
    glossary = glossary or glossary_mod.load_default()
    known = _terms(text + "\n" + " ".join(glossary.expand(text)))
    return len(terms & known) / len(terms)


def choose_passages(question: str, hits: Sequence[retrieval.Hit],
                    sections: Sequence[retrieval.Hit] = ()) -> list[retrieval.Hit]:
    """The one or two passages to quote: the best runbook's section that the question's
    intent asks for (``sections`` are all of that runbook's, in order), then the section
    retrieval ranked first; never a "Related" list."""
    if not hits:
        return []
    top = hits[0]
    chosen: list[retrieval.Hit] = []
    wanted = intent_mod.detect(question)
    if wanted is not None:
        match = next((s for s in sections if s.headings_last and not intent_mod.is_navigation(
            s.headings_last) and intent_mod.matches_heading(wanted, s.headings_last)), None)
        if match is not None:
            match.score = top.score
            chosen.append(match)
    for hit in hits:
        if len(chosen) >= 2 or (chosen and hit.source != top.source):
            break
        if not intent_mod.is_navigation(hit.headings_last) and all(
                c.chunk_id != hit.chunk_id for c in chosen):
            chosen.append(hit)
    return chosen or [top]


def _section_text(hit: retrieval.Hit) -> str:
    return f"{hit.title}\n{' '.join(hit.tags)}\n{hit.text}"


def _blocks(passage: str) -> list[str]:
    """Paragraphs and list items, with fenced code kept in one piece."""
    blocks: list[str] = []
    in_fence = False
    for line in passage.splitlines():
        starts_item = bool(re.match(r"\s*(?:[-*+]|\d+[.)])\s", line))
        if in_fence or (blocks and line.strip() and not starts_item
                        and not line.lstrip().startswith("```") and blocks[-1] != ""):
            blocks[-1] += "\n" + line
        elif line.strip():
            blocks.append(line)
        else:
            blocks.append("")
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
    return [b for b in blocks if b.strip()]


def best_excerpt(passage: str, question: str, limit: int = QUOTE_CHARS, *,
                 from_start: bool = False) -> str:
    """The passage, or the run of its blocks that mentions the question's terms most
    (``from_start``: its opening, e.g. the first steps of a Remediation section)."""
    if len(passage) <= limit:
        return passage.strip()
    terms = set(text_mod.tokens(question))
    blocks = _blocks(passage)
    # A section's opening usually states its point: the first window gets a head start.
    scores = [len(terms & set(text_mod.tokens(block))) + (1 if i == 0 else 0)
              for i, block in enumerate(blocks)]
    best_start, best_score = 0, -1
    for start in range(1 if from_start else len(blocks)):
        size, score, end = 0, 0, start
        while end < len(blocks) and (size == 0 or size + len(blocks[end]) <= limit):
            size += len(blocks[end]) + 1
            score += scores[end]
            end += 1
        if score > best_score:
            best_start, best_score = start, score
    out: list[str] = []
    size = 0
    for block in blocks[best_start:]:
        if out and size + len(block) > limit:
            break
        out.append(block)
        size += len(block) + 1
    text = "\n".join(out)
    if len(text) > limit * 1.5:  # one giant block: cut it at a line
        text = text[: int(limit * 1.5)].rsplit("\n", 1)[0]
    prefix = "…\n" if best_start > 0 else ""
    suffix = "\n…" if best_start + len(out) < len(blocks) else ""
    return prefix + text + suffix


def _quote(excerpt: str) -> str:
    """Markdown quote of prose lines; fenced code stays a code block so it can be copied.

    A fence indented under a list item is moved to the margin: chat renderers show an
    indented fence inside a quote as plain text.
    """
    lines: list[str] = []
    in_fence, indent = False, 0
    for line in excerpt.splitlines():
        if line.lstrip().startswith("```"):
            if not in_fence:
                indent = len(line) - len(line.lstrip())
            in_fence = not in_fence
            lines.append(line.strip())
        elif in_fence:
            lines.append(line[indent:] if line[:indent].isspace() else line.lstrip())
        else:
            lines.append(f"> {line}" if line.strip() else ">")
    return "\n".join(lines)


def _related(hits: Sequence[retrieval.Hit], skip: set[str], link_base: str) -> str:
    seen, lines = set(skip), []
    for hit in hits:
        if hit.source in seen:
            continue
        seen.add(hit.source)
        lines.append(f"• {hit.doc_title} — {source_link(hit, link_base)}")
    return "\n".join(lines[:4])


def extractive_reply(question: str, hits: Sequence[retrieval.Hit], *, link_base: str = "",
                     sections: Sequence[retrieval.Hit] = ()) -> chat.ChatReply:
    """Quote the passages that answer the question, list the other runbooks that matched.

    ``sections`` are all sections of the best runbook when the caller has them: they let
    the intent pick the section and the coverage check read the whole runbook.
    """
    labels = _labels(question)
    if not hits:
        return chat.ChatReply(kind="answer", title=labels["title"], text=labels["none"])
    top = hits[0]
    context = "\n".join(_section_text(s) for s in sections) or _section_text(top)
    sure = coverage(question, context) >= MIN_COVERAGE
    quoted = choose_passages(question, hits, sections)
    if not sure:
        quoted = quoted[:1]
    wanted = intent_mod.detect(question)
    opening = {h.chunk_id for h in quoted
               if wanted is not None and intent_mod.matches_heading(wanted, h.headings_last)}
    blocks = [chat.Section(title=f"{hit.title} ({source_link(hit, link_base)})",
                           text=_quote(best_excerpt(hit.text, question,
                                                    from_start=hit.chunk_id in opening)))
              for hit in quoted]
    related = _related(hits, {h.source for h in quoted}, link_base)
    if related:
        blocks.append(chat.Section(title=labels["related"], text=related))
    lead = quoted[0]
    first = best_excerpt(lead.text, question, limit=280,
                         from_start=lead.chunk_id in opening).replace("\n", " ")
    text = f"{lead.title} — {source_link(lead, link_base)}:\n> {first}"
    if not sure:
        text = f"{labels['unsure']}\n{text}"
    return chat.ChatReply(kind="answer", title=labels["title"], text=text, sections=blocks,
                          footnote=labels["foot"])


def _excerpts(hits: Sequence[retrieval.Hit]) -> str:
    return "\n\n".join(f"[{n}] {hit.title} ({hit.source})\n{best_excerpt(hit.text, '', 1500)}"
                       for n, hit in enumerate(hits, start=1))


def make_llm_answerer(model: Any) -> LLMAnswer:
    """An :data:`LLMAnswer` over a LangChain chat model (e.g. ``ChatOpenAI``)."""
    template = _PROMPT.read_text(encoding="utf-8")

    async def answer(question: str, hits: list[retrieval.Hit]) -> str:
        language = "Chinese" if text_mod.detect_lang(question) == "zh" else "English"
        prompt = template.format(question=question, excerpts=_excerpts(hits),
                                 language=language)
        message = await model.ainvoke(prompt)
        content = getattr(message, "content", message)
        return content if isinstance(content, str) else str(content)

    return answer


async def llm_reply(question: str, hits: Sequence[retrieval.Hit], llm: LLMAnswer, *,
                    link_base: str = "") -> chat.ChatReply:
    """A grounded answer citing the excerpts it used; extractive when the model fails."""
    labels = _labels(question)
    try:
        text = (await llm(question, list(hits))).strip()
    except (errors.OpsbotError, OSError, TimeoutError, ValueError) as exc:
        log.warning("LLM answer failed, falling back to quotes: %s", exc)
        text = ""
    if not text:
        reply = extractive_reply(question, hits, link_base=link_base)
        reply.footnote = labels["llm_down"]
        return reply
    cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", text) if 0 < int(n) <= len(hits)})
    sources = "\n".join(f"[{n}] {hits[n - 1].title} — {source_link(hits[n - 1], link_base)}"
                        for n in cited)
    sections = [chat.Section(title=labels["sources"], text=sources)] if sources else []
    if not cited or _NOT_COVERED.search(text):
        related = _related(hits, {hits[n - 1].source for n in cited}, link_base)
        if related:
            sections.append(chat.Section(title=labels["closest"], text=related))
    return chat.ChatReply(kind="answer", title=labels["title"], text=text, sections=sections,
                          footnote=labels["llm_foot"])
