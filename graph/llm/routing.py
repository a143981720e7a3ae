"""Routing by the model when the offline classifier is unsure.

The model answers with a JSON object (route, target, namespace, confidence). Anything
that does not validate -- unparsable JSON, an unknown route, a target that is not a
Kubernetes name or does not come from the message -- keeps the offline route: the
model may improve routing, never break it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError

from graph import router, supervisor
from graph.llm import budget as budget_mod
from graph.llm import client as client_mod
from graph.llm import prompting, untrusted

__all__ = ["RouteChoice", "make_fallback_router", "parse_choice"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?:[a-z]+/)?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_WORD = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
# Routing needs the gist of a message, not a pasted log.
_MESSAGE_TOKENS = 800


class RouteChoice(BaseModel):
    """The model's routing decision, validated before the supervisor sees it."""

    route: Literal["ask", "query", "rca", "fix", "predict", "digest", "feedback", "help"]
    target: str | None = None
    namespace: str | None = None
    confidence: float = Field(0.5, ge=0.0, le=1.0)


def parse_choice(content: object) -> RouteChoice | None:
    """The choice in a model answer, or None when it is not a valid one."""
    if not isinstance(content, str):
        return None
    text = _FENCE.sub("", content.strip())
    try:
        choice = RouteChoice.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None
    if choice.target is not None:
        target = choice.target.strip().lower()
        choice.target = target if target and target != "null" else None
    if choice.namespace is not None:
        namespace = choice.namespace.strip().lower()
        choice.namespace = namespace if namespace and namespace != "null" else None
    return choice


def _grounded(target: str, text: str) -> bool:
    """The target is named by the message (possibly as a prefix: "checkout" for
    "checkout-api"), so the model cannot point a request at an unrelated workload."""
    lowered = text.lower()
    name = target.rsplit("/", 1)[-1]
    if name in lowered:
        return True
    return any(len(word) >= 3 and name.startswith(word) for word in _WORD.findall(lowered))


def make_fallback_router(client: client_mod.LLMClient, prompts: prompting.Prompts, *,
                         min_confidence: float = 0.5
                         ) -> supervisor.FallbackRouter:
    """The supervisor's `fallback_router` hook: a better Route, or None to keep the offline one."""

    async def route(text: str, offline: router.Route) -> router.Route | None:
        fence = untrusted.new_fence()
        system = (prompts["system"].render(fence_rule=fence.describe()) + "\n"
                  + prompts["route"].render(offline_route=offline.route,
                                            offline_confidence=f"{offline.confidence:.2f}"))
        messages = [SystemMessage(system),
                    HumanMessage("Route this chat message:\n" + fence.wrap(
                        budget_mod.truncate_to_tokens(text, _MESSAGE_TOKENS), "chat"))]
        try:
            answer = await client.complete(messages, budget=client.new_budget(),
                                           json_mode=True, purpose="route")
        except (client_mod.LLMUnavailable, budget_mod.BudgetExhausted) as exc:
            log.info("LLM routing unavailable, keeping %s: %s", offline.route, exc)
            return None
        choice = parse_choice(answer.content)
        if choice is None:
            log.warning("LLM routing answer is malformed; keeping %s", offline.route)
            return None
        if choice.confidence < min_confidence:
            return None
        target = offline.target
        if choice.target and _NAME.match(choice.target) and _grounded(choice.target, text):
            target = choice.target
        namespace = offline.namespace
        if choice.namespace and _NAMESPACE.match(choice.namespace) and (
                choice.namespace in text.lower()):
            namespace = choice.namespace
        if choice.route == "help":
            target = None
        # Below 1.0: the supervisor reads confidence 1.0 as a slash command.
        return router.Route(choice.route, target, offline.args, min(choice.confidence, 0.99),
                            "classifier", namespace)

    return route
