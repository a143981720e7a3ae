"""The model endpoint: a ChatOpenAI over any OpenAI-compatible base URL (OpenAI, a
gateway, Ollama, vLLM), wrapped with what a chat bot needs from a remote dependency:
a hard timeout per attempt, retries with exponential backoff for transient failures, a
token budget per chat request and a circuit breaker.

Every failure surfaces as `LLMUnavailable` (or `budget.BudgetExhausted`), both project
errors, so callers fall back to their offline answer with one `except`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import SecretStr

from graph.llm import breaker as breaker_mod
from graph.llm import budget as budget_mod
from tools import errors

__all__ = ["LLMClient", "LLMConfig", "LLMUnavailable", "build_chat_model"]

log = logging.getLogger(__name__)

# Worth another attempt: the endpoint may answer the same request a moment later.
_TRANSIENT = (asyncio.TimeoutError, openai.APITimeoutError, openai.APIConnectionError,
              openai.RateLimitError, openai.InternalServerError, httpx.TransportError)
# Anything else the client stack raises for a bad answer or a refused request.
_PERMANENT = (openai.OpenAIError, httpx.HTTPError, ValueError, KeyError, TypeError)


class LLMUnavailable(errors.BackendUnavailable):
    """The model did not answer: `reason` is timeout, error or circuit_open."""

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__("llm", detail)
        self.reason = reason


@dataclass(frozen=True)
class LLMConfig:
    """How opsbot talks to the model; mirrors `bot.settings.LLMSettings`."""

    base_url: str
    model: str
    api_key: str = ""
    timeout_s: float = 30.0
    max_retries: int = 1
    retry_backoff_s: float = 0.5
    temperature: float = 0.0
    max_output_tokens: int = 800
    request_token_budget: int = 16000
    breaker_failures: int = 3
    breaker_reset_s: float = 60.0

    @classmethod
    def from_settings(cls, llm: Any) -> LLMConfig:
        """From `bot.settings.LLMSettings` (typed loosely: graph does not import bot)."""
        names = [f for f in cls.__dataclass_fields__ if hasattr(llm, f)]
        return cls(**{name: getattr(llm, name) for name in names})

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


def build_chat_model(config: LLMConfig, http: httpx.AsyncClient | None = None
                     ) -> BaseChatModel:
    """ChatOpenAI on the configured base URL; retries are ours, so the SDK's are off.

    `http` is the connection pool to use; without one, langchain-openai shares a
    process-wide pool, which breaks when the model is used from more than one event loop.
    """
    from langchain_openai import ChatOpenAI  # imported here: offline runs never need it

    return ChatOpenAI(
        http_async_client=http,
        model=config.model, base_url=config.base_url,
        # Local servers (Ollama, vLLM) take no key, but the SDK refuses an empty one.
        api_key=SecretStr(config.api_key or "unused"),
        timeout=config.timeout_s, max_retries=0, temperature=config.temperature,
        max_tokens=config.max_output_tokens,
    )


class LLMClient:
    """One shared client per process; the breaker state is shared by every conversation."""

    def __init__(self, config: LLMConfig, *, model: BaseChatModel | None = None,
                 breaker: breaker_mod.CircuitBreaker | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config = config
        self._http: httpx.AsyncClient | None = None
        if model is None:
            self._http = httpx.AsyncClient(timeout=config.timeout_s)
            model = build_chat_model(config, self._http)
        self.model = model
        self.breaker = breaker or breaker_mod.CircuitBreaker(config.breaker_failures,
                                                             config.breaker_reset_s)
        self._sleep = sleep

    async def aclose(self) -> None:
        """Close the connection pool this client opened."""
        if self._http is not None:
            await self._http.aclose()

    def new_budget(self) -> budget_mod.TokenBudget:
        """The allowance of one chat request."""
        return budget_mod.TokenBudget(self.config.request_token_budget)

    def status(self) -> str:
        """"ok", or why calls fail fast right now (for /readyz)."""
        state = self.breaker.state
        if state == "open":
            return f"circuit open, next try in {self.breaker.retry_in():.0f} s"
        return "ok" if state == "closed" else "circuit half-open"

    async def complete(self, messages: Sequence[BaseMessage], *,
                       budget: budget_mod.TokenBudget,
                       tools: Sequence[dict[str, Any]] | None = None,
                       tool_choice: str | None = None, json_mode: bool = False,
                       purpose: str = "") -> AIMessage:
        """One model answer; tool schemas bound when given (`tool_choice="none"` keeps
        them visible but forbids calls), JSON output when asked.

        Raises `LLMUnavailable` after the retries, at once when the circuit is open, and
        `BudgetExhausted` before sending when the request's budget cannot pay for it.
        """
        runnable: Any = self.model
        if tools:
            runnable = self.model.bind_tools(list(tools), tool_choice=tool_choice)
        elif json_mode:
            runnable = self.model.bind(response_format={"type": "json_object"})
        sent = budget_mod.estimate_messages(messages, json.dumps(list(tools or [])))
        budget.ensure(sent + self.config.max_output_tokens)
        attempts = max(1, self.config.max_retries + 1)
        for attempt in range(attempts):
            if not self.breaker.allow():
                raise LLMUnavailable(f"circuit open after repeated failures; next try in "
                                     f"{self.breaker.retry_in():.0f} s", reason="circuit_open")
            try:
                message = await asyncio.wait_for(runnable.ainvoke(list(messages)),
                                                 timeout=self.config.timeout_s)
            except _TRANSIENT as exc:
                self.breaker.record_failure()
                reason = "timeout" if isinstance(
                    exc, asyncio.TimeoutError | openai.APITimeoutError) else "error"
                log.warning("LLM %s call failed (attempt %d/%d): %s", purpose or "model",
                            attempt + 1, attempts, type(exc).__name__)
                if attempt + 1 == attempts:
                    detail = (f"no answer within {self.config.timeout_s:g} s"
                              if reason == "timeout" else f"{type(exc).__name__}")
                    raise LLMUnavailable(detail, reason=reason) from exc
                delay = self.config.retry_backoff_s * (2 ** attempt)
                await self._sleep(delay + random.uniform(0, delay / 4))
                continue
            except _PERMANENT as exc:
                self.breaker.record_failure()
                log.warning("LLM %s call refused: %s: %s", purpose or "model",
                            type(exc).__name__, str(exc)[:200])
                raise LLMUnavailable(f"{type(exc).__name__}", reason="error") from exc
            self.breaker.record_success()
            if not isinstance(message, AIMessage):
                raise LLMUnavailable("the model returned no message", reason="error")
            usage: dict[str, Any] = dict(message.usage_metadata or {})
            budget.charge(int(usage.get("total_tokens") or 0) or (
                sent + budget_mod.estimate_tokens(str(message.content))))
            return message
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
