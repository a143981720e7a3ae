"""`opsbot mcp`: the tool server on its own, over stdio or streamable HTTP."""

from __future__ import annotations

import sys

from bot import backends
from bot import settings as settings_mod
from tools import server

__all__ = ["run"]


def run(settings: settings_mod.Settings, *, transport: str, host: str, port: int,
        scenario: str | None = None) -> int:
    with backends.Backends(settings, scenario=scenario) as live:
        mcp_server = server.build_server(live.read_tools())
        for line in live.describe():
            print(line, file=sys.stderr)  # stdout belongs to the stdio transport
        if transport == "stdio":
            mcp_server.run("stdio")
        else:
            mcp_server.settings.host = host
            mcp_server.settings.port = port
            print(f"MCP streamable HTTP on http://{host}:{port}/mcp", file=sys.stderr)
            mcp_server.run("streamable-http")
    return 0
