"""Prompt files (shipped, versioned, rendered strictly) and the conversation window."""

from __future__ import annotations

import re

import pytest

from graph.llm import memory, prompting, untrusted


def test_every_prompt_loads_with_a_version() -> None:
    prompts = prompting.load_prompts()
    for name in prompting.NAMES:
        assert re.fullmatch(r"\d+", prompts[name].version)
        assert "version:" not in prompts[name].text
    assert "route v1" in prompts.versions()


def test_rendering_is_strict() -> None:
    prompts = prompting.load_prompts()
    rendered = prompts["system"].render(fence_rule="RULE")
    assert "RULE" in rendered and "{{" not in rendered
    with pytest.raises(prompting.PromptError):
        prompts["system"].render()
    with pytest.raises(prompting.PromptError):
        prompts["system"].render(fence_rule="x", surprise="y")


def test_memory_keeps_recent_turns_in_the_window_and_redacts() -> None:
    history: list[memory.Turn] = []
    for n in range(10):
        history = memory.remember(history, f"question {n} password=hunter{n}", f"answer {n}")
    assert len(history) <= memory.MAX_TURNS
    assert history[-1] == {"role": "assistant", "text": "answer 9"}
    assert all("hunter" not in t["text"] for t in history)
    long = memory.remember([], "x" * 5000, "y" * 5000, max_tokens=200)
    assert sum(len(t["text"]) for t in long) <= 600
    rendered = memory.render(history, untrusted.Fence("f00d"), 60)
    assert rendered.startswith("Earlier in this chat thread:")
    assert "<<<DATA f00d" in rendered and "answer 9" in rendered and "question 0" not in rendered
    assert memory.render([], untrusted.Fence("f00d"), 60) == ""
