"""Messages the bot starts itself leave redacted, like its answers."""

from __future__ import annotations

import asyncio

from bot import outbound
from graph import chat
from graph.llm import redact

LEAKY = chat.ChatReply(
    text="orders-db refused: postgres://app:s3cr3t-pw@orders-db:5432/orders",
    sections=[chat.Section(title="logs", text="Authorization: Bearer eyJhbGciOi.abc.def")])


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[chat.ChatReply] = []

    async def open_thread(self, channel: str, reply: chat.ChatReply) -> str:
        self.sent.append(reply)
        return "t1"

    async def reply(self, channel: str, thread: str, reply: chat.ChatReply) -> str:
        self.sent.append(reply)
        return "r1"

    async def update(self, channel: str, ref: str, reply: chat.ChatReply) -> None:
        self.sent.append(reply)


def test_alert_threads_and_digests_are_redacted_on_every_path() -> None:
    recorder = _Recorder()
    out = outbound.Outbound()
    out.register("slack", recorder, alert_channel="C1", digest_channel="C2")
    poster = out.poster("slack")
    assert poster is not None

    async def post() -> None:
        thread = await poster.open_thread("C1", LEAKY)
        await poster.reply("C1", thread, LEAKY)
        await poster.update("C1", "r1", LEAKY)

    asyncio.run(post())
    assert len(recorder.sent) == 3
    for sent in recorder.sent:
        shown = sent.model_dump_json()
        assert "s3cr3t-pw" not in shown and "eyJhbGciOi" not in shown
        assert redact.MARK in sent.text
