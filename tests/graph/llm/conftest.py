"""The scripted OpenAI-compatible endpoint, shared by the LLM tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.graph.llm import fake_openai


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[fake_openai.FakeOpenAI]:
    with fake_openai.FakeOpenAI() as server:
        yield server


@pytest.fixture
def llm(fake_llm: fake_openai.FakeOpenAI) -> Iterator[fake_openai.FakeOpenAI]:
    """The endpoint with no script and no recorded requests."""
    fake_llm.reset()
    yield fake_llm
    fake_llm.reset()
