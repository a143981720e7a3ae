"""Feishu/Lark events over lark-oapi's long connection (WebSocket), no public URL needed.

lark-oapi's ws client runs its own asyncio loop and takes it from a module global set
when ``lark_oapi`` is imported, which inside `opsbot serve` is uvicorn's running loop.
So the client runs in a thread of its own with a fresh loop put into that global, and
hands events to the server's loop, where the same `FeishuFrontEnd.dispatch` as the HTTP
callback handles them. A card click blocks the ws thread until the answer is ready
(bounded by the 3 s Feishu allows); messages are handed over without waiting.

The SDK has no stop(); stopping ends its loop from outside and closes the connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import lark_oapi as lark
from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger,
    P2CardActionTriggerResponse,
)

from bot import feishu_render
from bot import settings as settings_mod

__all__ = ["LongConnection"]

log = logging.getLogger(__name__)

Dispatch = Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]


def _as_dict(event: Any) -> dict[str, Any]:
    # The SDK hands typed objects; our dispatch reads the wire JSON, which this restores.
    return dict(json.loads(lark.JSON.marshal(event) or "{}"))


def _log_failure(future: concurrent.futures.Future[dict[str, Any]]) -> None:
    exc = None if future.cancelled() else future.exception()
    if exc is not None:
        log.error("feishu event over the long connection failed", exc_info=exc)


class LongConnection:
    def __init__(self, settings: settings_mod.FeishuSettings, dispatch: Dispatch, *,
                 card_answer_s: float) -> None:
        self._settings = settings
        self._dispatch = dispatch
        self._card_answer_s = card_answer_s
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect in a background thread; call from the server's running loop."""
        self._server_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="feishu-long-connection",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from lark_oapi.ws import client as ws_client

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ws_client.loop = loop  # the SDK's module-global loop, see the module docstring
        self._ws_loop = loop
        handler = (lark.EventDispatcherHandler.builder("", "")
                   .register_p2_customized_event("im.message.receive_v1", self._on_event)
                   .register_p2_card_action_trigger(self._on_card_action)
                   .build())
        self._client = ws_client.Client(
            self._settings.app_id, self._settings.app_secret, event_handler=handler,
            domain=self._settings.api_base_url.rstrip("/"), log_level=lark.LogLevel.WARNING)
        try:
            self._client.start()
        except RuntimeError:
            pass  # "Event loop stopped before Future completed": stop() did that
        except Exception:  # the thread's outermost handler
            log.exception("feishu long connection ended")
        finally:
            self._close_loop(loop)

    def _close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        # Cancel the SDK's tasks first: its receive loop reconnects on any error, and a
        # cancelled task does not. Then close the socket.
        disconnect = getattr(self._client, "_disconnect", None)
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=2.0))
            if disconnect is not None:
                loop.run_until_complete(asyncio.wait_for(disconnect(), 2.0))
        except Exception:  # closing down; nothing left to recover
            log.warning("feishu long connection did not close cleanly", exc_info=True)
        finally:
            loop.close()

    def _submit(self, document: dict[str, Any]) -> concurrent.futures.Future[dict[str, Any]]:
        assert self._server_loop is not None
        return asyncio.run_coroutine_threadsafe(self._dispatch(document), self._server_loop)

    def _on_event(self, event: Any) -> None:
        self._submit(_as_dict(event)).add_done_callback(_log_failure)

    def _on_card_action(self, event: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        future = self._submit(_as_dict(event))
        try:
            answer = future.result(timeout=self._card_answer_s + 0.3)
        except concurrent.futures.TimeoutError:
            answer = {"toast": feishu_render.toast(None)}
        return P2CardActionTriggerResponse(answer)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        loop = self._ws_loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
