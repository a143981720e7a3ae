"""The model client against the scripted endpoint: retries, timeouts, the circuit
breaker and the token budget, with langchain-openai talking real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from langchain_core.messages import HumanMessage

from graph.llm import breaker, budget, client
from tests.graph.llm import fake_openai

T = TypeVar("T")


def make_client(llm: fake_openai.FakeOpenAI, **overrides: object) -> client.LLMClient:
    values: dict[str, object] = {"base_url": llm.base_url, "model": "scripted",
                                 "timeout_s": 0.5, "max_retries": 1, "retry_backoff_s": 0.01,
                                 "breaker_failures": 2, "breaker_reset_s": 60.0}
    values.update(overrides)
    return client.LLMClient(client.LLMConfig(**values))  # type: ignore[arg-type]


def run(llm: fake_openai.FakeOpenAI, body: Callable[[client.LLMClient], Awaitable[T]],
        **overrides: object) -> T:
    """Run `body` with a fresh client on one event loop, closing the client after."""

    async def main() -> T:
        llm_client = make_client(llm, **overrides)
        try:
            return await body(llm_client)
        finally:
            await llm_client.aclose()

    return asyncio.run(main())


async def ask(llm_client: client.LLMClient, text: str = "hello") -> str:
    answer = await llm_client.complete([HumanMessage(text)], budget=llm_client.new_budget())
    return answer.text


def test_answer_over_http_and_usage_charged(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue.append(fake_openai.text("hi there"))

    async def body(llm_client: client.LLMClient) -> None:
        spend = llm_client.new_budget()
        answer = await llm_client.complete([HumanMessage("hello")], budget=spend)
        assert answer.text == "hi there"
        assert spend.used > 0 and spend.calls == 1

    run(llm, body)
    assert llm.requests[0]["model"] == "scripted"
    assert llm.requests[0]["max_completion_tokens"] == 800


def test_server_error_is_retried_then_answered(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue += [fake_openai.Step(status=500), fake_openai.text("second time lucky")]

    async def body(llm_client: client.LLMClient) -> None:
        assert await ask(llm_client) == "second time lucky"
        assert llm_client.breaker.state == "closed"

    run(llm, body)
    assert len(llm.requests) == 2


def test_slow_answer_times_out_and_the_circuit_opens(llm: fake_openai.FakeOpenAI) -> None:
    llm.responder = lambda body: fake_openai.text("too late", delay_s=2.0)

    async def body(llm_client: client.LLMClient) -> None:
        began = time.monotonic()
        with pytest.raises(client.LLMUnavailable) as failed:
            await ask(llm_client)
        assert failed.value.reason == "timeout"
        assert time.monotonic() - began < 1.8  # two 0.5 s attempts, not two 2 s answers
        assert llm_client.breaker.state == "open"
        sent = len(llm.requests)
        began = time.monotonic()
        with pytest.raises(client.LLMUnavailable) as refused:
            await ask(llm_client)
        assert refused.value.reason == "circuit_open"
        assert len(llm.requests) == sent  # failed fast, without calling the endpoint
        assert time.monotonic() - began < 0.2
        assert llm_client.status().startswith("circuit open")

    run(llm, body)


def test_malformed_response_body_is_an_error_not_a_crash(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue.append(fake_openai.Step(raw_body='{"choices": [ {"message": '))

    async def body(llm_client: client.LLMClient) -> str:
        return await ask(llm_client)

    with pytest.raises(client.LLMUnavailable) as failed:
        run(llm, body, max_retries=0)
    assert failed.value.reason == "error"


def test_client_errors_are_not_retried(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue += [fake_openai.Step(status=400), fake_openai.text("never asked")]

    async def body(llm_client: client.LLMClient) -> str:
        return await ask(llm_client)

    with pytest.raises(client.LLMUnavailable):
        run(llm, body, max_retries=3)
    assert len(llm.requests) == 1


def test_budget_refuses_before_sending(llm: fake_openai.FakeOpenAI) -> None:
    async def body(llm_client: client.LLMClient) -> str:
        return await ask(llm_client, "x" * 2000)

    with pytest.raises(budget.BudgetExhausted):
        run(llm, body, request_token_budget=900, max_output_tokens=800)
    assert llm.requests == []


def test_breaker_half_opens_for_one_trial() -> None:
    now = [0.0]
    circuit = breaker.CircuitBreaker(2, 30.0, clock=lambda: now[0])
    circuit.record_failure()
    assert circuit.allow()
    circuit.record_failure()
    assert circuit.state == "open" and not circuit.allow()
    now[0] = 31.0
    assert circuit.state == "half-open"
    assert circuit.allow() and not circuit.allow()  # one trial at a time
    circuit.record_failure()
    assert circuit.state == "open" and circuit.retry_in() == pytest.approx(30.0)
    now[0] = 62.0
    assert circuit.allow()
    circuit.record_success()
    assert circuit.state == "closed" and circuit.allow()


def test_budget_estimates_and_truncation() -> None:
    cut = budget.truncate_to_tokens("word " * 1000, 50)
    assert budget.estimate_tokens(cut) <= 50 + 12 and cut.endswith("token budget]")
    assert budget.estimate_tokens("日志") == 2
    spend = budget.TokenBudget(100)
    spend.charge(60)
    with pytest.raises(budget.BudgetExhausted):
        spend.ensure(41)


def test_config_from_settings_and_enabled() -> None:
    from bot import settings

    config = client.LLMConfig.from_settings(settings.LLMSettings(
        base_url="http://127.0.0.1:1/v1", model="m", breaker_failures=5))
    assert config.enabled and config.breaker_failures == 5
    assert not settings.LLMSettings().enabled


def test_a_lost_trial_does_not_block_the_breaker_forever() -> None:
    now = [0.0]
    circuit = breaker.CircuitBreaker(1, 10.0, clock=lambda: now[0])
    circuit.record_failure()
    now[0] = 10.0
    assert circuit.allow()  # the trial goes out and its caller is cancelled
    now[0] = 15.0
    assert not circuit.allow()
    now[0] = 20.0
    assert circuit.allow()
