"""Messages the bot starts itself (alert threads, digests), as opposed to answers.

Each platform registers how to open a new thread in a channel and how to reply in one;
`opsbot serve` registers Slack and Feishu, the console registers a printer. A thread
reference is whatever the platform needs to reply later (a Slack ts, a Feishu message id).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot import render_text
from graph import chat
from graph.llm import redact

__all__ = ["Destination", "Outbound", "PrintPoster", "ThreadPoster"]

log = logging.getLogger(__name__)


class ThreadPoster(Protocol):
    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        """Post a new top-level message; return its thread reference."""
        ...

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str: ...

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None: ...


@dataclass(frozen=True)
class Destination:
    platform: str
    channel: str


class _Redacting:
    """A poster that redacts every message first, as the supervisor does for answers:
    alert threads and digests quote logs and narratives too."""

    def __init__(self, inner: ThreadPoster) -> None:
        self.inner = inner

    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        return await self.inner.open_thread(channel, redact.redact_reply(reply))

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str:
        return await self.inner.reply(channel, thread, redact.redact_reply(reply))

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None:
        await self.inner.update(channel, ref, redact.redact_reply(reply))


class Outbound:
    def __init__(self) -> None:
        self._posters: dict[str, ThreadPoster] = {}
        self.alert_destinations: list[Destination] = []
        self.digest_destinations: list[Destination] = []

    def register(self, platform: str, poster: ThreadPoster, *, alert_channel: str = "",
                 digest_channel: str = "") -> None:
        self._posters[platform] = _Redacting(poster)
        if alert_channel:
            self.alert_destinations.append(Destination(platform, alert_channel))
        if digest_channel:
            self.digest_destinations.append(Destination(platform, digest_channel))

    def poster(self, platform: str) -> ThreadPoster | None:
        return self._posters.get(platform)


class PrintPoster:
    """The console's poster: messages go to a writer, threads are numbered."""

    def __init__(self, write: Callable[[str], Awaitable[None] | None]) -> None:
        self._write = write
        self._threads = 0

    async def _emit(self, text: str) -> None:
        outcome = self._write(text)
        if outcome is not None:
            await outcome

    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        self._threads += 1
        thread = f"{channel}-{self._threads}"
        await self._emit(f"[{channel} · new thread {thread}]\n" + render_text.render_reply(reply))
        return thread

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str:
        await self._emit(f"[{channel} · thread {thread}]\n" + render_text.render_reply(reply))
        return thread

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None:
        await self._emit(f"[{channel} · update of {ref}]\n" + render_text.render_reply(reply))
