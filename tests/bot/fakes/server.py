"""An aiohttp server on a loopback port, run in a thread, that records every call."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

__all__ = ["Call", "FakeServer", "wait_for"]

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Call:
    """One request as the fake saw it."""

    method: str
    path: str
    api: str
    body: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""
    at: float = field(default_factory=time.monotonic)


class FakeServer:
    """Subclasses add routes in :meth:`routes`; :meth:`start` returns the base URL."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- subclass hooks --------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            self.routes(app)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        assert ready.wait(10), "fake server did not start"
        return self.base_url

    def stop(self) -> None:
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def run(self, coro: Any, timeout: float = 5.0) -> Any:
        """Run a coroutine on the server's loop from the test thread."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # -- recording -------------------------------------------------------------------------
    async def record(self, request: web.Request, api: str) -> Call:
        raw = await request.read()
        body: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if ctype == "application/x-www-form-urlencoded" and raw:
            body.update(parse_qsl(raw.decode()))
        elif raw[:1] == b"{":
            # Some clients (lark-oapi's requests transport) send JSON without saying so.
            body.update(json.loads(raw))
        call = Call(request.method, request.path, api, body, dict(request.headers), raw)
        with self._lock:
            self.calls.append(call)
        return call

    def calls_to(self, api: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.api == api]

    def wait_calls(self, api: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        def enough() -> list[Call]:
            calls = self.calls_to(api)
            return calls if len(calls) >= count else []

        return wait_for(enough, timeout, f"{count} call(s) to {api}")
