"""The graph's side of MCP: one client session to the opsbot tool server.

In-process by default (memory streams to a FastMCP server in the same process); over
streamable HTTP when the tool server is deployed on its own. Either way the graph calls
`await session.call(name, **arguments)` and gets the tool's structured result back.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
from datetime import timedelta
from types import TracebackType
from typing import Any

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.server.fastmcp import FastMCP
from mcp.shared.memory import create_connected_server_and_client_session

from tools import results

__all__ = ["ToolSession"]

log = logging.getLogger(__name__)

_KEEP_CALLS = 500


class ToolSession:
    """An open MCP client session; use as an async context manager."""

    def __init__(self, *, server: FastMCP | None = None, url: str = "",
                 timeout_s: float = 60.0) -> None:
        if (server is None) == (not url):
            raise ValueError("give exactly one of an in-process server or a URL")
        self._server = server
        self._url = url
        self._timeout = timedelta(seconds=timeout_s)
        self._stack = contextlib.AsyncExitStack()
        self._session: ClientSession | None = None
        # The most recent calls (a long-running server must not keep them all) and how
        # many there have been, so a caller can pick out the calls of its own turn.
        self.calls: collections.deque[tuple[str, dict[str, Any]]] = collections.deque(
            maxlen=_KEEP_CALLS)
        self.call_count = 0
        self.tool_names: list[str] = []

    async def __aenter__(self) -> ToolSession:
        if self._server is not None:
            self._session = await self._stack.enter_async_context(
                create_connected_server_and_client_session(
                    self._server, read_timeout_seconds=self._timeout))
        else:
            read, write, _ = await self._stack.enter_async_context(
                streamablehttp_client(self._url, timeout=self._timeout.total_seconds()))
            self._session = await self._stack.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=self._timeout))
            await self._session.initialize()
        listed = await self._session.list_tools()
        self.tool_names = [t.name for t in listed.tools]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.aclose()
        self._session = None

    async def call(self, name: str, /, **arguments: Any) -> dict[str, Any]:
        """Call one tool; transport failures come back as an error result too."""
        if self._session is None:
            return results.error("the tool session is closed", backend="mcp")
        clean = {k: v for k, v in arguments.items() if v is not None}
        self.calls.append((name, clean))
        self.call_count += 1
        try:
            response = await self._session.call_tool(name, clean)
        except Exception as exc:
            log.warning("MCP call %s failed: %s", name, exc, exc_info=True)
            return results.error(f"tool {name} failed: {exc}", backend="mcp")
        if response.structuredContent is not None:
            return dict(response.structuredContent)
        text = "".join(getattr(block, "text", "") for block in response.content)
        if response.isError:
            return results.error(text or f"tool {name} failed", backend="mcp")
        try:
            return dict(json.loads(text))
        except (ValueError, TypeError):
            return results.ok(text)
