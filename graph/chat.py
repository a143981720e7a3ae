"""The neutral chat contract between the adapters (bot/) and the graph.

A platform event becomes a `ChatRequest`; the graph answers with `ChatReply` objects that
each adapter renders (Slack Block Kit, Feishu card, console text). Replies are plain
pydantic models so that they survive checkpointing and print as JSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "Button",
    "ButtonAction",
    "ChatReply",
    "ChatRequest",
    "ReplyField",
    "Section",
]


class ButtonAction(BaseModel):
    """A button press: the action id of the pressed button and its value."""

    action_id: str
    value: str = ""
    message_ref: str = Field("", description="Platform id of the message holding the button, "
                             "so the card can be updated in place.")


class ChatRequest(BaseModel):
    """One incoming message or button press, whatever the platform."""

    platform: str = "console"
    channel: str = "console"
    thread: str = "main"
    user: str = "console-user"
    text: str = ""
    action: ButtonAction | None = None
    user_groups: list[str] = Field(default_factory=list)

    @property
    def thread_id(self) -> str:
        """The graph's checkpoint thread: one conversation per chat thread."""
        return f"{self.platform}:{self.channel}:{self.thread}"


class ReplyField(BaseModel):
    label: str
    value: str


class Button(BaseModel):
    action_id: str
    label: str
    value: str = ""
    style: Literal["primary", "danger", "default"] = "default"


class Section(BaseModel):
    """A block of a card: an optional heading, Markdown text and label/value fields."""

    title: str = ""
    text: str = ""
    fields: list[ReplyField] = Field(default_factory=list)


class ChatReply(BaseModel):
    """One message from the bot. `text` is always set: it is the fallback every platform
    shows in notifications and the whole answer on plain-text surfaces."""

    text: str
    kind: Literal["answer", "card", "question", "error", "progress", "approval"] = "answer"
    title: str = ""
    sections: list[Section] = Field(default_factory=list)
    fields: list[ReplyField] = Field(default_factory=list)
    buttons: list[Button] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list, description="Paths of PNG charts.")
    footnote: str = ""
    card_id: str = Field("", description="Stable id of a card that later replies update.")
    replaces: str = Field("", description="card_id of an earlier card this reply replaces.")
