"""Structured tool results: tools report ok / error / no_data instead of raising.

A result is a plain dict so that it crosses the MCP boundary unchanged as structured
content: ``{"status", "data", "message", "truncated"}``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

__all__ = [
    "MAX_ITEMS",
    "MAX_TEXT_CHARS",
    "Status",
    "error",
    "is_ok",
    "no_data",
    "ok",
    "truncate_items",
    "truncate_text",
]

Status = Literal["ok", "error", "no_data", "approval_required"]

# Large outputs are cut so that one tool call cannot flood a chat message or a model prompt.
MAX_ITEMS = 200
MAX_TEXT_CHARS = 20_000


def ok(data: Any, message: str = "", *, truncated: bool = False) -> dict[str, Any]:
    return {"status": "ok", "data": data, "message": message, "truncated": truncated}


def no_data(message: str, data: Any = None) -> dict[str, Any]:
    return {"status": "no_data", "data": data, "message": message, "truncated": False}


def error(message: str, *, backend: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"status": "error", "data": None, "message": message,
                              "truncated": False}
    if backend:
        result["backend"] = backend
    return result


def is_ok(result: dict[str, Any]) -> bool:
    return result.get("status") == "ok"


def truncate_items(items: list[Any], limit: int = MAX_ITEMS) -> tuple[list[Any], bool]:
    """Keep the first `limit` items; callers sort so that the important ones come first."""
    if len(items) <= limit:
        return items, False
    return items[:limit], True


def truncate_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """Keep the end of a text (the newest log lines matter most)."""
    if len(text) <= limit:
        return text, False
    cut = text[-limit:]
    newline = cut.find("\n")
    return (cut[newline + 1:] if 0 <= newline < 200 else cut), True


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, default=str)
