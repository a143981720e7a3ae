"""Which reply goes where after a turn, independent of the platform."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot import delivery, metrics
from graph import chat


@dataclass
class Recorder:
    ops: list[tuple[str, str, str]] = field(default_factory=list)
    fail_update: bool = False

    async def post(self, reply: chat.ChatReply) -> str:
        self.ops.append(("post", "", reply.text))
        return f"m{len(self.ops)}"

    async def update(self, ref: str, reply: chat.ChatReply) -> None:
        if self.fail_update:
            raise delivery.DeliveryError("message_not_found")
        self.ops.append(("update", ref, reply.text))

    async def delete(self, ref: str) -> None:
        self.ops.append(("delete", ref, ""))


def replies(*specs: tuple[str, str]) -> list[chat.ChatReply]:
    return [chat.ChatReply(text=text, kind=kind) for text, kind in specs]


APPROVAL = delivery.Click(ref="card", kind="approval", card_id="p1")


@pytest.mark.parametrize(("batch", "click", "expected"), [
    ([chat.ChatReply(text="a"), chat.ChatReply(text="b", replaces="p1")], APPROVAL, 1),
    (replies(("done", "answer"), ("feedback?", "question")), APPROVAL, 0),
    (replies(("not allowed", "error")), APPROVAL, None),
    (replies(("x", "answer")), delivery.Click(ref="m", kind="card"), None),
    (replies(("x", "answer")), None, None),
    ([], APPROVAL, None),
])
def test_replacement_index(batch: list[chat.ChatReply], click: delivery.Click | None,
                           expected: int | None) -> None:
    assert delivery.replacement_index(batch, click) == expected


def test_deliver_routes_replies() -> None:
    asyncio.run(_test_deliver_routes_replies())


async def _test_deliver_routes_replies() -> None:
    surface = Recorder()
    await delivery.deliver(replies(("done", "answer"), ("more", "answer")), surface,
                           click=APPROVAL, progress_ref="prog")
    assert surface.ops == [("update", "card", "done"), ("update", "prog", "more")]

    surface = Recorder()
    await delivery.deliver(replies(("done", "answer")), surface, click=APPROVAL,
                           progress_ref="prog")
    assert surface.ops == [("update", "card", "done"), ("delete", "prog", "")]

    surface = Recorder(fail_update=True)
    await delivery.deliver(replies(("done", "answer")), surface, click=APPROVAL)
    assert surface.ops == [("post", "", "done")]


class Slow:
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def handle(self, request: chat.ChatRequest) -> object:
        await self.release.wait()
        return type("R", (), {"replies": [chat.ChatReply(text="answer")], "route": "ask"})()


def test_run_turn_shows_progress_only_when_slow() -> None:
    asyncio.run(_test_run_turn_shows_progress_only_when_slow())


async def _test_run_turn_shows_progress_only_when_slow() -> None:
    handler = Slow()
    surface = Recorder()
    task = asyncio.ensure_future(delivery.run_turn(
        handler, chat.ChatRequest(text="q"), surface,  # type: ignore[arg-type]
        metrics=metrics.Metrics(), progress_after_s=0.01))
    while not surface.ops:
        await asyncio.sleep(0.005)
    assert surface.ops == [("post", "", delivery.PROGRESS_TEXT)]
    handler.release.set()
    await task
    assert surface.ops[1] == ("update", "m1", "answer")

    handler.release.set()
    quick = Recorder()
    await delivery.run_turn(handler, chat.ChatRequest(text="q"), quick,  # type: ignore[arg-type]
                            metrics=metrics.Metrics(), progress_after_s=1.0)
    assert quick.ops == [("post", "", "answer")]


def test_background_logs_failures_and_cancels_on_close() -> None:
    asyncio.run(_test_background_logs_failures_and_cancels_on_close())


async def _test_background_logs_failures_and_cancels_on_close() -> None:
    registry = metrics.Metrics()
    background = delivery.Background(registry)

    async def fail() -> None:
        raise RuntimeError("x")

    background.spawn(fail(), name="fail")
    forever = background.spawn(asyncio.sleep(60), name="forever")
    await asyncio.sleep(0.01)
    assert background.pending == 1
    await background.aclose(0.01)
    assert forever.cancelled()
    assert registry.errors.labels("background")._value.get() == 1
