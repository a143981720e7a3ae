"""The Feishu/Lark front end: event callbacks on ``/feishu/events`` (or the long
connection, see `bot.feishu_longconn`) and the Open API through lark-oapi.

- ``im.message.receive_v1``: @mentions in groups (the ``@_user_N`` keys stripped) and
  direct chats become a `ChatRequest`; the answer is a reply in the message's thread
  (``reply_in_thread``), with a progress card patched in place when the turn is slow.
- ``card.action.trigger``: a button click must be answered within 3 s. When the turn is
  quick the answer carries a toast and the updated card; otherwise a "working on it"
  toast goes back at once and the clicked card is patched when the turn is done.

Events are deduplicated on ``header.event_id`` (Feishu retries unanswered events);
clicks are not, exactly-once decisions are the graph's job. lark-oapi's client calls are
synchronous (its token fetch always is), so they run in worker threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from typing import Any

import lark_oapi as lark
from lark_oapi.api.im.v1 import (
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    DeleteMessageRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import dedupe, delivery, feishu_crypto, feishu_render, protocols
from bot import metrics as metrics_mod
from bot import settings as settings_mod
from graph import chat

__all__ = ["FeishuApi", "FeishuFrontEnd", "FeishuPoster", "FeishuSurface"]

log = logging.getLogger(__name__)

_MENTION_KEY = re.compile(r"@_user_\d+")


class FeishuApi:
    """The few Open API calls opsbot makes, errors translated to `DeliveryError`."""

    def __init__(self, settings: settings_mod.FeishuSettings) -> None:
        # The domain is the one setting that points lark-oapi (token fetch included)
        # at Feishu, Lark or a test server.
        self.client = (lark.Client.builder().app_id(settings.app_id)
                       .app_secret(settings.app_secret)
                       .domain(settings.api_base_url.rstrip("/"))
                       .timeout(settings.timeout_s)
                       .log_level(lark.LogLevel.WARNING).build())

    async def _call(self, what: str, fn: Any, request: Any) -> Any:
        try:
            response = await asyncio.to_thread(fn, request)
        except Exception as exc:  # requests and lark raise a wide variety of errors
            raise delivery.DeliveryError(f"feishu {what}: {exc}") from exc
        if not response.success():
            raise delivery.DeliveryError(f"feishu {what}: code {response.code}: {response.msg}")
        return response

    async def reply(self, message_id: str, card: dict[str, Any]) -> str:
        body = (ReplyMessageRequestBody.builder().msg_type("interactive")
                .content(json.dumps(card, ensure_ascii=False)).reply_in_thread(True)
                .uuid(str(uuid.uuid4())).build())
        request = ReplyMessageRequest.builder().message_id(message_id).request_body(body).build()
        response = await self._call("reply", self.client.im.v1.message.reply, request)
        return str(response.data.message_id)

    async def send(self, chat_id: str, card: dict[str, Any]) -> str:
        """A new top-level card in a chat (alert threads and digests start here)."""
        body = (CreateMessageRequestBody.builder().receive_id(chat_id).msg_type("interactive")
                .content(json.dumps(card, ensure_ascii=False)).uuid(str(uuid.uuid4())).build())
        request = (CreateMessageRequest.builder().receive_id_type("chat_id")
                   .request_body(body).build())
        response = await self._call("send", self.client.im.v1.message.create, request)
        return str(response.data.message_id)

    async def patch(self, message_id: str, card: dict[str, Any]) -> None:
        body = PatchMessageRequestBody.builder().content(
            json.dumps(card, ensure_ascii=False)).build()
        request = PatchMessageRequest.builder().message_id(message_id).request_body(body).build()
        await self._call("patch", self.client.im.v1.message.patch, request)

    async def delete(self, message_id: str) -> None:
        request = DeleteMessageRequest.builder().message_id(message_id).build()
        await self._call("delete", self.client.im.v1.message.delete, request)

    async def upload_image(self, path: str) -> str:
        with open(path, "rb") as image:
            body = CreateImageRequestBody.builder().image_type("message").image(image).build()
            request = CreateImageRequest.builder().request_body(body).build()
            response = await self._call("image upload", self.client.im.v1.image.create,
                                        request)
        return str(response.data.image_key)


class FeishuSurface:
    """Replies in one Feishu thread: cards replied to the thread's root message."""

    def __init__(self, api: FeishuApi, thread: str) -> None:
        self.api = api
        self.thread = thread

    async def card(self, reply: chat.ChatReply) -> dict[str, Any]:
        keys = []
        for path in reply.images:
            if not os.path.isfile(path):
                log.warning("chart %s does not exist; not uploaded", path)
                continue
            keys.append(await self.api.upload_image(path))
        return feishu_render.render_card(reply, thread=self.thread, image_keys=keys)

    async def post(self, reply: chat.ChatReply) -> str:
        return await self.api.reply(self.thread, await self.card(reply))

    async def update(self, ref: str, reply: chat.ChatReply) -> None:
        await self.api.patch(ref, await self.card(reply))

    async def delete(self, ref: str) -> None:
        await self.api.delete(ref)


class FeishuPoster:
    """Bot-initiated messages: a new card in a chat opens the thread; replies go under it."""

    def __init__(self, api: FeishuApi) -> None:
        self.api = api

    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        return await self.api.send(channel, await FeishuSurface(self.api, "").card(reply))

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str:
        return await FeishuSurface(self.api, thread).post(reply)

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None:
        await FeishuSurface(self.api, ref).update(ref, reply)


class FeishuFrontEnd:
    """Event dispatch shared by the HTTP callback and the long connection."""

    def __init__(self, settings: settings_mod.Settings, handler: protocols.ChatHandler, *,
                 keys: dedupe.KeyStore, background: delivery.Background,
                 metrics: metrics_mod.Metrics) -> None:
        self.settings = settings.feishu
        self._serve = settings.serve
        self._handler = handler
        self._keys = keys
        self._background = background
        self._metrics = metrics
        self.api = FeishuApi(settings.feishu)

    # -- HTTP ----------------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        """POST /feishu/events: our own checks (401/400), then dispatch."""
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            document = feishu_crypto.open_body(
                body, headers, encrypt_key=self.settings.encrypt_key,
                verification_token=self.settings.verification_token,
                max_skew_s=self.settings.max_clock_skew_s)
        except feishu_crypto.Unauthorized as exc:
            self._metrics.events.labels("feishu", "rejected").inc()
            log.warning("feishu callback refused: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=401)
        except feishu_crypto.BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if document.get("type") == "url_verification":
            return JSONResponse({"challenge": document.get("challenge", "")})
        return JSONResponse(await self.dispatch(document))

    async def dispatch(self, document: dict[str, Any]) -> dict[str, Any]:
        """Handle one decoded event or callback; returns the callback's answer body."""
        header = document.get("header") or {}
        event_type = header.get("event_type") or (document.get("event") or {}).get("type")
        if event_type == "im.message.receive_v1":
            await self._on_message(header, document.get("event") or {})
            return {"msg": "success"}
        if event_type == "card.action.trigger":
            return await self._on_card_action(document.get("event") or {})
        log.debug("feishu: ignoring event %s", event_type)
        return {"msg": "ignored"}

    # -- events --------------------------------------------------------------------------
    async def _on_message(self, header: dict[str, Any], event: dict[str, Any]) -> None:
        sender = event.get("sender") or {}
        message = event.get("message") or {}
        if sender.get("sender_type") != "user" or not message.get("message_id"):
            return  # our own and other apps' messages
        if message.get("chat_type") != "p2p" and not message.get("mentions"):
            return  # in groups only @mentions are for us
        text = _message_text(message)
        if text is None:
            log.info("feishu: ignoring a %s message", message.get("message_type"))
            return
        thread = message.get("root_id") or message["message_id"]
        request = chat.ChatRequest(
            platform="feishu", channel=message.get("chat_id", ""), thread=thread,
            user=(sender.get("sender_id") or {}).get("open_id", ""), text=text)
        self._background.spawn(self._message_turn(header.get("event_id"), request, thread),
                               name=f"feishu-turn-{request.thread_id}")

    async def _message_turn(self, event_id: str | None, request: chat.ChatRequest,
                            thread: str) -> None:
        """A message's turn, after the ack: a redelivered event is dropped here, so the
        Redis round trip never delays the answer Feishu waits for."""
        if event_id and not await self._keys.first(f"feishu:event:{event_id}",
                                                    self._serve.dedupe_ttl_s):
            log.info("feishu: dropping duplicate event %s", event_id)
            self._metrics.events.labels("feishu", "duplicate").inc()
            return
        self._metrics.events.labels("feishu", "message").inc()
        await delivery.run_turn(self._handler, request, FeishuSurface(self.api, thread),
                                metrics=self._metrics,
                                progress_after_s=self._serve.progress_after_s)

    async def _on_card_action(self, event: dict[str, Any]) -> dict[str, Any]:
        action = event.get("action") or {}
        value = feishu_render.parse_button_value(action.get("value"))
        context = event.get("context") or {}
        message_id = context.get("open_message_id", "")
        if value is None or not message_id:
            return {}
        thread = value["thread"] or message_id
        request = chat.ChatRequest(
            platform="feishu", channel=context.get("open_chat_id", ""), thread=thread,
            user=(event.get("operator") or {}).get("open_id", ""),
            action=chat.ButtonAction(action_id=value["action_id"], value=value["value"],
                                     message_ref=message_id))
        click = delivery.Click(ref=message_id, kind=value["kind"], card_id=value["card_id"])
        surface = FeishuSurface(self.api, thread)
        self._metrics.events.labels("feishu", "click").inc()
        turn = delivery.Turn(self._handler, request, metrics=self._metrics, click=click)
        if not await turn.wait(self._serve.card_answer_s):
            self._background.spawn(self._finish_click(turn, surface, click),
                                   name=f"feishu-click-{request.thread_id}")
            return {"toast": feishu_render.toast(None)}
        replies = await turn.replies()
        index = delivery.replacement_index(replies, click)
        answer: dict[str, Any] = {
            "toast": feishu_render.toast(replies[index] if index is not None else
                                         (replies[0] if replies else
                                          chat.ChatReply(text="Done")))}
        inline = index if index is not None and not replies[index].images else None
        if inline is not None:
            answer["card"] = {"type": "raw", "data": feishu_render.render_card(
                replies[inline], thread=thread)}
        if any(i != inline for i in range(len(replies))):  # more than the inline card
            self._background.spawn(
                delivery.deliver(replies, surface, click=click, skip=inline),
                name=f"feishu-click-replies-{request.thread_id}")
        return answer

    async def _finish_click(self, turn: delivery.Turn, surface: FeishuSurface,
                            click: delivery.Click) -> None:
        await delivery.deliver(await turn.replies(), surface, click=click)


def _message_text(message: dict[str, Any]) -> str | None:
    """Text of a text or rich-text message without mention keys; None for other types."""
    try:
        content = json.loads(message.get("content") or "{}")
    except json.JSONDecodeError:
        return None
    kind = message.get("message_type")
    if kind == "text":
        text = str(content.get("text", ""))
    elif kind == "post":
        # Rich text: a title and lines of runs, possibly under a locale key (zh_cn...).
        if "content" not in content:
            content = next((v for v in content.values() if isinstance(v, dict)), {})
        lines = content.get("content") or []
        runs = [run.get("text", "") for line in lines if isinstance(line, list)
                for run in line
                if isinstance(run, dict) and run.get("tag") in ("text", "a", "code_block")]
        text = " ".join([str(content.get("title", "")), *runs])
    else:
        return None
    return " ".join(_MENTION_KEY.sub("", text).split())
