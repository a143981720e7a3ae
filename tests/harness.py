"""Run a real opsbot Runtime (embedded Redis, sandbox cluster over HTTP, local
Prometheus, in-process MCP session) on an event loop of its own, so that synchronous
tests can talk to it turn by turn."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot import runtime
from bot import settings as settings_mod
from graph import chat

__all__ = ["LoopThread", "RuntimeHarness", "make_settings"]

T = TypeVar("T")


def make_settings(state_dir: Path, redis_url: str, **groups: Any) -> settings_mod.Settings:
    """Settings for tests: a private state dir and the shared test Redis."""
    values: dict[str, Any] = {"OPSBOT_STATE_DIR": str(state_dir), "redis": {"url": redis_url}}
    values.update(groups)
    return settings_mod.Settings(**values)


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class RuntimeHarness:
    def __init__(self, settings: settings_mod.Settings, *, scenario: str = "crashloop",
                 with_prometheus: bool = True) -> None:
        self.settings = settings
        self.scenario = scenario
        self._with_prometheus = with_prometheus
        self.loop = LoopThread()
        self.rt = runtime.Runtime(settings, scenario=scenario, with_prometheus=with_prometheus)

    async def _lifecycle(self, started: concurrent.futures.Future[None]) -> None:
        # MCP's in-process session holds an anyio cancel scope that must be entered and
        # left by the same task, so one task owns the runtime from start to stop.
        self._stop = asyncio.Event()
        try:
            async with self.rt:
                started.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    def __enter__(self) -> RuntimeHarness:
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._task = asyncio.run_coroutine_threadsafe(self._lifecycle(started), self.loop.loop)
        try:
            started.result(180)
        except BaseException:
            self.loop.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.loop.loop.call_soon_threadsafe(self._stop.set)
            self._task.result(60)
        finally:
            self.loop.close()

    def say(self, text: str, *, user: str = "alice", thread: str = "t1",
            channel: str = "C1") -> runtime.TurnResult:
        request = chat.ChatRequest(platform="test", channel=channel, thread=thread, user=user,
                                   text=text)
        return self.loop.run(self.rt.handle(request))

    def click(self, button: chat.Button, *, user: str = "alice", thread: str = "t1",
              channel: str = "C1") -> runtime.TurnResult:
        request = chat.ChatRequest(platform="test", channel=channel, thread=thread, user=user,
                                   action=chat.ButtonAction(action_id=button.action_id,
                                                            value=button.value))
        return self.loop.run(self.rt.handle(request))

    def call_tool(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        assert self.rt.tools is not None
        return self.loop.run(self.rt.tools.call(tool, **arguments))
