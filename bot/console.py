"""The console adapter: chat with opsbot in a terminal.

Lines become `ChatRequest`s on one console thread; a number presses the matching button
of the last card, so approvals work the same as in Slack or Feishu.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import TextIO

from bot import render_text, runtime
from graph import chat

__all__ = ["run_console"]

_PROMPT = "you> "
_AS_USER = re.compile(r"\s--as\s+(\S+)\s*$")


async def _read_line(stream: TextIO) -> str | None:
    line = await asyncio.to_thread(stream.readline)
    return None if line == "" else line.rstrip("\n")


def _speaker(text: str, default: str) -> tuple[str, str]:
    """`approve 3f2a1c --as alice` acts as alice for that one line."""
    match = _AS_USER.search(text)
    if not match:
        return default, text
    return match.group(1), text[: match.start()].rstrip()


async def run_console(rt: runtime.Runtime, *, user: str = "console-user",
                      stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    """Read lines until end of input (Ctrl-D) or `/quit`."""
    buttons: list[chat.Button] = []
    interactive = stdin.isatty()
    stdout.write("Type a question or a command (/opsbot help). A number presses a button; "
                 "add `--as NAME` to speak as someone else. Ctrl-D or /quit leaves.\n")
    while True:
        if interactive:
            stdout.write(_PROMPT)
            stdout.flush()
        line = await _read_line(stdin)
        if line is None or line.strip() in ("/quit", "/exit"):
            stdout.write("\nbye\n")
            return
        text = line.strip()
        if not text:
            continue
        if not interactive:
            stdout.write(f"{_PROMPT}{text}\n")
        speaker, text = _speaker(text, user)
        request = chat.ChatRequest(platform="console", channel="console", thread="main",
                                   user=speaker, text=text)
        if text.isdigit() and buttons:
            index = int(text) - 1
            if not 0 <= index < len(buttons):
                stdout.write(f"There is no button {text}; press 1 to {len(buttons)}.\n")
                continue
            pressed = buttons[index]
            request.text = ""
            request.action = chat.ButtonAction(action_id=pressed.action_id,
                                               value=pressed.value)
        result = await rt.handle(request)
        for reply in result.replies:
            stdout.write(render_text.render_reply(reply) + "\n\n")
            if reply.buttons:
                buttons = list(reply.buttons)
        stdout.flush()
