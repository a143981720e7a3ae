"""A local OpenAI-compatible chat endpoint with scripted answers, so that langchain-openai
runs for real over HTTP in tests: plain text, tool calls, malformed JSON, slow answers
and HTTP errors.

A test either queues steps (`queue`) or installs a `responder(body) -> Step` that
looks at the request (its messages, tools, response_format, tool_choice) and decides.
Every request body is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeOpenAI", "Step", "calls", "kind_of", "messages_text", "text", "tool_names"]


@dataclass
class Step:
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay_s: float = 0.0
    status: int = 200
    raw_body: str | None = None  # sent as is: a broken response body


def text(content: str, *, delay_s: float = 0.0) -> Step:
    return Step(content=content, delay_s=delay_s)


def calls(*wanted: tuple[str, dict[str, Any]]) -> Step:
    return Step(tool_calls=list(wanted))


def kind_of(body: dict[str, Any]) -> str:
    """What the bot asked for: route (JSON), final (tools forbidden), agent, or narrative."""
    if body.get("response_format"):
        return "route"
    if body.get("tools") and body.get("tool_choice") == "none":
        return "final"
    if body.get("tools"):
        return "agent"
    return "narrative"


def tool_names(body: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in body.get("tools") or []}


def messages_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.queue: list[Step] = []
        self.responder: Callable[[dict[str, Any]], Step] | None = None
        self._ids = itertools.count(1)
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete,
                                      methods=["POST"])])
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        self.requests.clear()
        self.queue.clear()
        self.responder = None

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def _next(self, body: dict[str, Any]) -> Step:
        if self.queue:
            return self.queue.pop(0)
        if self.responder is not None:
            return self.responder(body)
        return text("Nothing scripted for this request.")

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        step = self._next(body)
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        if step.raw_body is not None:
            return Response(step.raw_body, media_type="application/json")
        if step.status != 200:
            return JSONResponse({"error": {"message": "scripted failure", "type": "server_error",
                                           "code": None}}, status_code=step.status)
        message: dict[str, Any] = {"role": "assistant", "content": step.content}
        if step.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{next(self._ids)}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for name, args in step.tool_calls]
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        return JSONResponse({
            "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": 0,
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if step.tool_calls else "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 20,
                      "total_tokens": prompt + 20}})
