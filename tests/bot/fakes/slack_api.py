"""A fake Slack Web API (and Socket Mode WebSocket) answering like the real one."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from fakes.server import FakeServer, wait_for

__all__ = ["BOT_ID", "BOT_USER", "TEAM", "FakeSlackApi"]

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"


class FakeSlackApi(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = {}
        self.uploads: list[tuple[str, int]] = []
        self.socket: web.WebSocketResponse | None = None
        self.socket_received: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def fail(self, api: str, status: int = 429, *, headers: dict[str, str] | None = None,
             body: dict[str, Any] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``api`` with an error."""
        self._failures.setdefault(api, []).extend(
            [(status, headers or {}, body or {"ok": False, "error": "ratelimited"})] * times)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = await self.record(request, method)
        queued = self._failures.get(method)
        if queued:
            status, headers, body = queued.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return web.json_response(self._answer(method, call.body))

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake",
                    "user": "opsbot", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                    "is_enterprise_install": False}
        if method == "chat.postMessage":
            n = next(self._ts)
            ts = f"{1700000000 + n}.{n:06d}"
            return {"ok": True, "channel": body.get("channel"), "ts": ts,
                    "message": {"text": body.get("text"), "ts": ts, "bot_id": BOT_ID}}
        if method in ("chat.update", "chat.delete"):
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):04d}"
            return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}",
                    "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(body.get("files", "[]"))
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")}
                                          for f in files]}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        self.uploads.append((request.match_info["file_id"], len(data)))
        return web.Response(text=f"OK - {len(data)}")

    # -- Socket Mode -----------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0001"},
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_received.append(json.loads(message.data))
        return ws

    def push(self, envelope: dict[str, Any]) -> None:
        """Send one Socket Mode envelope to the connected app."""
        wait_for(lambda: self.socket is not None, what="a Socket Mode connection")

        async def send() -> None:
            assert self.socket is not None
            await self.socket.send_json(envelope)

        self.run(send())

    def close_socket(self) -> None:
        if self.socket is not None and not self.socket.closed:
            self.run(asyncio.wait_for(self.socket.close(), 2))
