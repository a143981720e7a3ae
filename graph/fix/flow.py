"""Entry points of the remediation flow for the supervisor: start a request, decide on
one (a click or `approve ID`), record feedback.

A click is processed once: an already-decided, expired or unknown request gets a clear
reply without touching the paused run, and a per-request Redis lock serialises clicks
that arrive together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.types import Command

from graph import actions, chat, rca, targets
from graph.fix import card, plan, subgraph

__all__ = ["FixFlow"]


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M UTC") if ts else "earlier"


class FixFlow:
    def __init__(self, deps: subgraph.FixDeps, rca_deps: rca.RcaDeps | None = None) -> None:
        self.deps = deps
        self.graph = subgraph.build_fix(deps)
        self._rca = rca_deps

    @staticmethod
    def _config(approval_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": f"approval:{approval_id}"}}

    async def _run(self, payload: Any, approval_id: str) -> list[chat.ChatReply]:
        # "sync" durability: the pending interrupt is written before ainvoke returns, so a
        # restart right after a card is posted still finds it.
        state = await self.graph.ainvoke(payload, self._config(approval_id), durability="sync")
        return [chat.ChatReply.model_validate(r) for r in state.get("replies") or []]

    async def start(self, action: dict[str, Any], *, requester: str, chat_thread: str,
                    evidence: list[str] | None = None) -> list[chat.ChatReply]:
        known = actions.RISK_OF.get(str(action.get("action")))
        if known is None:
            return [chat.ChatReply(kind="error", text=f"Unknown action "
                                   f"{action.get('action')!r}; nothing was proposed.")]
        # A button's value comes back from the client: its risk may raise the level the
        # action carries by nature, never lower it.
        declared = str(action.get("risk", known))
        order = ("low", "medium", "high", "critical")
        risk = max(known, declared if declared in order else known, key=order.index)
        action = {**action, "risk": risk}
        approval_id = self.deps.store.new_id()
        return await self._run({"approval_id": approval_id, "action": action,
                                "requester": requester, "chat_thread": chat_thread,
                                "evidence": evidence or [], "replies": []}, approval_id)

    async def start_from_text(self, text: str, target: targets.Target, *, requester: str,
                              chat_thread: str) -> list[chat.ChatReply]:
        """`/fix TARGET [what]`: the named change, or the top RCA cause's first action."""
        try:
            action = await plan.plan_from_text(self.deps.tools, text, target)
        except plan.PlanError as exc:
            return [chat.ChatReply(kind="error", text=str(exc))]
        if action is not None:
            return await self.start(action.to_dict(), requester=requester,
                                    chat_thread=chat_thread,
                                    evidence=await self.evidence_for(target, text))
        if self._rca is None:
            return [chat.ChatReply(kind="question", text="What should I change? e.g. "
                                   f"`/fix {target.name} restart` or `scale {target.name} to 4`")]
        result = await rca.run_rca(self._rca, target, question=text)
        for cause in result["causes"]:
            if cause["actions"]:
                action_dict = cause["actions"][0]
                evidence = [f"{cause['kind']} ({cause['confidence']:.0%}): {cause['summary']}",
                            *cause["evidence"][:3]]
                return await self.start(action_dict, requester=requester,
                                        chat_thread=chat_thread, evidence=evidence)
        found = result["causes"][0]["summary"] if result["causes"] else "nothing wrong"
        return [chat.ChatReply(text=f"I found {found} in {target.ref} and have no safe action "
                               "to propose. Name the change, e.g. "
                               f"`/fix {target.name} restart`.")]

    async def evidence_for(self, target: targets.Target, text: str = "") -> list[str]:
        """Why, for a named change or an action button: what an RCA of the target finds,
        so the approver sees the problem next to the diff (and incident memory learns it)."""
        if self._rca is None or target.kind not in ("Deployment", "StatefulSet",
                                                    "DaemonSet", "Pod"):
            return []
        result = await rca.run_rca(self._rca, target, question=text)
        causes = [c for c in result["causes"] if c["resource"] == target.ref]
        if not causes:
            return []
        cause = causes[0]
        return [f"{cause['kind']} ({cause['confidence']:.0%}): {cause['summary']}",
                *cause["evidence"][:3]]

    async def decide(self, approval_id: str, verdict: str, *, user: str,
                     groups: list[str] | None = None, reason: str = "") -> list[chat.ChatReply]:
        record = await self.deps.store.get(approval_id)
        if record is None:
            return [chat.ChatReply(kind="error", text=f"There is no approval request "
                                   f"{approval_id!r}.")]
        if record["status"] != "pending":
            await self.deps.audit.append("click_ignored", approval=approval_id, user=user,
                                         status=record["status"])
            who = record.get("decided_by") or "policy"
            status = record["status"]
            text = (f"Request {approval_id} has expired; nothing was changed."
                    if status == "expired" else
                    f"Request {approval_id} was already {status} by {who} at "
                    f"{_when(record.get('decided_at'))}; this click changed nothing.")
            return [chat.ChatReply(kind="error", text=text)]
        if not await self.deps.store.lock(approval_id, user):
            return [chat.ChatReply(kind="error", text=f"Request {approval_id} is being "
                                   "processed right now; this click changed nothing.")]
        try:
            return await self._run(Command(resume={"verdict": verdict, "user": user,
                                                   "groups": groups or [], "reason": reason}),
                                   approval_id)
        finally:
            await self.deps.store.unlock(approval_id)

    async def feedback(self, value: str, *, user: str) -> list[chat.ChatReply]:
        verdict, _, approval_id = value.partition(":")
        if verdict not in ("good", "bad"):
            return [chat.ChatReply(kind="error", text="That feedback button is malformed.")]
        await self.deps.audit.append("feedback", approval=approval_id, user=user,
                                     verdict=verdict)
        if approval_id:
            record = await self.deps.store.update(approval_id, feedback=verdict,
                                                  feedback_by=user)
            if record and self.deps.on_resolved is not None:
                await self.deps.on_resolved(record)
        thanks = "Thanks — noted as helpful." if verdict == "good" else (
            "Thanks — noted as not helpful; it will count against this pattern next time.")
        return [chat.ChatReply(text=thanks)]

    async def pending_card(self, approval_id: str) -> chat.ChatReply | None:
        record = await self.deps.store.get(approval_id)
        return card.pending_card(record) if record else None
