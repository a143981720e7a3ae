"""The opsbot MCP server (FastMCP): publishes the read tools (and, separately, the write
tools) with their descriptions and example questions.

Tools are async wrappers that run the blocking Kubernetes/Prometheus calls in a worker
thread, so one slow backend does not stall the server's event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from typing import Any

import anyio
import yaml
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

from tools import read_tools

__all__ = ["READ_TOOL_NAMES", "WRITE_TOOL_NAMES", "build_server", "load_descriptions",
           "register_write_tools"]

READ_TOOL_NAMES = (
    "list_namespaces", "list_nodes", "list_workloads", "list_pods", "list_resources",
    "describe", "pod_logs",
    "list_events", "rollout_history", "prom_query", "prom_range", "prom_metrics",
)

# Published name -> method of tools.write_tools.WriteTools.
WRITE_TOOL_NAMES = {
    "delete_pod": "delete_pod", "scale": "scale", "rollout_restart": "restart",
    "pause_rollout": "pause_rollout", "resume_rollout": "resume_rollout", "cordon": "cordon",
    "uncordon": "uncordon", "set_hpa_max": "set_hpa_max", "rollback": "rollback",
    "set_resources": "set_resources", "set_image": "set_image", "set_env": "set_env",
}

_INSTRUCTIONS = (
    "opsbot's Kubernetes and Prometheus tools. Read tools never change anything. Every tool "
    "returns {status: ok|error|no_data, data, message, truncated}; an error names the "
    "backend that failed."
)


def load_descriptions(filename: str) -> dict[str, dict[str, Any]]:
    text = resources.files("tools").joinpath(filename).read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def _describe(entry: dict[str, Any]) -> str:
    examples = entry.get("examples") or []
    text = str(entry["description"]).strip()
    if examples:
        text += "\nExample questions: " + "; ".join(examples)
    return text


def _threaded(method: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(**kwargs: Any) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(functools.partial(method, **kwargs))
    return call


def register_write_tools(server: FastMCP, writer: Any) -> None:
    """Write tools are published apart from read tools and marked destructive."""
    descriptions = load_descriptions("write_tools.yaml")
    for tool_name, method in WRITE_TOOL_NAMES.items():
        server.add_tool(
            _threaded(getattr(writer, method)), name=tool_name,
            description=_describe(descriptions[tool_name]),
            annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True,
                                        idempotentHint=False),
            structured_output=True,
        )


def build_server(reader: read_tools.ReadTools, *, writer: Any = None,
                 name: str = "opsbot") -> FastMCP:
    """A FastMCP server over the given tool backends; `writer` adds the write tools."""
    server = FastMCP(name, instructions=_INSTRUCTIONS)
    descriptions = load_descriptions("read_tools.yaml")
    for tool_name in READ_TOOL_NAMES:
        server.add_tool(
            _threaded(getattr(reader, tool_name)), name=tool_name,
            description=_describe(descriptions[tool_name]),
            annotations=ToolAnnotations(readOnlyHint=True, destructiveHint=False),
            structured_output=True,
        )
    if writer is not None:
        writer.register(server)
    return server
