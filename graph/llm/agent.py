"""The model's tool loop for `query` questions the fixed lookups cannot answer in one
call ("which pod restarted most in shop and what do its logs say?").

The model sees the MCP server's read tools and `suggest_action` only. Each round it may
call a few tools; results are redacted, cut to `tool_output_chars`, numbered [n] and
fenced as untrusted data. After `max_steps` rounds, or when the request's token budget
runs low, it must answer from what it has. When the model fails, the offline answer is
returned with a note saying so.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage

from graph import chat, query, supervisor, targets
from graph.llm import budget as budget_mod
from graph.llm import catalog as catalog_mod
from graph.llm import client as client_mod
from graph.llm import memory, prompting, redact, suggest, untrusted
from tools import errors

__all__ = ["AgentLimits", "make_query_agent", "wants_agent"]

log = logging.getLogger(__name__)

# A question pasted with a whole log in it must not eat the request's budget.
_QUESTION_TOKENS = 1500


@dataclass(frozen=True)
class AgentLimits:
    max_steps: int = 5
    tool_output_chars: int = 3000
    calls_per_step: int = 4
    history_tokens: int = 600
    max_suggestions: int = 2


# Words that make a question more than one lookup: ranking, comparing, chaining.
_COMPOUND = re.compile(
    r"\b(?:most|least|highest|lowest|top|biggest|worst|busiest|compare|comparing|versus|"
    r"vs\.?|and (?:what|why|how|which|show|tell|also)|then)\b|最|哪个|哪些|对比|比较|然后|并且")
_CITATION = re.compile(r"\[(\d+)\]")


def wants_agent(text: str) -> bool:
    """Whether a `query` question needs more than the fixed one-call lookups."""
    kind = query.detect_query_kind(text)
    if kind.what == "promql":
        return False  # the user wrote the exact query; run it as written
    if kind.what == "status":
        return True
    return bool(_COMPOUND.search(text.lower()))


@dataclass
class _Evidence:
    number: int
    call: str
    summary: str


@dataclass
class _Run:
    """The state of one question's loop."""

    fence: untrusted.Fence
    evidence: list[_Evidence] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    suggestions: list[suggest.Suggestion] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    stopped: str = ""


def _cut(text: str, limit: int) -> str:
    """Head and tail of a long result: the start says what it is, the end of a log is
    usually where the failure is."""
    if len(text) <= limit:
        return text
    head = int(limit * 0.4)
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit} characters cut ...]\n{text[-tail:]}"


def _summary(result: dict[str, Any]) -> str:
    status = str(result.get("status", "?"))
    data = result.get("data")
    if status != "ok":
        return f"{status}: {redact.redact(str(result.get('message', '')))[:120]}"
    if isinstance(data, list):
        return f"ok, {len(data)} rows" + (" (truncated)" if result.get("truncated") else "")
    return "ok"


def _call_label(name: str, args: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return redact.redact(f"{name}({shown})")[:160]


def make_query_agent(client: client_mod.LLMClient, prompts: prompting.Prompts,
                     tools: targets.ToolCaller, catalog: catalog_mod.Catalog,
                     limits: AgentLimits | None = None) -> supervisor.QueryAgent:
    """The supervisor's `query_agent` hook."""
    limits = limits or AgentLimits()

    async def run_call(run: _Run, call: dict[str, Any], read_names: set[str]) -> str:
        name = str(call.get("name", ""))
        args = call.get("args")
        if name == suggest.SUGGEST_TOOL_NAME:
            parsed = suggest.parse_suggestion(args, "\n".join(run.seen))
            if isinstance(parsed, str):
                return f"suggestion refused: {parsed}"
            if len(run.suggestions) >= limits.max_suggestions:
                return "suggestion refused: enough suggestions for one answer"
            run.suggestions.append(parsed)
            return ("recorded: the engineer gets a button that starts the approval flow for "
                    "this change; nothing was run")
        if name not in read_names:
            run.refused.append(name[:60])
            log.warning("model asked for tool %r, which it does not have; refused", name)
            return f"refused: {name} is not one of your tools; you only have read-only tools"
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            return "refused: arguments must be a JSON object"
        result = await tools.call(name, **args)
        number = len(run.evidence) + 1
        payload = _cut(json.dumps(redact.redact_data(result), ensure_ascii=False, default=str),
                       limits.tool_output_chars)
        run.seen.append(payload)
        label = _call_label(name, args)
        run.evidence.append(_Evidence(number, label, _summary(result)))
        return f"[{number}] {label}\n" + run.fence.wrap(payload, f"[{number}] {name}")

    async def loop(run: _Run, messages: list[BaseMessage], bound: list[dict[str, Any]],
                   read_names: set[str]) -> str:
        budget = client.new_budget()
        steps = 0
        while True:
            if steps >= limits.max_steps:
                run.stopped = f"stopped after {limits.max_steps} rounds of lookups"
                break
            try:
                answer = await client.complete(messages, budget=budget, tools=bound,
                                               purpose="query")
            except budget_mod.BudgetExhausted:
                run.stopped = "stopped at the token budget of this request"
                break
            messages.append(answer)
            if not answer.tool_calls:
                return answer.text
            steps += 1
            for index, call in enumerate(answer.tool_calls):
                content = (await run_call(run, dict(call), read_names)
                           if index < limits.calls_per_step else
                           f"skipped: at most {limits.calls_per_step} calls per round")
                messages.append(ToolMessage(content, tool_call_id=call.get("id") or ""))
        messages.append(HumanMessage(
            f"No more lookups are possible ({run.stopped}). Answer now from the evidence "
            "above, citing it, and say what is still unknown."))
        try:
            final = await client.complete(messages, budget=budget, tools=bound,
                                          tool_choice="none", purpose="query-final")
        except budget_mod.BudgetExhausted:
            return ""
        return "" if final.tool_calls else final.text

    async def offline(text: str, target: targets.Target | None, namespace: str | None,
                      note: str) -> chat.ChatReply:
        reply = await query.answer_query(tools, text, target, namespace)
        reply.footnote = f"{reply.footnote} {note}".strip()
        return reply

    async def answer(text: str, target: targets.Target | None, namespace: str | None,
                     history: Sequence[memory.Turn]) -> chat.ChatReply | None:
        if not wants_agent(text):
            return None
        try:
            read_tools = await catalog.tools()
        except errors.OpsbotError as exc:
            log.warning("read tools unavailable for the model: %s", exc)
            return None
        bound = [t.openai() for t in read_tools] + [suggest.SUGGEST_TOOL]
        catalog_mod.assert_read_only([b["function"]["name"] for b in bound],
                                     also_allowed=[suggest.SUGGEST_TOOL_NAME])
        run = _Run(untrusted.new_fence())
        known = [f"target {target.ref}"] if target else []
        if namespace:
            known.append(f"namespace {namespace}")
        system = (prompts["system"].render(fence_rule=run.fence.describe()) + "\n"
                  + prompts["query_agent"].render(max_steps=str(limits.max_steps),
                                                  context="; ".join(known) or "nothing yet"))
        earlier = memory.render(history, run.fence, limits.history_tokens)
        question = run.fence.wrap(budget_mod.truncate_to_tokens(text, _QUESTION_TOKENS),
                                  "chat question from the on-call engineer")
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(
            (earlier + "\n\n" if earlier else "") + "Question:\n" + question)]
        try:
            written = await loop(run, messages, bound, {t.name for t in read_tools})
        except client_mod.LLMUnavailable as exc:
            return await offline(text, target, namespace, f"(The language model is "
                                 f"unavailable: {exc.detail}; this is the offline answer.)")
        written = redact.redact(written.strip())
        if not written or not run.evidence:
            # Without live evidence an answer would not be grounded: use the lookups.
            return await offline(text, target, namespace, "(The language model gave no "
                                 "answer grounded in lookups; this is the offline answer.)")
        return _reply(written, run, target)

    return answer


def _reply(written: str, run: _Run, target: targets.Target | None) -> chat.ChatReply:
    cited = {int(n) for n in _CITATION.findall(written) if 0 < int(n) <= len(run.evidence)}
    sections = [chat.Section(title="Evidence", text="\n".join(
        f"[{e.number}] `{e.call}` → {e.summary}" for e in run.evidence))]
    if run.refused:
        sections.append(chat.Section(title="Refused", text=(
            "The model asked for tools it does not have: "
            + ", ".join(sorted(set(run.refused))) + ". Nothing was run.")))
    count = len(run.evidence)
    notes = [f"Written by the LLM from {count} read-only lookup{'s' if count != 1 else ''}; "
             "nothing was changed."]
    if run.stopped:
        notes.append(f"The model {run.stopped}.")
    if not cited:
        notes.append("It cited none of the lookups: check the evidence.")
    if run.suggestions:
        notes.append("Suggested changes run only after approval.")
    return chat.ChatReply(kind="answer", title=f"Answer: {target.ref}" if target else "Answer",
                          text=written, sections=sections,
                          buttons=[suggest.button_for(s) for s in run.suggestions],
                          footnote=" ".join(notes))
