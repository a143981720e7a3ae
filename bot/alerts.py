"""Alertmanager notifications -> an investigated thread per alert group.

A firing group opens a thread in each configured alert channel (or reuses its thread),
runs the RCA for the alert's target and posts the result; repeats within the group
interval do not investigate again; a resolved notification is posted in the same thread.
State per group (keyed by groupKey) lives in Redis so replicas and restarts agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis

from bot import alertmanager, outbound
from graph import chat, digest_history, targets
from graph.rca import card as rca_card

__all__ = ["AlertService", "target_from_labels"]

log = logging.getLogger(__name__)

RunRca = Callable[[targets.Target, str, str], Awaitable[dict[str, Any]]]
_KINDS = (("deployment", "Deployment"), ("statefulset", "StatefulSet"),
          ("daemonset", "DaemonSet"), ("pod", "Pod"), ("service", "Service"),
          ("persistentvolumeclaim", "PersistentVolumeClaim"), ("node", "Node"))
_STATE_TTL_S = 7 * 86400


def target_from_labels(labels: dict[str, str]) -> tuple[str, str | None] | None:
    """(phrase, namespace) for the resolver, from kube-state-metrics style labels."""
    namespace = labels.get("namespace") or labels.get("exported_namespace")
    for label, kind in _KINDS:
        if labels.get(label):
            return f"{kind.lower()}/{labels[label]}" if kind not in ("Service",
                                                                     "PersistentVolumeClaim") \
                else labels[label], namespace
    for label in ("app_kubernetes_io_name", "app", "job_name", "container"):
        if labels.get(label):
            return labels[label], namespace
    if namespace:
        return f"namespace/{namespace}", None
    return None


class AlertService:
    def __init__(self, redis: aioredis.Redis, resolver: targets.TargetResolver,
                 run_rca: RunRca, out: outbound.Outbound, *,
                 group_interval_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._resolver = resolver
        self._run_rca = run_rca
        self._out = out
        self._interval = group_interval_s
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()
        self._history = digest_history.AlertHistory(redis)

    def accept(self, payload: alertmanager.AlertPayload) -> None:
        """Take the notification now; investigate in the background."""
        task = asyncio.create_task(self.process(payload), name="alert")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("alert handling failed", exc_info=task.exception())

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _key(self, payload: alertmanager.AlertPayload) -> str:
        digest = hashlib.sha256(payload.group_key.encode()).hexdigest()[:24]
        return f"opsbot:alertgroup:{digest}"

    async def process(self, payload: alertmanager.AlertPayload) -> list[chat.ChatReply]:
        """Handle one notification; returns what was posted (for the console and tests)."""
        await self._record(payload)
        key = self._key(payload)
        raw = await self._redis.get(key)
        state: dict[str, Any] = json.loads(raw) if raw else {}
        now = self._clock()
        name = payload.common_labels.get("alertname") or payload.group_labels.get(
            "alertname", "alert")
        if payload.status == "resolved":
            if not state.get("threads"):
                return []  # never investigated: nothing to update
            reply = chat.ChatReply(text=f"✅ {name} resolved.")
            await self._post(state, reply, name)
            state.update(status="resolved", resolved_at=now)
            await self._redis.set(key, json.dumps(state), ex=_STATE_TTL_S)
            return [reply]
        if state.get("status") == "firing" and now - float(state.get("last_run", 0)) < \
                self._interval:
            return []  # a repeat inside the group interval: already investigated
        # Claim the run so two replicas receiving the same notification investigate once.
        if not await self._redis.set(f"{key}:run", "1", nx=True, ex=int(self._interval)):
            return []
        replies = await self._investigate(payload, name)
        state.update(status="firing", last_run=now, alertname=name)
        await self._post(state, replies[0], name, *replies[1:])
        await self._redis.set(key, json.dumps(state), ex=_STATE_TTL_S)
        return replies

    async def _record(self, payload: alertmanager.AlertPayload) -> None:
        """Every notification goes to the alert history the daily digest counts."""
        alerts = [{"status": a.status, "labels": {**payload.common_labels, **a.labels},
                   "fingerprint": a.fingerprint, "starts_at": a.starts_at.isoformat()}
                  for a in payload.alerts]
        try:
            await self._history.record(payload.status, payload.group_key, alerts,
                                       at=self._clock())
        except (aioredis.RedisError, OSError) as exc:  # the investigation matters more
            log.warning("alert %s not recorded for the digest: %s", payload.group_key, exc)

    async def _investigate(self, payload: alertmanager.AlertPayload,
                           name: str) -> list[chat.ChatReply]:
        alert = payload.alerts[0]
        labels = {**payload.common_labels, **alert.labels}
        summary = (alert.annotations.get("summary") or alert.annotations.get("description")
                   or payload.common_annotations.get("summary", ""))
        header = chat.ChatReply(kind="card", title=f"🔥 {name}",
                                text=f"{name} is firing ({len(payload.alerts)} alert(s))"
                                + (f": {summary}" if summary else ""),
                                fields=[chat.ReplyField(label=k, value=v) for k, v in
                                        sorted(labels.items()) if k != "alertname"][:8])
        found = target_from_labels(labels)
        if found is None:
            return [header, chat.ChatReply(text="The alert names no namespace or workload, "
                                           "so I did not investigate.")]
        phrase, namespace = found
        resolution = await self._resolver.resolve(phrase, namespace=namespace)
        if resolution.status != "found" or resolution.target is None:
            return [header, chat.ChatReply(text=f"I could not find what the alert is about "
                                           f"({phrase}): {resolution.message or 'ambiguous'}")]
        started = alert.starts_at.isoformat()
        result = await self._run_rca(resolution.target, summary or name, started)
        return [header, rca_card.rca_card(resolution.target.ref, result)]

    async def _post(self, state: dict[str, Any], first: chat.ChatReply, name: str,
                    *more: chat.ChatReply) -> None:
        threads: dict[str, str] = state.setdefault("threads", {})
        for destination in self._out.alert_destinations:
            poster = self._out.poster(destination.platform)
            if poster is None:
                continue
            where = f"{destination.platform}:{destination.channel}"
            try:
                if where not in threads:
                    threads[where] = await poster.open_thread(destination.channel, first)
                else:
                    await poster.reply(destination.channel, threads[where], first)
                for reply in more:
                    await poster.reply(destination.channel, threads[where], reply)
            except Exception:  # one broken destination must not stop the others
                log.exception("posting alert %s to %s failed", name, where)
