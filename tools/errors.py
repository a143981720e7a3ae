"""The project's own errors; third-party errors are translated into these at each edge."""

from __future__ import annotations

__all__ = ["BackendUnavailable", "MissingBinary", "NotFound", "OpsbotError"]


class OpsbotError(Exception):
    """Base of every error opsbot raises on purpose."""


class MissingBinary(OpsbotError):
    """A program opsbot needs is not installed; the message says how to install it."""

    def __init__(self, program: str, hint: str) -> None:
        super().__init__(f"{program} is not installed: {hint}")
        self.program = program
        self.hint = hint


class BackendUnavailable(OpsbotError):
    """A backend (redis, prometheus, kubernetes, llm, mcp) cannot be reached."""

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"{backend} is unreachable: {detail}")
        self.backend = backend
        self.detail = detail


class NotFound(OpsbotError):
    """An object asked for by name does not exist."""
