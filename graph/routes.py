"""Route handlers the supervisor dispatches to, built from their subgraphs' deps."""

from __future__ import annotations

import json
from pathlib import Path

from graph import chat, predict, rca, supervisor, targets
from graph.fix import flow as fix_flow
from graph.rca import card
from knowledge import service as kb_service
from tools import errors

__all__ = ["ask_handler", "fix_handlers", "predict_handler", "rca_handler"]


def rca_handler(deps: rca.RcaDeps) -> supervisor.Handler:
    async def handle(state: supervisor.SupervisorState,
                     target: targets.Target | None) -> list[chat.ChatReply]:
        if target is None:
            return [chat.ChatReply(kind="question", text="Which workload should I "
                                   "investigate? e.g. `/rca checkout-api`")]
        request = chat.ChatRequest.model_validate(state["request"])
        result = await rca.run_rca(deps, target, question=request.text)
        reply = card.rca_card(target.ref, result)
        if result.get("narrative"):
            reply.sections.insert(0, chat.Section(title="Summary", text=result["narrative"]))
        return [reply]
    return handle


def fix_handlers(flow: fix_flow.FixFlow) -> dict[str, supervisor.Handler]:
    """Handlers for `fix`, approval decisions, proposed actions and feedback."""

    async def fix(state: supervisor.SupervisorState,
                  target: targets.Target | None) -> list[chat.ChatReply]:
        request = chat.ChatRequest.model_validate(state["request"])
        if target is None:
            return [chat.ChatReply(kind="question", text="Which workload should I fix? e.g. "
                                   "`/fix worker` or `roll back checkout-api`")]
        return await flow.start_from_text(request.text, target, requester=request.user,
                                          chat_thread=request.thread_id)

    async def decision(state: supervisor.SupervisorState,
                       target: targets.Target | None) -> list[chat.ChatReply]:
        request = chat.ChatRequest.model_validate(state["request"])
        try:
            args = json.loads(state.get("args") or "{}")
            approval_id, verdict = str(args["id"]), str(args["verdict"])
        except (ValueError, KeyError, TypeError):
            return [chat.ChatReply(kind="error", text="That decision is malformed.")]
        return await flow.decide(approval_id, verdict, user=request.user,
                                 groups=request.user_groups, reason=str(args.get("reason", "")))

    async def propose(state: supervisor.SupervisorState,
                      target: targets.Target | None) -> list[chat.ChatReply]:
        request = chat.ChatRequest.model_validate(state["request"])
        try:
            action = json.loads(state.get("args") or "")
            _ = (action["action"], action["resource"], action["risk"], action["summary"])
        except (ValueError, KeyError, TypeError):
            return [chat.ChatReply(kind="error", text="That action button is malformed; "
                                   "nothing was proposed.")]
        try:
            target = targets.Target.parse(str(action["resource"]))
        except ValueError:
            return [chat.ChatReply(kind="error", text="That action names no valid resource; "
                                   "nothing was proposed.")]
        return await flow.start(action, requester=request.user, chat_thread=request.thread_id,
                                evidence=await flow.evidence_for(target))

    async def feedback(state: supervisor.SupervisorState,
                       target: targets.Target | None) -> list[chat.ChatReply]:
        request = chat.ChatRequest.model_validate(state["request"])
        if request.action is not None:
            return await flow.feedback(request.action.value, user=request.user)
        lowered = request.text.lower()
        negative = any(w in lowered for w in ("not", "didn't", "wrong", "bad", "没用", "不对",
                                              "错", "👎"))
        return await flow.feedback("bad" if negative else "good", user=request.user)

    return {"fix": fix, "decision": decision, "propose": propose, "feedback": feedback}


def predict_handler(tools: targets.ToolCaller, chart_dir: Path) -> supervisor.Handler:
    async def handle(state: supervisor.SupervisorState,
                     target: targets.Target | None) -> list[chat.ChatReply]:
        if target is None:
            return [chat.ChatReply(kind="question", text="Which workload should I forecast? "
                                   "e.g. `/predict orders` or `/predict orders memory 48h`")]
        request = chat.ChatRequest.model_validate(state["request"])
        return [await predict.predict_reply(tools, target, request.text, chart_dir=chart_dir)]
    return handle


def ask_handler(knowledge: kb_service.KnowledgeBase) -> supervisor.Handler:
    async def handle(state: supervisor.SupervisorState,
                     target: targets.Target | None) -> list[chat.ChatReply]:
        request = chat.ChatRequest.model_validate(state["request"])
        question = state.get("args") or request.text
        try:
            return [await knowledge.aanswer(question)]
        except errors.BackendUnavailable as exc:
            return [chat.ChatReply(kind="error", text=f"I can't search the runbooks right "
                                   f"now: {exc}")]
    return handle
