"""The tools the model may call: the MCP server's read tools, and nothing else.

Schemas come from the MCP server's own `list_tools` (in-process FastMCP or the deployed
server over streamable HTTP), filtered to `tools.server.READ_TOOL_NAMES`. A tool is
kept only when it is on that list, is not a write tool and does not declare itself
non-read-only; `assert_read_only` runs again on every set of schemas bound to the model.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from tools import errors, server

__all__ = [
    "Catalog",
    "ReadTool",
    "ToolLister",
    "UnsafeTools",
    "assert_read_only",
    "fastmcp_lister",
    "read_only",
    "url_lister",
]

log = logging.getLogger(__name__)

ToolLister = Callable[[], Awaitable[Sequence[Any]]]
# Descriptions carry example questions; past this length they cost more than they help.
_DESCRIPTION_CHARS = 700


class UnsafeTools(errors.OpsbotError):
    """A set of tools meant for the model contains one that is not read-only."""


@dataclass(frozen=True)
class ReadTool:
    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> dict[str, Any]:
        """The OpenAI function-tool format ChatOpenAI.bind_tools accepts."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": self.parameters or {"type": "object", "properties": {}}}}


def assert_read_only(names: Iterable[str], *, also_allowed: Iterable[str] = ()) -> None:
    """Refuse, loudly, any tool name that is a write tool or not a known read tool."""
    allowed = set(server.READ_TOOL_NAMES) | set(also_allowed)
    bad = sorted({n for n in names if n in server.WRITE_TOOL_NAMES or n not in allowed})
    if bad:
        raise UnsafeTools(f"refusing to give the model non-read-only tools: {bad}")


def _read_only_hint(tool: Any) -> bool | None:
    annotations = getattr(tool, "annotations", None)
    hint = getattr(annotations, "readOnlyHint", None)
    if hint is None and isinstance(getattr(tool, "metadata", None), dict):
        hint = tool.metadata.get("readOnlyHint")
    return hint if isinstance(hint, bool) else None


def read_only(listed: Iterable[Any]) -> list[ReadTool]:
    """The read tools among MCP tool definitions (objects with name, description and
    inputSchema, or LangChain tools with args_schema)."""
    kept: list[ReadTool] = []
    for tool in listed:
        name = str(getattr(tool, "name", ""))
        if name not in server.READ_TOOL_NAMES or _read_only_hint(tool) is False:
            continue
        schema = getattr(tool, "inputSchema", None) or getattr(tool, "args_schema", None)
        parameters = dict(schema) if isinstance(schema, dict) else {}
        parameters.pop("title", None)
        description = str(getattr(tool, "description", "") or "")[:_DESCRIPTION_CHARS]
        kept.append(ReadTool(name, description, parameters))
    assert_read_only(t.name for t in kept)
    return kept


def fastmcp_lister(mcp_server: Any) -> ToolLister:
    """List the tools of the in-process FastMCP server (`FastMCP.list_tools`)."""

    async def listed() -> Sequence[Any]:
        return list(await mcp_server.list_tools())

    return listed


def url_lister(url: str) -> ToolLister:
    """List the tools of a deployed opsbot MCP server over streamable HTTP."""

    async def listed() -> Sequence[Any]:
        from langchain_mcp_adapters.tools import load_mcp_tools

        return list(await load_mcp_tools(None, connection={"transport": "streamable_http",
                                                           "url": url}))

    return listed


class Catalog:
    """The read tools, listed once on first use (a down tool server must not stop start)."""

    def __init__(self, lister: ToolLister) -> None:
        self._lister = lister
        self._tools: list[ReadTool] | None = None

    async def tools(self) -> list[ReadTool]:
        if self._tools is None:
            try:
                listed = await self._lister()
            except (OSError, errors.OpsbotError, RuntimeError, ValueError, httpx.HTTPError,
                    ExceptionGroup) as exc:
                raise errors.BackendUnavailable("mcp", f"listing tools failed: {exc}") from exc
            self._tools = read_only(listed)
            log.info("model may call %d read tools", len(self._tools))
        return self._tools
