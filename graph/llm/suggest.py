"""Changes the model suggests become proposals, never executions.

The model gets one extra function, `suggest_action`, which runs nothing: a valid
suggestion becomes a `propose_fix` button, and pressing it starts the normal fix flow
(server-side dry run, approval card, approver policy). The action is rebuilt with the
project's own builders, so its risk level comes from `graph.actions.RISK_OF`, never
from the model, and only resources seen in this request's tool results qualify.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graph import actions, chat, targets
from graph.llm import redact
from graph.rca import model

__all__ = ["SUGGEST_TOOL", "SUGGEST_TOOL_NAME", "Suggestion", "button_for", "parse_suggestion"]

SUGGEST_TOOL_NAME = "suggest_action"
_ACTIONS = ("restart", "scale", "delete_pod", "rollback")
_WORKLOAD_KINDS = ("Deployment", "StatefulSet")

SUGGEST_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": SUGGEST_TOOL_NAME,
    "description": (
        "Suggest one remediation to the on-call engineer. This does NOT run anything: it "
        "adds a button that starts the approval flow (dry run, approval by an allowed "
        "person). Use only for a resource you looked up in this conversation."),
    "parameters": {"type": "object", "properties": {
        "action": {"type": "string", "enum": list(_ACTIONS)},
        "resource": {"type": "string", "description": "Kind/namespace/name, e.g. "
                     "Deployment/shop/worker or Pod/shop/worker-7c9d-x2"},
        "replicas": {"type": "integer", "description": "For scale: the new replica count."},
        "revision": {"type": "integer", "description": "For rollback: the revision to go "
                     "back to."},
        "reason": {"type": "string", "description": "One short sentence of why, citing "
                   "the evidence number."}},
        "required": ["action", "resource", "reason"]}}}


@dataclass(frozen=True)
class Suggestion:
    action: model.Action


def parse_suggestion(args: Any, seen_text: str) -> Suggestion | str:
    """A validated suggestion, or the reason it was refused (told back to the model)."""
    if not isinstance(args, dict):
        return "arguments must be an object"
    name = args.get("action")
    if name not in _ACTIONS:
        return f"action must be one of {', '.join(_ACTIONS)}"
    try:
        target = targets.Target.parse(str(args.get("resource", "")))
    except ValueError as exc:
        return str(exc)
    if not target.namespace or not target.name:
        return "resource must be Kind/namespace/name"
    if target.name not in seen_text:
        return f"{target.ref} did not appear in any tool result of this request"
    why = redact.redact(str(args.get("reason", "")))[:80]
    ref = target.ref
    if name == "delete_pod":
        if target.kind != "Pod":
            return "delete_pod applies to a Pod"
        return Suggestion(actions.delete_pod(ref, why))
    if target.kind not in _WORKLOAD_KINDS:
        return f"{name} applies to a Deployment or StatefulSet"
    if name == "restart":
        return Suggestion(actions.restart(ref, why))
    if name == "scale":
        replicas = args.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or not (
                0 <= replicas <= 50):
            return "scale needs replicas between 0 and 50"
        return Suggestion(actions.scale(ref, replicas, why))
    revision = args.get("revision")
    if target.kind != "Deployment" or not isinstance(revision, int) or revision < 1:
        return "rollback needs a Deployment and a revision number"
    return Suggestion(actions.rollback(ref, revision, why))


def button_for(suggestion: Suggestion) -> chat.Button:
    """The button that starts the approval flow for the suggestion, as RCA cards do."""
    action = suggestion.action
    return chat.Button(action_id="propose_fix", label=f"Propose: {action.summary}"[:70],
                       value=json.dumps(action.to_dict()))
