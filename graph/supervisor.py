"""The LangGraph supervisor: every message goes route -> resolve -> one route node.

One checkpoint thread per chat thread (platform:channel:thread), so the conversation's
last target survives between messages and across restarts. Route nodes are async
functions `(state, deps) -> list[ChatReply]`; later capabilities register theirs in
`SupervisorDeps.handlers` and the rest answer plainly that they are not available.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from graph import chat, help, intents, query, router, targets
from graph.llm import memory, redact

__all__ = ["ROUTES", "Handler", "SupervisorDeps", "SupervisorState", "build_supervisor",
           "run_turn"]

log = logging.getLogger(__name__)

ROUTES = ("ask", "query", "rca", "fix", "predict", "digest", "feedback", "help")
# Internal routes reached by buttons and typed decisions, not by the classifier.
ACTION_ROUTES = ("decision", "propose")
# Routes that are about one object and cannot run without it.
_NEEDS_TARGET = {"rca", "fix", "predict"}


class SupervisorState(TypedDict, total=False):
    request: dict[str, Any]
    route: str
    args: str
    confidence: float
    phrase: str | None
    namespace: str | None
    target: dict[str, str] | None
    last_target: dict[str, str] | None
    replies: list[dict[str, Any]]
    # The last few exchanges, redacted and cut (LLM mode only): the model's context.
    history: list[dict[str, str]]


Handler = Callable[[SupervisorState, targets.Target | None], Awaitable[list[chat.ChatReply]]]


FallbackRouter = Callable[[str, router.Route], Awaitable[router.Route | None]]
# (text, target, namespace, recent history) -> an answer, or None for the fixed lookups.
QueryAgent = Callable[[str, targets.Target | None, str | None, list[dict[str, str]]],
                      Awaitable[chat.ChatReply | None]]


@dataclass
class SupervisorDeps:
    tools: targets.ToolCaller
    classifier: intents.IntentClassifier
    checkpointer: BaseCheckpointSaver[Any] | None = None
    handlers: dict[str, Handler] = field(default_factory=dict)
    # Optional model hooks (LLM mode); None keeps everything offline.
    fallback_router: FallbackRouter | None = None
    fallback_below: float = 0.6
    query_agent: QueryAgent | None = None


_COMING = {
    "ask": "answers from runbooks and past incidents",
    "rca": "root-cause analysis",
    "fix": "remediation with approvals",
    "predict": "forecasts and capacity advice",
    "digest": "the health digest",
    "feedback": "feedback on past answers",
}


def _replies(*items: chat.ChatReply) -> dict[str, Any]:
    # Every reply leaves through here: the one place that keeps secrets out of the chat.
    return {"replies": [redact.redact_reply(r).model_dump() for r in items]}


def build_supervisor(deps: SupervisorDeps) -> Any:
    """Compile the supervisor graph with the given tools, classifier and checkpointer."""
    resolver = targets.TargetResolver(deps.tools)

    async def route_node(state: SupervisorState) -> dict[str, Any]:
        request = chat.ChatRequest.model_validate(state["request"])
        if request.action is not None:
            routed = _route_action(request.action)
            if routed.get("route") == "decision":
                routed["args"] = json.dumps({"verdict": request.action.action_id,
                                             "id": request.action.value, "reason": ""})
            return routed
        typed = _route_decision_text(request.text)
        if typed:
            return typed
        decided = router.route_message(request.text, deps.classifier)
        if (deps.fallback_router is not None and decided.source == "classifier"
                and decided.confidence < deps.fallback_below):
            # An unsure classifier may ask the model; any failure keeps the offline route.
            better = await deps.fallback_router(request.text, decided)
            if better is not None:
                decided = better
        return {"route": decided.route, "args": decided.args,
                "confidence": decided.confidence, "phrase": decided.target,
                "namespace": decided.namespace, "target": None}

    async def resolve_node(state: SupervisorState) -> dict[str, Any]:
        if state.get("target") or state.get("route") == "error":
            return {}
        route = state["route"]
        phrase, namespace = state.get("phrase"), state.get("namespace")
        text = chat.ChatRequest.model_validate(state["request"]).text
        if route not in _NEEDS_TARGET and route != "query":
            return {}
        resolution = await resolver.resolve(phrase, namespace=namespace, text=text)
        if resolution.status == "found" and resolution.target:
            return {"target": resolution.target.to_dict(),
                    "last_target": resolution.target.to_dict()}
        if resolution.status == "unavailable":
            return {"route": "error", **_replies(chat.ChatReply(
                kind="error", text=f"I can't look that up right now: {resolution.message}. "
                "Runbook answers and help still work."))}
        if resolution.status == "ambiguous":
            return {"route": "error", **_replies(_clarify(route, text, resolution))}
        if (not phrase and state.get("last_target") and route != "query") or (
                route == "query" and not phrase and not namespace and state.get("last_target")
                and query.detect_query_kind(text).what in ("logs", "history", "metric")):
            return {"target": state["last_target"]}
        if route in _NEEDS_TARGET or phrase:
            message = resolution.message or "which workload do you mean?"
            return {"route": "error", **_replies(chat.ChatReply(
                kind="question", text=f"{message[0].upper()}{message[1:]}"))}
        return {}

    async def dispatch_node(state: SupervisorState) -> dict[str, Any]:
        route = state["route"]
        chosen = state.get("target")
        target = targets.Target.from_dict(chosen) if chosen else None
        text = chat.ChatRequest.model_validate(state["request"]).text
        if route in deps.handlers:
            return _replies(*await deps.handlers[route](state, target))
        if route == "help":
            unknown = state.get("args", "") if state.get("confidence", 1.0) == 1.0 else ""
            return _replies(help.help_reply(unknown_command=unknown if unknown.startswith(
                "/") else ""))
        if route == "query":
            if deps.query_agent is not None:
                # The agent takes the questions the fixed lookups cannot answer in one call
                # (it decides which); None means the fixed lookups answer.
                answered = await deps.query_agent(text, target, state.get("namespace"),
                                                  state.get("history") or [])
                if answered is not None:
                    return _replies(answered)
            return _replies(await query.answer_query(deps.tools, text, target,
                                                     state.get("namespace")))
        what = _COMING.get(route, route)
        return _replies(chat.ChatReply(
            text=f"That looks like a request for {what}, which this opsbot can't do yet. "
                 "I can look things up live (pods, logs, events, metrics) — try `/opsbot help`."))

    async def remembering_dispatch_node(state: SupervisorState) -> dict[str, Any]:
        update = await dispatch_node(state)
        if deps.query_agent is not None and update.get("replies"):
            # Only LLM mode needs memory; offline checkpoints stay as small as before.
            text = chat.ChatRequest.model_validate(state["request"]).text
            update["history"] = memory.remember(state.get("history"), text,
                                                str(update["replies"][0].get("text", "")))
        return update

    def after_resolve(state: SupervisorState) -> str:
        return END if state.get("route") == "error" else "dispatch"

    builder = StateGraph(SupervisorState)
    builder.add_node("route", route_node)
    builder.add_node("resolve", resolve_node)
    builder.add_node("dispatch", remembering_dispatch_node)
    builder.add_edge(START, "route")
    builder.add_edge("route", "resolve")
    builder.add_conditional_edges("resolve", after_resolve, ["dispatch", END])
    builder.add_edge("dispatch", END)
    return builder.compile(checkpointer=deps.checkpointer)


def _route_action(action: chat.ButtonAction) -> dict[str, Any]:
    """Buttons carry everything needed to continue, so a click needs no server-side memory."""
    if action.action_id == "choose_target":
        try:
            choice = json.loads(action.value)
            target = targets.Target.from_dict(choice["target"])
            route = str(choice["route"])
        except (ValueError, KeyError, TypeError):
            return {"route": "error", **_replies(chat.ChatReply(
                kind="error", text="That button's data is malformed; please ask again."))}
        return {"route": route, "args": str(choice.get("text", "")), "target":
                target.to_dict(), "last_target": target.to_dict(), "confidence": 1.0,
                "phrase": None, "namespace": target.namespace}
    if action.action_id == "rca":
        workload, _, namespace = action.value.partition("|")
        kind, _, name = workload.partition("/")
        if not name:
            return {"route": "error", **_replies(chat.ChatReply(
                kind="error", text="That button's data is malformed; please ask again."))}
        target = targets.Target(kind, namespace, name)
        return {"route": "rca", "args": "", "target": target.to_dict(),
                "last_target": target.to_dict(), "confidence": 1.0, "phrase": None,
                "namespace": namespace}
    if action.action_id == "help":
        return {"route": "help", "args": "", "confidence": 1.0, "target": None}
    if action.action_id in _ACTION_ROUTES:
        return {"route": _ACTION_ROUTES[action.action_id], "args": action.value,
                "confidence": 1.0, "target": None, "phrase": None, "namespace": None}
    return {"route": "error", **_replies(chat.ChatReply(
        kind="error", text="That button is not one I know (it may come from an older "
        "version); nothing was done."))}


# Buttons that continue an earlier conversation rather than start a new route.
_ACTION_ROUTES = {"approve": "decision", "reject": "decision", "propose_fix": "propose",
                  "feedback": "feedback"}
_DECISION_TEXT = re.compile(r"^\s*(approve|reject)\s+(\S+)\s*(.*)$", re.I)
_APPROVAL_ID = re.compile(r"^[0-9a-f]{6}$", re.I)


def _route_decision_text(text: str) -> dict[str, Any] | None:
    """`approve ID` / `reject ID [reason]` typed in a chat or the console. A lone word
    after approve/reject is taken as a (possibly wrong) id, so that a typo is answered
    "no such request" instead of being read as a new request."""
    match = _DECISION_TEXT.match(text)
    if not match:
        return None
    verdict, approval_id, reason = match.group(1).lower(), match.group(2), match.group(3)
    if not _APPROVAL_ID.match(approval_id) and (reason or len(approval_id) > 12):
        return None
    return {"route": "decision", "args": json.dumps({"verdict": verdict, "id": approval_id,
                                                     "reason": reason.strip()}),
            "confidence": 1.0, "target": None, "phrase": None, "namespace": None}


def _clarify(route: str, text: str, resolution: targets.Resolution) -> chat.ChatReply:
    buttons = [chat.Button(action_id="choose_target", label=c.ref, value=json.dumps(
        {"route": route, "target": c.to_dict(), "text": text})) for c in resolution.candidates]
    prefix = f"{resolution.message[0].upper()}{resolution.message[1:]}. " if (
        resolution.message) else ""
    return chat.ChatReply(kind="question", text=f"{prefix}Which one do you mean? "
                          + ", ".join(c.ref for c in resolution.candidates), buttons=buttons)


async def run_turn(graph: Any, request: chat.ChatRequest) -> list[chat.ChatReply]:
    """Run one message through the supervisor; never raises for the chat's sake."""
    config = {"configurable": {"thread_id": request.thread_id}}
    try:
        state = await graph.ainvoke({"request": request.model_dump(), "replies": [],
                                     "target": None, "route": ""}, config)
    except Exception:
        log.exception("graph run failed for %s", request.thread_id)
        return [chat.ChatReply(kind="error", text="Something went wrong on my side while "
                               "handling that; it is logged. Please try again.")]
    return [chat.ChatReply.model_validate(r) for r in state.get("replies") or []]
