"""Narratives over the scripted endpoint: /ask answers plugged into the knowledge card,
the digest opening, and what happens when the model is down or cites nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from graph import chat
from graph.llm import client, narrate, prompting
from knowledge import answer, retrieval
from tests.graph.llm import fake_openai

T = TypeVar("T")

HITS = [
    retrieval.Hit(source="crashloopbackoff.md", title="CrashLoopBackOff", score=2.0,
                  text="Read the previous log: `kubectl logs POD --previous`.\n"
                       "DB url postgres://app:hunter2@db/orders", doc_title="CrashLoopBackOff"),
    retrieval.Hit(source="oomkilled.md", title="OOMKilled", score=1.0,
                  text="Raise the memory limit.", doc_title="OOMKilled"),
]


def run(llm: fake_openai.FakeOpenAI,
        body: Callable[[client.LLMClient, prompting.Prompts], Awaitable[T]]) -> T:
    async def main() -> T:
        llm_client = client.LLMClient(client.LLMConfig(base_url=llm.base_url, model="scripted",
                                                       max_retries=0, timeout_s=2.0))
        try:
            return await body(llm_client, prompting.load_prompts())
        finally:
            await llm_client.aclose()

    return asyncio.run(main())


def ask(llm: fake_openai.FakeOpenAI, question: str) -> chat.ChatReply:
    async def body(llm_client: client.LLMClient, prompts: prompting.Prompts
                   ) -> chat.ChatReply:
        return await answer.llm_reply(question, HITS,
                                      narrate.make_ask_answerer(llm_client, prompts))

    return run(llm, body)


def test_ask_answer_cites_the_excerpts_and_keeps_secrets_out(
        llm: fake_openai.FakeOpenAI) -> None:
    llm.queue.append(fake_openai.text("Read the previous log with "
                                      "`kubectl logs POD --previous` [1]."))
    reply = ask(llm, "how do I debug a crashloop?")
    assert reply.text.endswith("[1].")
    assert reply.sections[0].title == "Sources" and "CrashLoopBackOff" in reply.sections[0].text
    sent = llm.requests[0]["messages"]
    assert "English" in sent[0]["content"]
    assert "<<<DATA" in sent[1]["content"] and "hunter2" not in sent[1]["content"]


def test_ask_falls_back_to_quotes_when_the_model_is_down(llm: fake_openai.FakeOpenAI) -> None:
    llm.queue.append(fake_openai.Step(status=503))
    reply = ask(llm, "how do I debug a crashloop?")
    assert reply.footnote == "The LLM is unavailable, so this is quoted from the runbooks."


def test_digest_opening_is_grounded_or_dropped(llm: fake_openai.FakeOpenAI) -> None:
    facts = ["worker in shop restarted 14 times in 24 h", "checkout-api error ratio 0.2 %"]
    llm.queue += [fake_openai.text("Look at worker first: it keeps restarting [1]."),
                  fake_openai.text("All good today."),
                  fake_openai.text("See [7].")]

    async def body(llm_client: client.LLMClient, prompts: prompting.Prompts) -> list[str]:
        write = narrate.make_digest_narrator(llm_client, prompts)
        return [await write(facts) for _ in range(3)] + [await write([])]

    grounded, uncited, invented, empty = run(llm, body)
    assert grounded == "Look at worker first: it keeps restarting [1]."
    assert uncited == "" and invented == "" and empty == ""
    assert "[2] checkout-api error ratio 0.2 %" in llm.requests[0]["messages"][1]["content"]


def test_cites() -> None:
    assert narrate.cites("a [1] b [2]", 2)
    assert not narrate.cites("a [3]", 2)
    assert not narrate.cites("nothing cited", 2)
