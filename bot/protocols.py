"""What the HTTP front ends need from the rest of opsbot.

`opsbot serve` is handed one object that answers chat turns, takes Alertmanager
notifications and reports whether its backends are reachable. `bot.runtime.Runtime`
is the real one; tests pass a scripted one. Adapters depend on these protocols only,
never on the graph, so a platform adapter cannot reach past the neutral contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bot import alertmanager
from graph import chat

__all__ = ["ChatHandler", "TurnLike"]


@runtime_checkable
class TurnLike(Protocol):
    """The outcome of one turn; `bot.runtime.TurnResult` has this shape.

    Optional attributes the adapters read when present: ``route`` (str, for the
    graph-runs metric) and ``approval`` (str outcome such as "approved", "rejected",
    "denied", "expired", for the approvals metric).
    """

    @property
    def replies(self) -> Sequence[chat.ChatReply]: ...


class ChatHandler(Protocol):
    """Everything `opsbot serve` calls."""

    async def handle(self, request: chat.ChatRequest) -> TurnLike:
        """Run one message or button press; the replies go back to the same thread."""
        ...

    async def handle_alert(self, payload: alertmanager.AlertPayload) -> None:
        """Take one validated Alertmanager notification (webhook v4).

        Return once the notification is accepted: Alertmanager waits for the answer
        (10 s by default) and resends on timeout or on an exception (answered 500), so
        long work such as an RCA belongs in a task of the handler's own.
        """
        ...

    async def readiness(self) -> dict[str, str]:
        """Backend name -> "ok" or what is wrong (redis, prometheus, kubernetes, mcp)."""
        ...
