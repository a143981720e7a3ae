"""The Slack front end: slack-bolt's async app over HTTP (``/slack/events``) or Socket Mode.

Every Slack input becomes a neutral `ChatRequest` and runs through the one handler:

- ``app_mention`` anywhere, direct messages, and plain messages in threads the bot has
  taken part in (remembered in Redis);
- the slash commands ``/rca /fix /ask /predict /digest /opsbot``: the command is echoed
  as a new channel message whose thread holds the answer, so each command gets a thread;
- buttons of our cards (``block_actions``): the click carries the clicked message's ts,
  which `bot.delivery` uses to update the card in place.

Slack wants an answer within 3 s. The path to it is kept free of anything that waits:
signature and timestamp, parsing, then the listener, which only starts a background task
and returns; the answer goes out when it returns. Everything else runs after it: the
turn, the Web API calls, and the Redis round trips, among them the ``SET NX`` on
``event_id`` that drops events Slack retries (atomic, so the retry is dropped as surely
as before the ack, and no ack waits for Redis). Button clicks are never deduplicated:
exactly-once decisions are the graph's job.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncBoltRequest
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import dedupe, delivery, protocols, slack_render
from bot import metrics as metrics_mod
from bot import settings as settings_mod
from graph import chat

__all__ = ["COMMANDS", "SlackFrontEnd", "SlackPoster", "SlackSurface"]

log = logging.getLogger(__name__)

COMMANDS = ("/rca", "/fix", "/ask", "/predict", "/digest", "/opsbot")
_MAX_SKEW_S = 300  # Slack's own rule for request timestamps
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")


def _plain(text: str, bot_user_id: str | None) -> str:
    """Slack's wire text as the user typed it: no bot mention, links and entities undone."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _SLACK_LINK.sub(lambda m: m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def _team(body: dict[str, Any]) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    return str(team or (body.get("user") or {}).get("team_id") or "-")


class _QuietClientWarning(logging.Filter):
    # Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
    # client we hand it (ours has the retry handlers and base URL) wins; that is intended.
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class SlackSurface:
    """Replies in one Slack thread, through the Web API."""

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except SlackApiError as exc:
            raise delivery.DeliveryError(
                f"slack {what}: {exc.response.get('error', exc.response.status_code)}") from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise delivery.DeliveryError(f"slack {what}: {exc}") from exc

    async def post(self, reply: chat.ChatReply) -> str:
        response = await self._call("chat.postMessage", self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts or None,
            text=slack_render.fallback_text(reply), blocks=slack_render.render_blocks(reply),
            unfurl_links=False, unfurl_media=False))
        await self._upload_images(reply)
        return str(response["ts"])

    async def post_mrkdwn(self, text: str) -> str:
        """A message written in Slack's own markup (mentions), not neutral Markdown."""
        response = await self._call("chat.postMessage", self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts or None, text=text))
        return str(response["ts"])

    async def update(self, ref: str, reply: chat.ChatReply) -> None:
        await self._call("chat.update", self.client.chat_update(
            channel=self.channel, ts=ref, text=slack_render.fallback_text(reply),
            blocks=slack_render.render_blocks(reply)))
        await self._upload_images(reply)

    async def delete(self, ref: str) -> None:
        await self._call("chat.delete", self.client.chat_delete(channel=self.channel, ts=ref))

    async def _upload_images(self, reply: chat.ChatReply) -> None:
        for path in reply.images:
            if not os.path.isfile(path):
                log.warning("chart %s does not exist; not uploaded", path)
                continue
            name = os.path.basename(path)
            await self._call("files_upload_v2", self.client.files_upload_v2(
                channel=self.channel, thread_ts=self.thread_ts or None, file=path,
                filename=name, title=name))


class SlackPoster:
    """Bot-initiated messages: a top-level post opens the thread (its ts)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        return await SlackSurface(self.client, channel, "").post(reply)

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str:
        return await SlackSurface(self.client, channel, thread).post(reply)

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None:
        await SlackSurface(self.client, channel, "").update(ref, reply)


class SlackFrontEnd:
    """The bolt app with opsbot's listeners, its HTTP endpoint and Socket Mode."""

    def __init__(self, settings: settings_mod.Settings, handler: protocols.ChatHandler, *,
                 keys: dedupe.KeyStore, background: delivery.Background,
                 metrics: metrics_mod.Metrics) -> None:
        slack = settings.slack
        self._serve = settings.serve
        self._handler = handler
        self._keys = keys
        self._background = background
        self._metrics = metrics
        self._app_token = slack.app_token
        self._socket: AsyncSocketModeHandler | None = None
        self._verifier = (SignatureVerifier(slack.signing_secret)
                          if slack.signing_secret else None)
        self.client = AsyncWebClient(
            token=slack.bot_token, base_url=slack.api_base_url,
            retry_handlers=[AsyncConnectionErrorRetryHandler(),
                            AsyncRateLimitErrorRetryHandler(
                                max_retry_count=slack.rate_limit_retries)])
        self._pool: aiohttp.ClientSession | None = None
        bolt_log = logging.getLogger("bot.slack_bolt")
        bolt_log.addFilter(_QuietClientWarning())
        # process_before_response: every listener below only acks and starts a task, so
        # bolt may answer when it returns. Otherwise bolt runs each listener in a task of
        # its own and polls for the ack every 10 ms, which under load (bench/serve_load.py)
        # cost a large part of the event loop that the acks share.
        self.app = AsyncApp(client=self.client, signing_secret=slack.signing_secret,
                            request_verification_enabled=bool(slack.signing_secret),
                            process_before_response=True, name="opsbot", logger=bolt_log)
        self._http = AsyncSlackRequestHandler(self.app)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        for command in COMMANDS:
            self.app.command(command)(self._on_command)
        self.app.action(re.compile("^" + re.escape(slack_render.ACTION_PREFIX)))(
            self._on_action)

    @property
    def http_enabled(self) -> bool:
        return self._verifier is not None

    # -- HTTP ----------------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        """POST /slack/events: signature and timestamp first, then parse, then bolt."""
        body = await request.body()
        problem = self._verify(body, request.headers.get("x-slack-request-timestamp"),
                               request.headers.get("x-slack-signature"))
        if problem:
            self._metrics.events.labels("slack", "rejected").inc()
            log.warning("slack request refused: %s", problem)
            return JSONResponse({"error": problem}, status_code=401)
        problem = _malformed(body, request.headers.get("content-type", ""))
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        return await self._http.handle(request)

    def _verify(self, body: bytes, timestamp: str | None, signature: str | None) -> str:
        if self._verifier is None:
            return "slack signing secret is not configured"
        if not timestamp or not signature:
            return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            return "malformed X-Slack-Request-Timestamp"
        if skew > _MAX_SKEW_S:
            return f"stale request timestamp ({int(skew)} s from our clock)"
        if not self._verifier.is_valid(body, timestamp, signature):
            return "bad signature"
        return ""

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        # One aiohttp client, and so one connection pool, for every Web API call: without
        # it slack_sdk opens a client and a TCP (and TLS) connection per call, which under
        # load took more of the event loop than the acks themselves.
        self._pool = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.client.timeout))
        self.client.session = self._pool
        await self._prime_authorization()
        if self._app_token:
            self._socket = AsyncSocketModeHandler(self.app, self._app_token,
                                                  web_client=self.client)
            await self._socket.connect_async()
            log.info("slack: connected over Socket Mode")

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._pool is not None:
            await self._pool.close()
            self.client.session = self._pool = None

    async def _prime_authorization(self) -> None:
        """Call ``auth.test`` now rather than on the first request.

        Bolt's single-workspace authorization calls it on the first request and keeps
        the answer; until then every request waits for it (all of a burst that arrives
        together), on the path to the ack. Doing it at start-up also shows a bad token in
        the log at once. When Slack cannot be reached now, bolt still asks on first use.
        """
        middleware = [m for m in getattr(self.app, "_async_middleware_list", [])
                      if isinstance(m, AsyncSingleTeamAuthorization)]
        if not middleware:
            return
        try:
            result = await self.client.auth_test()
        except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: auth.test failed at start-up (%s); retrying on first use",
                        exc)
            return
        for item in middleware:
            item.auth_test_result = result
        log.info("slack: authorized as %s in %s", result.get("user"), result.get("team"))

    # -- listeners -----------------------------------------------------------------------
    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any],
                          context: AsyncBoltContext, request: AsyncBoltRequest) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        self._spawn_message_turn(body, event, context, request, follow_up=False)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any],
                          context: AsyncBoltContext, request: AsyncBoltRequest) -> None:
        # Edits, joins, bot posts and the like carry a subtype; only people's messages count.
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return
        bot_user = context.bot_user_id
        if bot_user and f"<@{bot_user}" in event.get("text", ""):
            return  # the app_mention event for the same message answers it
        if event.get("channel_type") == "im":
            self._spawn_message_turn(body, event, context, request, follow_up=False)
        elif event.get("thread_ts"):
            self._spawn_message_turn(body, event, context, request, follow_up=True)

    def _spawn_message_turn(self, body: dict[str, Any], event: dict[str, Any],
                            context: AsyncBoltContext, request: AsyncBoltRequest, *,
                            follow_up: bool) -> None:
        retry = (request.headers.get("x-slack-retry-num") or ["0"])[0]
        self._background.spawn(
            self._message_turn(body, event, context.bot_user_id, retry=retry,
                               follow_up=follow_up),
            name=f"slack-event-{body.get('event_id', event.get('ts', ''))}")

    async def _message_turn(self, body: dict[str, Any], event: dict[str, Any],
                            bot_user_id: str | None, *, retry: str, follow_up: bool) -> None:
        """A message's turn, after the ack: drop a retried event, and for a plain message
        in a channel thread, go on only when we took part in that thread."""
        event_id = body.get("event_id")
        if event_id and not await self._keys.first(f"slack:event:{event_id}",
                                                    self._serve.dedupe_ttl_s):
            log.info("slack: dropping duplicate event %s (retry %s)", event_id, retry)
            self._metrics.events.labels("slack", "duplicate").inc()
            return
        channel = event["channel"]
        thread = event.get("thread_ts") or event["ts"]
        if follow_up and not await self._keys.known(self._thread_key(channel, thread)):
            return
        request = chat.ChatRequest(platform="slack", channel=f"{_team(body)}:{channel}",
                                   thread=thread, user=event["user"],
                                   text=_plain(event.get("text", ""), bot_user_id))
        self._metrics.events.labels("slack", "message").inc()
        await self._turn(request, channel, thread)

    async def _on_command(self, ack: Any, body: dict[str, Any], command: dict[str, Any],
                          respond: Any) -> None:
        await ack()
        self._metrics.events.labels("slack", "command").inc()
        self._background.spawn(self._command_turn(body, command, respond),
                               name=f"slack-command-{command.get('command')}")

    async def _command_turn(self, body: dict[str, Any], command: dict[str, Any],
                            respond: Any) -> None:
        channel, user = command["channel_id"], command["user_id"]
        text = f"{command['command']} {command.get('text', '')}".strip()
        shown = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        try:
            thread = await SlackSurface(self.client, channel, "").post_mrkdwn(
                f"<@{user}> asked: `{shown}`")
        except delivery.DeliveryError as exc:
            # Typically not_in_channel: tell the person privately how to fix it.
            log.warning("slack command %s: %s", text, exc)
            await respond(text=f"I cannot post in this channel ({exc}). "
                               "Invite me with `/invite @opsbot` and try again.",
                          response_type="ephemeral")
            return
        request = chat.ChatRequest(platform="slack", channel=f"{_team(body)}:{channel}",
                                   thread=thread, user=user, text=_plain(text, None))
        await self._turn(request, channel, thread)

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        container = body.get("container") or {}
        message = body.get("message") or {}
        message_ts = container.get("message_ts") or message.get("ts")
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        if container.get("type") != "message" or not message_ts or not channel:
            return  # a button outside a channel message (a modal): not ours
        kind, card_id = slack_render.decode_block_id(action.get("block_id", ""))
        thread = message.get("thread_ts") or container.get("thread_ts") or message_ts
        request = chat.ChatRequest(
            platform="slack", channel=f"{_team(body)}:{channel}", thread=thread,
            user=(body.get("user") or {}).get("id", ""),
            action=chat.ButtonAction(
                action_id=slack_render.decode_action_id(action.get("action_id", "")),
                value=action.get("value", ""), message_ref=message_ts))
        self._metrics.events.labels("slack", "click").inc()
        self._spawn(request, channel, thread,
                    click=delivery.Click(ref=message_ts, kind=kind, card_id=card_id))

    # -- turns ---------------------------------------------------------------------------
    def _thread_key(self, channel: str, thread: str) -> str:
        return f"slack:thread:{channel}:{thread}"

    def _spawn(self, request: chat.ChatRequest, channel: str, thread: str,
               click: delivery.Click | None = None) -> None:
        self._background.spawn(self._turn(request, channel, thread, click),
                               name=f"slack-turn-{request.thread_id}")

    async def _turn(self, request: chat.ChatRequest, channel: str, thread: str,
                    click: delivery.Click | None = None) -> None:
        await self._keys.remember(self._thread_key(channel, thread), self._serve.thread_ttl_s)
        await delivery.run_turn(self._handler, request, SlackSurface(self.client, channel, thread),
                                metrics=self._metrics, click=click,
                                progress_after_s=self._serve.progress_after_s)


def _malformed(body: bytes, content_type: str) -> str:
    """Why a signed body cannot be parsed, or "" (bolt would answer 500 on it)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            if not isinstance(json.loads(text), dict):
                return "JSON body must be an object"
            return ""
        form = parse_qs(text, keep_blank_values=True)
        if "payload" in form and not isinstance(json.loads(form["payload"][0]), dict):
            return "payload must be a JSON object"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"malformed body: {exc}"
    return ""
