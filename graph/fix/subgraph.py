"""The remediation subgraph: propose (dry run, card) -> wait (interrupt) -> decide ->
execute -> verify.

Each request runs on its own checkpoint thread (`approval:<id>`), so chat in the same
channel never disturbs a pending approval, and a restart resumes it from Redis. Only
`wait` calls interrupt(), and it has no side effect before that call, because LangGraph
runs the interrupted node again on resume; execution is guarded by a Redis claim.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from graph import actions, chat, targets
from graph.fix import audit, card, plan, policy, store, verify

__all__ = ["FixDeps", "FixState", "build_fix"]

Resolved = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class FixDeps:
    tools: targets.ToolCaller
    store: store.ApprovalStore
    audit: audit.Audit
    policy: policy.Policy
    checkpointer: BaseCheckpointSaver[Any] | None = None
    ttl_s: float = 1800.0
    verify_timeout_s: float = 120.0
    verify_poll_s: float = 2.0
    clock: Callable[[], float] = time.time
    on_resolved: Resolved | None = None  # incident memory: called with the final record


class FixState(TypedDict, total=False):
    approval_id: str
    action: dict[str, Any]
    requester: str
    chat_thread: str
    evidence: list[str]
    decision: dict[str, Any]
    outcome: str
    undo: dict[str, Any] | None
    replies: list[dict[str, Any]]


def _add(state: FixState, *replies: chat.ChatReply) -> list[dict[str, Any]]:
    return list(state.get("replies") or []) + [r.model_dump() for r in replies]


def _namespace(action: dict[str, Any]) -> str:
    return targets.Target.parse(action["resource"]).namespace


def build_fix(deps: FixDeps) -> Any:
    async def propose(state: FixState) -> dict[str, Any]:
        action, approval_id = state["action"], state["approval_id"]
        namespace = _namespace(action)
        base = {"approval": approval_id, "action": action, "requester": state["requester"]}
        if not deps.policy.namespace_allowed(namespace):
            await deps.audit.append("refused", **base, reason="namespace not allowed")
            return {"outcome": "invalid", "replies": _add(state, chat.ChatReply(
                kind="error", text=f"I won't change {action['resource']}: namespace "
                f"{namespace} is outside the remediation allow-list."))}
        tool, arguments = plan.tool_call_for(action)
        dry = await deps.tools.call(tool, **arguments, dry_run=True)
        if dry.get("status") != "ok":
            await deps.audit.append("dry_run_failed", **base, error=dry.get("message"))
            return {"outcome": "invalid", "replies": _add(state, chat.ChatReply(
                kind="error", text=f"The dry run of “{action['summary']}” failed, so nothing "
                f"was proposed: {dry.get('message')}"))}
        now = deps.clock()
        risk = action["risk"]
        record = {
            "id": approval_id, "action": action, "requester": state["requester"],
            "chat_thread": state.get("chat_thread", ""), "risk": risk,
            "diff": dry["data"]["diff"], "evidence": state.get("evidence") or [],
            "created_at": now, "expires_at": now + deps.ttl_s, "status": "pending",
            "approvals": [], "needed": deps.policy.approvals_needed(risk),
        }
        if not deps.policy.needs_approval(risk):
            record.update(status="approved", decided_by="policy (auto-approved low risk)",
                          decided_at=now)
            await deps.store.save(record)
            await deps.audit.append("auto_approved", **base, diff=record["diff"])
            return {"outcome": "approved", "replies": list(state.get("replies") or [])}
        if not deps.policy.configured_for(risk, namespace):
            record["approvers_hint"] = (f"No approver is configured for {risk}-risk actions, "
                                        "so nobody can approve this yet (policy settings).")
        await deps.store.save(record)
        await deps.audit.append("requested", **base, diff=record["diff"], risk=risk)
        return {"outcome": "pending", "replies": _add(state, card.pending_card(record))}

    async def wait(state: FixState) -> dict[str, Any]:
        decision = interrupt({"approval_id": state["approval_id"]})
        return {"decision": decision, "replies": []}

    async def decide(state: FixState) -> dict[str, Any]:
        decision = state["decision"]
        record = await deps.store.get(state["approval_id"])
        if record is None:
            return {"outcome": "invalid", "replies": _add(state, chat.ChatReply(
                kind="error", text="This approval request no longer exists."))}
        user, now = str(decision["user"]), deps.clock()
        base = {"approval": record["id"], "user": user}
        if now > record["expires_at"]:
            record = await deps.store.update(record["id"], status="expired",
                                             decided_at=now) or record
            await deps.audit.append("expired", **base)
            return {"outcome": "expired", "replies": _add(state, card.decided_card(record),
                                                          chat.ChatReply(
                kind="error", text=f"Request {record['id']} expired; nothing was changed. "
                "Ask again to get a fresh card."))}
        groups = list(decision.get("groups") or [])
        namespace = _namespace(record["action"])
        if decision["verdict"] == "reject":
            allowed = user == record["requester"] or deps.policy.may_approve(
                user, record["risk"], namespace, groups)
            if not allowed:
                await deps.audit.append("reject_refused", **base)
                return {"outcome": "pending", "replies": _add(state, chat.ChatReply(
                    kind="error", text=f"{user} may not decide on request {record['id']}; "
                    "it is still pending."))}
            record = await deps.store.update(record["id"], status="rejected", decided_by=user,
                                             decided_at=now,
                                             reason=decision.get("reason", "")) or record
            await deps.audit.append("rejected", **base, reason=decision.get("reason", ""))
            return {"outcome": "rejected", "replies": _add(state, card.decided_card(record),
                                                           chat.ChatReply(
                text=f"Rejected by {user}; nothing was changed."))}
        already = [a["user"] for a in record.get("approvals") or []]
        verdict = deps.policy.check_approval(user=user, user_groups=groups, risk=record["risk"],
                                             namespace=namespace,
                                             requester=record["requester"], already=already)
        if not verdict.allowed:
            await deps.audit.append("approval_refused", **base, reason=verdict.reason)
            return {"outcome": "pending", "replies": _add(state, chat.ChatReply(
                kind="error", text=f"Not approved: {verdict.reason}. Request {record['id']} "
                "is still pending."))}
        approvals = [*record.get("approvals", []), {"user": user, "at": now}]
        complete = deps.policy.complete(record["risk"], record["requester"],
                                        [a["user"] for a in approvals])
        status = "approved" if complete else "pending"
        record = await deps.store.update(record["id"], approvals=approvals, status=status,
                                         decided_by=", ".join(a["user"] for a in approvals)
                                         if complete else "",
                                         decided_at=now if complete else None) or record
        await deps.audit.append("approved" if complete else "approval_added", **base)
        if not complete:
            return {"outcome": "pending",
                    "replies": _add(state, _replacing(card.pending_card(record)))}
        # The card is updated once, by `execute`, with the outcome of the execution.
        return {"outcome": "approved", "replies": list(state.get("replies") or [])}

    async def execute(state: FixState) -> dict[str, Any]:
        approval_id, action = state["approval_id"], state["action"]
        if not await deps.store.claim_execution(approval_id, state.get("requester", "")):
            return {"outcome": "duplicate", "replies": _add(state, chat.ChatReply(
                text=f"Request {approval_id} was already executed; nothing was done twice."))}
        undo = await _undo_for(deps.tools, action)
        tool, arguments = plan.tool_call_for(action)
        result = await deps.tools.call(tool, **arguments, dry_run=False)
        now = deps.clock()
        if result.get("status") != "ok":
            record = await deps.store.update(approval_id, status="failed",
                                             result=result.get("message"), executed_at=now)
            await deps.audit.append("execution_failed", approval=approval_id, action=action,
                                    error=result.get("message"))
            replies = [chat.ChatReply(kind="error", text=f"Executing “{action['summary']}” "
                                      f"failed: {result.get('message')}. Nothing else was "
                                      "tried.")]
            if record:
                replies.insert(0, card.decided_card(record))
            return {"outcome": "failed", "replies": _add(state, *replies)}
        record = await deps.store.update(approval_id, status="executed", executed_at=now,
                                         result="applied")
        await deps.audit.append("executed", approval=approval_id, action=action,
                                diff=result["data"].get("diff", ""))
        replies = [chat.ChatReply(kind="progress", text=f"Executing: {action['summary']}. "
                                  "Verifying…")]
        if record:
            replies.insert(0, card.decided_card(record))
        return {"outcome": "executed", "undo": undo, "replies": _add(state, *replies)}

    async def check(state: FixState) -> dict[str, Any]:
        action = state["action"]
        outcome = await verify.verify_action(deps.tools, action, timeout_s=deps.verify_timeout_s,
                                             poll_s=deps.verify_poll_s)
        approval_id = state["approval_id"]
        record = await deps.store.update(approval_id, verified=outcome.ok,
                                         verification=outcome.lines)
        await deps.audit.append("verified" if outcome.ok else "verification_failed",
                                approval=approval_id, lines=outcome.lines)
        if record and deps.on_resolved is not None:
            await deps.on_resolved(record)
        buttons = [chat.Button(action_id="feedback", label="👍 Fixed it",
                               value=f"good:{approval_id}"),
                   chat.Button(action_id="feedback", label="👎 Didn't help",
                               value=f"bad:{approval_id}")]
        if outcome.ok:
            text = f"✅ {action['summary']}: done and verified."
        else:
            text = f"⚠️ {action['summary']}: applied, but verification failed."
            undo = state.get("undo")
            if undo:
                buttons.insert(0, chat.Button(action_id="propose_fix", label=undo["summary"][:70],
                                              value=json.dumps(undo), style="danger"))
        return {"outcome": "verified" if outcome.ok else "unverified", "replies": _add(
            state, chat.ChatReply(kind="card", title="Result", text=text,
                                  sections=[chat.Section(text="\n".join(
                                      f"• {line}" for line in outcome.lines))],
                                  buttons=buttons, footnote="Was this the right fix?"))}

    def after_propose(state: FixState) -> str:
        return {"pending": "wait", "approved": "execute"}.get(state.get("outcome", ""), END)

    def after_decide(state: FixState) -> str:
        return {"pending": "wait", "approved": "execute"}.get(state.get("outcome", ""), END)

    def after_execute(state: FixState) -> str:
        return "check" if state.get("outcome") == "executed" else END

    builder = StateGraph(FixState)
    builder.add_node("propose", propose)
    builder.add_node("wait", wait)
    builder.add_node("decide", decide)
    builder.add_node("execute", execute)
    builder.add_node("check", check)
    builder.add_edge(START, "propose")
    builder.add_conditional_edges("propose", after_propose, ["wait", "execute", END])
    builder.add_edge("wait", "decide")
    builder.add_conditional_edges("decide", after_decide, ["wait", "execute", END])
    builder.add_conditional_edges("execute", after_execute, ["check", END])
    builder.add_edge("check", END)
    return builder.compile(checkpointer=deps.checkpointer)


def _replacing(reply: chat.ChatReply) -> chat.ChatReply:
    """A pending card that updates the one already posted (another approval is needed)."""
    reply.replaces = reply.card_id
    return reply


async def _undo_for(tools: targets.ToolCaller, action: dict[str, Any]) -> dict[str, Any] | None:
    """The action that puts things back if verification fails."""
    resource = targets.Target.parse(action["resource"])
    kind, namespace, name = resource.kind, resource.namespace, resource.name
    if kind == "Deployment" and action["action"] in ("rollback", "set_resources", "set_image",
                                                     "set_env", "restart"):
        history = await tools.call("rollout_history", name=name, namespace=namespace)
        current = next((r for r in history.get("data") or [] if r["current"]), None)
        if current:
            return actions.rollback(action["resource"], current["revision"],
                                    "undo: back to the revision before the fix").to_dict()
    if action["action"] == "scale":
        described = await tools.call("describe", kind=kind, name=name, namespace=namespace)
        if described.get("status") == "ok":
            replicas = described["data"]["object"].get("spec", {}).get("replicas")
            if replicas is not None:
                return actions.scale(action["resource"], int(replicas),
                                     "undo: the replicas before the fix").to_dict()
    return None
