"""A fake Feishu Open API (and long-connection WebSocket) answering like the real one."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from fakes.server import FakeServer, wait_for

__all__ = ["TOKEN", "FakeFeishuApi"]

TOKEN = "t-fake-tenant-token"


class FakeFeishuApi(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self.socket: web.WebSocketResponse | None = None
        self.frame_answers: dict[str, dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._reply)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_delete("/open-apis/im/v1/messages/{message_id}", self._delete)
        app.router.add_post("/open-apis/im/v1/images", self._image)
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._socket)

    async def _token(self, request: web.Request) -> web.Response:
        await self.record(request, "tenant_access_token")
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": TOKEN,
                                  "expire": 7200})

    async def _reply(self, request: web.Request) -> web.Response:
        await self.record(request, "reply")
        new_id = f"om_reply_{next(self._ids)}"
        return web.json_response({"code": 0, "msg": "success", "data": {
            "message_id": new_id, "root_id": request.match_info["message_id"],
            "msg_type": "interactive"}})

    async def _patch(self, request: web.Request) -> web.Response:
        await self.record(request, "patch")
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _delete(self, request: web.Request) -> web.Response:
        await self.record(request, "delete")
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _image(self, request: web.Request) -> web.Response:
        await self.record(request, "image")
        return web.json_response({"code": 0, "msg": "success",
                                  "data": {"image_key": f"img_v3_{next(self._ids)}"}})

    # -- long connection -------------------------------------------------------------------
    async def _endpoint(self, request: web.Request) -> web.Response:
        await self.record(request, "ws_endpoint")
        return web.json_response({"code": 0, "msg": "ok", "data": {
            "URL": f"ws://127.0.0.1:{self.port}/ws?device_id=dev1&service_id=7",
            "ClientConfig": {"ReconnectCount": 1, "ReconnectInterval": 1,
                             "ReconnectNonce": 0, "PingInterval": 120}}})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            frame = Frame()
            frame.ParseFromString(message.data)
            headers = {h.key: h.value for h in frame.headers}
            if headers.get("type") in ("event", "card") and frame.method == 1:
                answer = json.loads(frame.payload)
                data = answer.get("data")
                if data:
                    answer["data"] = json.loads(base64.b64decode(data))
                self.frame_answers[headers["message_id"]] = answer
        return ws

    def push_event(self, document: dict[str, Any], message_id: str) -> None:
        """Send one event frame (as Feishu does) over the long connection."""
        wait_for(lambda: self.socket is not None, what="a long connection")
        frame = Frame()
        for key, value in (("type", "event"), ("message_id", message_id),
                           ("trace_id", "trace-" + message_id), ("sum", "1"), ("seq", "0")):
            header = frame.headers.add()
            header.key, header.value = key, value
        frame.method = 1  # data frame
        frame.service = 7
        frame.SeqID = 1
        frame.LogID = 1
        frame.payload = json.dumps(document).encode()

        async def send() -> None:
            assert self.socket is not None
            await self.socket.send_bytes(frame.SerializeToString())

        self.run(send())
