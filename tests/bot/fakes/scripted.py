"""A chat handler with fixed answers, standing in for the graph at the HTTP boundary."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from bot import alertmanager
from graph import chat

__all__ = ["Result", "ScriptedHandler", "alert_payload", "approval_card"]


@dataclass
class Result:
    replies: list[chat.ChatReply]
    route: str = ""
    approval: str = ""


def approval_card(card_id: str = "plan-1") -> chat.ChatReply:
    return chat.ChatReply(
        kind="approval", title="Restart deployment shop/checkout?",
        text="**checkout** is crash-looping; a rollout restart should clear it.",
        fields=[chat.ReplyField(label="Risk", value="medium"),
                chat.ReplyField(label="Asked by", value="<requester>")],
        sections=[chat.Section(title="Dry run", text="```\nspec.template.annotations: +1\n```")],
        buttons=[chat.Button(action_id="approve", label="Approve", value=card_id,
                             style="primary"),
                 chat.Button(action_id="reject", label="Reject", value=card_id,
                             style="danger")],
        footnote="Expires in 30 minutes.", card_id=card_id)


@dataclass
class ScriptedHandler:
    """Records every call. ``gate`` holds turns whose text contains "slow" until set."""

    requests: list[chat.ChatRequest] = field(default_factory=list)
    alerts: list[alertmanager.AlertPayload] = field(default_factory=list)
    backends: dict[str, str] = field(default_factory=lambda: {
        "redis": "ok", "prometheus": "ok", "kubernetes": "ok", "mcp": "ok"})
    gate: threading.Event = field(default_factory=threading.Event)
    decided: dict[str, str] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self) -> list[chat.ChatRequest]:
        with self._lock:
            return list(self.requests)

    async def handle(self, request: chat.ChatRequest) -> Result:
        with self._lock:
            self.requests.append(request)
        if request.action is not None:
            if request.action.value.startswith("slow"):
                await asyncio.to_thread(self.gate.wait, 10)
            return self._click(request)
        text = request.text
        if "boom" in text:
            raise RuntimeError("scripted failure")
        if "slow" in text:
            await asyncio.to_thread(self.gate.wait, 10)
        if text.startswith("/fix"):
            return Result([chat.ChatReply(text="Here is the plan.", kind="answer"),
                           approval_card()], route="fix")
        if text.startswith("/rca"):
            return Result([chat.ChatReply(
                title="Root cause: shop/checkout", text="**CrashLoop** (0.92): the app exits "
                "with code 1, see [runbook](https://runbooks.example/crashloop).",
                sections=[chat.Section(title="Evidence", text="- 14 restarts in 10 min")],
                images=list(self.images), footnote="took 0.4 s")], route="rca")
        if text.startswith("/opsbot help"):
            return Result([chat.ChatReply(title="opsbot", text="`/rca TARGET` ...")],
                          route="help")
        return Result([chat.ChatReply(text=f"You said: {text}")], route="ask")

    def _click(self, request: chat.ChatRequest) -> Result:
        assert request.action is not None
        plan = request.action.value
        with self._lock:
            earlier = self.decided.get(plan)
            if earlier is None:
                self.decided[plan] = request.action.action_id
        if earlier is not None:
            done = {"approve": "approved", "reject": "rejected"}.get(earlier, earlier)
            return Result([chat.ChatReply(kind="error", text=f"Already {done}; nothing "
                                          "was changed.")], route="fix", approval="duplicate")
        if request.action.action_id == "approve":
            return Result([chat.ChatReply(
                title="Approved: restart shop/checkout",
                text=f"Approved by {request.user}. Rollout restarted; 3/3 pods ready.",
                replaces=plan),
                chat.ChatReply(text="Did this help?", kind="question",
                               buttons=[chat.Button(action_id="feedback", label="Yes",
                                                    value="good")])],
                route="fix", approval="approved")
        return Result([chat.ChatReply(title="Rejected", text=f"Rejected by {request.user}.",
                                      replaces=plan)], route="fix", approval="rejected")

    async def handle_alert(self, payload: alertmanager.AlertPayload) -> None:
        with self._lock:
            self.alerts.append(payload)

    async def readiness(self) -> dict[str, str]:
        return dict(self.backends)


def alert_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "version": "4", "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}",
        "truncatedAlerts": 0, "status": "firing", "receiver": "opsbot",
        "groupLabels": {"alertname": "KubePodCrashLooping"},
        "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
        "commonAnnotations": {"summary": "checkout is crash-looping"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing",
                    "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop",
                               "pod": "checkout-7d4b9c-abcde"},
                    "annotations": {"summary": "checkout is crash-looping"},
                    "startsAt": "2024-05-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph", "fingerprint": "abc123"}],
    }
    payload.update(overrides)
    return payload
