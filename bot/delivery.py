"""One chat turn from request to delivered replies, the same on every platform.

Platforms acknowledge first and work afterwards (Slack and Feishu both give 3 s), so a
turn runs as a background task. When it takes longer than ``progress_after_s`` a
progress message is posted, and the first reply later takes its place. After a button
press the clicked card is updated in place (buttons gone) by the reply whose
``replaces`` is set, or, on an approval card, by the first reply unless it is an error:
an unauthorised or failed click must leave the card for someone who may press it.

Platform specifics live behind :class:`Surface`; surfaces raise :class:`DeliveryError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot import metrics as metrics_mod
from bot import protocols
from graph import chat
from tools import errors

__all__ = [
    "PROGRESS_TEXT",
    "Background",
    "Click",
    "DeliveryError",
    "Surface",
    "Turn",
    "deliver",
    "error_reply",
    "progress_reply",
    "replacement_index",
    "run_turn",
]

log = logging.getLogger(__name__)

PROGRESS_TEXT = "Working on it…"


class DeliveryError(errors.OpsbotError):
    """A chat platform refused or failed one API call (the message says which)."""


class Surface(Protocol):
    """Where the replies of one thread go."""

    async def post(self, reply: chat.ChatReply) -> str:
        """Post a new message in the thread; returns its platform id."""
        ...

    async def update(self, ref: str, reply: chat.ChatReply) -> None:
        """Replace the message ``ref`` in place."""
        ...

    async def delete(self, ref: str) -> None: ...


@dataclass(frozen=True)
class Click:
    """The message a button press came from."""

    ref: str
    kind: str = ""
    card_id: str = ""


def progress_reply() -> chat.ChatReply:
    return chat.ChatReply(text=PROGRESS_TEXT, kind="progress")


def error_reply() -> chat.ChatReply:
    return chat.ChatReply(kind="error", text="Sorry, something went wrong while handling "
                          "this; it has been logged. Try again in a moment.")


def replacement_index(replies: Sequence[chat.ChatReply], click: Click | None) -> int | None:
    """Which reply (if any) replaces the clicked card."""
    if click is None or not replies:
        return None
    for index, reply in enumerate(replies):
        if reply.replaces:
            return index
    if click.kind == "approval" and replies[0].kind != "error":
        return 0
    return None


def _approval_outcome(result: object, action_id: str) -> str:
    outcome = getattr(result, "approval", "")
    if isinstance(outcome, str) and outcome:
        return outcome
    # Until the graph reports an outcome, the pressed button names the intent.
    lowered = action_id.lower()
    for verb in ("approve", "reject"):
        if verb in lowered:
            return f"{verb}_clicked"
    return "clicked"


class Turn:
    """One handler call running as a task; awaiting it never raises."""

    def __init__(self, handler: protocols.ChatHandler, request: chat.ChatRequest, *,
                 metrics: metrics_mod.Metrics, click: Click | None = None) -> None:
        self._handler = handler
        self._request = request
        self._metrics = metrics
        self._click = click
        self.task: asyncio.Task[list[chat.ChatReply]] = asyncio.ensure_future(self._run())

    async def _run(self) -> list[chat.ChatReply]:
        request = self._request
        try:
            result = await self._handler.handle(request)
        except Exception:  # the outermost edge of a turn: log it, tell the user
            log.exception("turn failed for %s", request.thread_id)
            self._metrics.errors.labels("handler").inc()
            return [error_reply()]
        route = getattr(result, "route", "") or "unknown"
        self._metrics.graph_runs.labels(request.platform, str(route)).inc()
        if self._click is not None and self._click.kind == "approval" and request.action:
            outcome = _approval_outcome(result, request.action.action_id)
            self._metrics.approvals.labels(outcome).inc()
        return list(result.replies)

    async def wait(self, timeout: float) -> bool:
        """True when the turn finished within ``timeout`` seconds."""
        done, _ = await asyncio.wait({self.task}, timeout=max(0.0, timeout))
        return bool(done)

    async def replies(self) -> list[chat.ChatReply]:
        return await self.task


async def deliver(replies: Sequence[chat.ChatReply], surface: Surface, *,
                  click: Click | None = None, progress_ref: str = "",
                  skip: int | None = None) -> None:
    """Put ``replies`` in the thread. ``skip`` is a reply already delivered elsewhere
    (a Feishu card returned inline in the click's answer)."""
    target = replacement_index(replies, click)
    for index, reply in enumerate(replies):
        if index == skip:
            continue
        try:
            if index == target and click is not None:
                try:
                    await surface.update(click.ref, reply)
                    continue
                except DeliveryError as exc:
                    # The card may be gone or too old to edit; the reply still matters.
                    log.warning("cannot update clicked message %s (%s); posting", click.ref,
                                exc)
            if progress_ref:
                ref, progress_ref = progress_ref, ""
                await surface.update(ref, reply)
                continue
            await surface.post(reply)
        except DeliveryError as exc:
            log.error("reply %d of %d not delivered: %s", index + 1, len(replies), exc)
    if progress_ref:
        try:
            await surface.delete(progress_ref)
        except DeliveryError as exc:
            log.warning("progress message %s left in place: %s", progress_ref, exc)


async def run_turn(handler: protocols.ChatHandler, request: chat.ChatRequest,
                   surface: Surface, *, metrics: metrics_mod.Metrics,
                   progress_after_s: float, click: Click | None = None) -> None:
    """Run the turn, show progress when it is slow, deliver the replies."""
    turn = Turn(handler, request, metrics=metrics, click=click)
    progress_ref = ""
    if not await turn.wait(progress_after_s):
        try:
            progress_ref = await surface.post(progress_reply())
        except DeliveryError as exc:
            log.warning("progress message not posted: %s", exc)
    await deliver(await turn.replies(), surface, click=click, progress_ref=progress_ref)


class Background:
    """Tasks started after an acknowledgement; awaited (then cancelled) on shutdown."""

    def __init__(self, metrics: metrics_mod.Metrics) -> None:
        self._metrics = metrics
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # Nothing awaits these tasks: this is their outermost handler.
            log.error("background task %s failed", task.get_name(), exc_info=exc)
            self._metrics.errors.labels("background").inc()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def aclose(self, grace_s: float) -> None:
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
            log.warning("%d turns were still running at shutdown and were cancelled",
                        len(pending))
