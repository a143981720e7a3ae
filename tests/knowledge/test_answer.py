"""/ask answers: extractive cards with quotes and sources; the optional LLM path."""

from __future__ import annotations

import asyncio

from knowledge import answer, retrieval, service
from tests.knowledge.conftest import FakeOpenAI


def test_extractive_answer_quotes_and_cites(shipped_kb: service.KnowledgeBase) -> None:
    reply = shipped_kb.answer("Pods are OOMKilled with exit code 137, what do I do?")
    assert reply.kind == "answer" and reply.title == "From the runbooks"
    assert "oomkilled" in reply.text.lower()
    quote = reply.sections[0]
    assert "oomkilled" in quote.title.lower() and ".md" in quote.title
    assert quote.text.startswith((">", "…", "```"))
    assert reply.sections[-1].title == "Related runbooks"
    assert reply.sections[-1].text.count("•") >= 1
    assert "no LLM" in reply.footnote


def test_chinese_question_gets_chinese_labels(shipped_kb: service.KnowledgeBase) -> None:
    reply = shipped_kb.answer("镜像拉取失败 ImagePullBackOff 怎么处理？")
    assert reply.title == "来自 runbook 的答案"
    assert "imagepull" in reply.sections[0].title.lower()


def test_off_topic_question_is_hedged(shipped_kb: service.KnowledgeBase) -> None:
    reply = shipped_kb.answer("What is a good recipe for sourdough bread?")
    assert reply.text.startswith("I'm not sure the runbooks cover this")
    nothing = shipped_kb.answer("今天天气怎么样")  # no term the runbooks know at all
    assert nothing.text == "没有找到覆盖这个问题的 runbook。"


def test_links_use_the_configured_base(shipped_kb: service.KnowledgeBase) -> None:
    hits = shipped_kb.search("node NotReady kubelet stopped posting status", k=3, per_source=2)
    reply = answer.extractive_reply("node NotReady", hits,
                                    link_base="https://git.example.com/runbooks/")
    assert "](https://git.example.com/runbooks/" in reply.sections[0].title


def test_excerpt_keeps_the_relevant_part_of_a_long_passage() -> None:
    passage = "\n\n".join([f"Step {i}: unrelated filler text " * 3 for i in range(20)]
                          + ["Rotate the TLS certificate with cert-manager renew."]
                          + [f"Tail {i} filler." for i in range(5)])
    excerpt = answer.best_excerpt(passage, "how to renew the certificate", limit=300)
    assert "Rotate the TLS certificate" in excerpt and len(excerpt) < 450
    assert excerpt.startswith("…")


def test_llm_answer_cites_the_chunks_it_used(shipped_kb: service.KnowledgeBase,
                                             fake_openai: FakeOpenAI) -> None:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="fake-chat", base_url=fake_openai.base_url, api_key="k",
                       max_retries=0, timeout=10)
    shipped_kb.llm_answer = answer.make_llm_answerer(model)
    try:
        fake_openai.replies = ["Raise the memory limit and roll out again [1]; check the "
                               "working set first [2]."]
        reply = asyncio.run(shipped_kb.aanswer("container OOMKilled exit code 137"))
        assert reply.text.startswith("Raise the memory limit")
        assert reply.sections[0].title == "Sources"
        assert reply.sections[0].text.count("[") == 2
        prompt = fake_openai.requests[-1]["body"]["messages"][0]["content"]
        assert "[1]" in prompt and "container OOMKilled exit code 137" in prompt

        fake_openai.replies = ["The runbooks do not cover this."]
        reply = asyncio.run(shipped_kb.aanswer("how do I rotate the office wifi password?"))
        assert reply.text.startswith("The runbooks do not cover this")
        assert reply.sections and reply.sections[0].title == "Closest runbooks"
    finally:
        shipped_kb.llm_answer = None


def test_failing_llm_falls_back_to_quotes(shipped_kb: service.KnowledgeBase) -> None:
    async def broken(question: str, hits: list[retrieval.Hit]) -> str:
        raise TimeoutError("model took too long")

    hits = shipped_kb.search("liveness probe failing", k=4, per_source=2)
    reply = asyncio.run(answer.llm_reply("liveness probe failing", hits, broken))
    assert reply.sections[0].text.startswith((">", "…", "```"))
    assert "LLM is unavailable" in reply.footnote
