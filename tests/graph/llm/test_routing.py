"""Routing by the model when the offline classifier is unsure: used when valid, ignored
when malformed, never consulted when the classifier is sure."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from graph import chat, intents, router, supervisor
from graph.llm import client, prompting, routing
from tests.graph.llm import fake_openai


class StubClassifier:
    def __init__(self, route: str, confidence: float) -> None:
        self.prediction = intents.Prediction(route, confidence, {route: confidence})

    def predict(self, text: str) -> intents.Prediction:
        return self.prediction


class NoTools:
    async def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        return {"status": "no_data", "data": None, "message": "nothing here"}


def choice(**fields: Any) -> fake_openai.Step:
    return fake_openai.text(json.dumps(fields))


def turn(llm: fake_openai.FakeOpenAI, text: str, route: str, confidence: float
         ) -> list[chat.ChatReply]:
    async def main() -> list[chat.ChatReply]:
        llm_client = client.LLMClient(client.LLMConfig(
            base_url=llm.base_url, model="scripted", timeout_s=2.0, max_retries=0))
        try:
            deps = supervisor.SupervisorDeps(
                tools=NoTools(), classifier=StubClassifier(route, confidence),  # type: ignore[arg-type]
                fallback_router=routing.make_fallback_router(llm_client,
                                                             prompting.load_prompts()))
            graph = supervisor.build_supervisor(deps)
            return await supervisor.run_turn(graph, chat.ChatRequest(text=text))
        finally:
            await llm_client.aclose()

    return asyncio.run(main())


def test_unsure_classifier_takes_the_model_route(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue.append(choice(route="ask", target=None, namespace=None, confidence=0.9))
    replies = turn(llm, "hmm the thing in shop feels off", "help", 0.27)
    assert "answers from runbooks" in replies[0].text  # the ask route, not help
    sent = llm.requests[0]
    assert sent["response_format"] == {"type": "json_object"}
    system, user = sent["messages"][0]["content"], sent["messages"][1]["content"]
    assert "`help` with confidence 0.27" in system
    fence_id = user.split("<<<DATA ")[1].split(" ")[0]
    assert f"<<<END DATA {fence_id}>>>" in user and fence_id in system


@pytest.mark.parametrize("answer", [
    "{route: ask",                                   # not JSON
    "I think this is an ask question.",              # prose
    json.dumps({"route": "delete_namespace"}),       # not a route
    json.dumps({"route": "ask", "confidence": 7}),   # out of range
    json.dumps({"route": "ask", "confidence": 0.2}),  # the model is unsure too
])
def test_malformed_or_unsure_model_output_keeps_the_offline_route(
        llm: fake_openai.FakeOpenAI, answer: str) -> None:
    llm.queue.append(fake_openai.text(answer))
    replies = turn(llm, "hmm the thing in shop feels off", "help", 0.27)
    assert len(llm.requests) == 1
    assert any(s.title == "Commands" for s in replies[0].sections)  # still the help reply


def test_sure_classifier_never_asks_the_model(llm: fake_openai.FakeOpenAI) -> None:
    turn(llm, "hmm the thing in shop feels off", "help", 0.95)
    assert llm.requests == []


def test_model_down_keeps_the_offline_route(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue.append(fake_openai.Step(status=503))
    replies = turn(llm, "hmm the thing in shop feels off", "help", 0.27)
    assert any(s.title == "Commands" for s in replies[0].sections)


def test_parse_choice_accepts_fenced_json_and_normalises() -> None:
    parsed = routing.parse_choice('```json\n{"route": "rca", "target": "Checkout-API", '
                                  '"namespace": "null", "confidence": 0.8}\n```')
    assert parsed is not None
    assert (parsed.route, parsed.target, parsed.namespace) == ("rca", "checkout-api", None)
    assert routing.parse_choice(None) is None


def test_targets_must_come_from_the_message(llm: fake_openai.FakeOpenAI) -> None:
    offline = router.Route("fix", None, "why is checkout so slow", 0.4, "classifier")

    async def main() -> list[router.Route | None]:
        llm_client = client.LLMClient(client.LLMConfig(base_url=llm.base_url,
                                                       model="scripted", max_retries=0))
        try:
            route = routing.make_fallback_router(llm_client, prompting.load_prompts())
            return [await route("why is checkout so slow", offline) for _ in range(3)]
        finally:
            await llm_client.aclose()

    llm.queue += [choice(route="rca", target="checkout-api", namespace="shop", confidence=0.9),
                  choice(route="rca", target="payments", confidence=0.9),
                  choice(route="rca", target="checkout; rm -rf /", confidence=0.9)]
    grounded, invented, garbage = main_result = asyncio.run(main())
    assert all(r is not None for r in main_result)
    assert grounded is not None and grounded.target == "checkout-api"
    assert grounded.namespace is None  # "shop" is not in the message
    assert grounded.confidence < 1.0 and grounded.source == "classifier"
    assert invented is not None and invented.target is None and invented.route == "rca"
    assert garbage is not None and garbage.target is None
