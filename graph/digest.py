"""The daily health digest: one neutral card that each platform renders.

`collect_digest` runs every section (graph/digest_cluster, digest_services,
digest_activity) at once, each guarded so that a failing backend or a bug in one section
costs that section only: the digest always posts, and a section that could not be built
says why. Sections with nothing to report are left out, so a good day gives a short card.
The headline numbers are stored per local day and compared with yesterday's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from redis import asyncio as aioredis

from graph import chat, digest_activity, digest_chart, digest_cluster, digest_services, targets
from graph import digest_history as history
from graph import supervisor as supervisor_mod
from graph.digest_model import Flag, Part, Scope
from tools import errors

__all__ = ["Digest", "DigestDeps", "build_digest", "collect_digest", "digest_handler"]

log = logging.getLogger(__name__)

Status = Literal["green", "amber", "red"]
_STATUS_ICON = {"green": "🟢", "amber": "🟠", "red": "🔴"}
_MAX_BUTTONS = 5
# Headline numbers in the order the card shows them, with their labels.
_HEADLINES = (("workloads_unavailable", "Workloads not available"),
              ("restarts_24h", "Restarts (24 h)"), ("warning_events", "Warning events"),
              ("nodes_with_conditions", "Nodes with conditions"),
              ("alerts_fired", "Alerts fired"), ("alerts_resolved", "Alerts resolved"),
              ("service_outliers", "Service outliers"),
              ("capacity_warnings", "Capacity warnings"),
              ("pending_approvals", "Pending approvals"), ("actions_24h", "Actions taken"))


@dataclass
class DigestDeps:
    tools: targets.ToolCaller
    alerts: history.AlertHistory | None = None
    numbers: history.DailyNumbers | None = None
    store: digest_activity.ApprovalReader | None = None
    audit: digest_activity.AuditReader | None = None
    chart_dir: Path | None = None
    """Where chart PNGs are written; None leaves the chart out."""
    timezone: str = "UTC"
    services: list[str] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    narrator: Callable[[Sequence[str]], Awaitable[str]] | None = None
    """LLM mode: an opening paragraph written from the digest's own lines, citing them."""


@dataclass
class Digest:
    """A built digest: the card and what it was built from (for `opsbot digest --json`)."""

    status: Status
    reason: str
    day: date
    timezone: str
    namespace: str
    generated_at: float
    parts: list[Part]
    flags: list[Flag]
    numbers: dict[str, float]
    yesterday: dict[str, float] | None
    chart: str
    reply: chat.ChatReply

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "reason": self.reason, "day": self.day.isoformat(),
            "timezone": self.timezone, "namespace": self.namespace,
            "generated_at": datetime.fromtimestamp(self.generated_at, UTC).isoformat(),
            "numbers": self.numbers, "yesterday": self.yesterday,
            "sections": [{"key": p.key, "title": p.title, "lines": p.lines,
                          "missing": p.missing} for p in self.parts],
            "flagged": [{"severity": f.severity, "reason": f.reason, "rca": f.target}
                        for f in self.flags],
            "chart": self.chart, "reply": self.reply.model_dump(),
        }


class _Probed:
    """The tools, except that a backend which failed its probe answers with that failure
    at once: a down Prometheus would otherwise make every query wait out its retries."""

    def __init__(self, tools: targets.ToolCaller, down: dict[str, dict[str, Any]]) -> None:
        self._tools = tools
        self._down = down

    async def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        failed = self._down.get("prometheus" if tool.startswith("prom_") else "kubernetes")
        if failed is not None:
            return failed
        return await self._tools.call(tool, **arguments)


async def _probe(tools: targets.ToolCaller) -> targets.ToolCaller:
    prometheus, kubernetes = await asyncio.gather(
        tools.call("prom_query", query="vector(1)"), tools.call("list_namespaces"))
    down = {backend: result for backend, result in (("prometheus", prometheus),
                                                    ("kubernetes", kubernetes))
            if result.get("status") == "error"}
    return _Probed(tools, down) if down else tools


async def _guarded(key: str, title: str, order: int, work: Awaitable[Part]) -> Part:
    try:
        return await work
    except Exception as exc:  # one broken section must not stop the digest from posting
        log.exception("digest section %s failed", key)
        return Part(key, title, order, missing=f"This section could not be built: {exc}")


async def _now(build: Callable[..., Part], *args: Any) -> Part:
    """A synchronous section, run inside its guard."""
    return build(*args)


def _status(parts: list[Part], flags: list[Flag]) -> tuple[Status, str]:
    if flags:
        worst: Status = "red" if flags[0].severity == "red" else "amber"
        # One workload flagged by several sections is one issue, not several.
        subjects = {f.target or f.reason for f in flags}
        more = len(subjects) - 1
        return worst, flags[0].reason + (f"; and {more} more issue(s)" if more else "")
    missing = [p.title.lower() for p in parts if p.missing]
    if missing:
        return "amber", "incomplete: no data for " + ", ".join(missing)
    return "green", ""


def _green_reason(numbers: dict[str, float], keys: set[str]) -> str:
    facts = []
    if numbers.get("workloads_total"):
        facts.append(f"all {numbers['workloads_total']:.0f} workloads available")
    if numbers.get("nodes_total"):
        facts.append(f"all {numbers['nodes_total']:.0f} nodes without conditions")
    quiet = [what for key, what in (("restarts", "restarts"), ("events", "warning events"),
                                    ("alerts", "alerts")) if key in keys]
    if quiet:
        facts.append("no " + ", ".join(quiet[:-1]) + (" or " if len(quiet) > 1 else "")
                     + quiet[-1] + " in the last 24 h")
    return "; ".join(facts) or "nothing to report"


def _compare(today: float, before: float | None) -> str:
    text = f"{today:,.0f}"
    if before is None:
        return text
    if today == before:
        return f"{text} (same as yesterday)"
    arrow = "▲" if today > before else "▼"
    return f"{text} ({arrow} {abs(today - before):,.0f} vs yesterday)"


def _render(digest: Digest, tz: ZoneInfo) -> chat.ChatReply:
    scope = f" · {digest.namespace}" if digest.namespace else ""
    status_line = f"{_STATUS_ICON[digest.status]} **{digest.status.capitalize()}** — " \
                  f"{digest.reason}"
    fields = []
    for key, label in _HEADLINES:
        today = digest.numbers.get(key)
        before = (digest.yesterday or {}).get(key)
        if today is not None and (today or before):
            fields.append(chat.ReplyField(label=label, value=_compare(today, before)))
    sections = []
    for part in digest.parts:
        lines = ([f"⚠ {part.missing}"] if part.missing else []) + part.lines
        sections.append(chat.Section(title=part.title,
                                     text="\n".join(f"- {line}" for line in lines)))
    buttons: list[chat.Button] = []
    for flag in digest.flags:
        if flag.target and flag.target not in {b.value for b in buttons}:
            label = flag.label or flag.target.partition("|")[0]
            buttons.append(chat.Button(action_id="rca", label=f"🔍 {label}",
                                       value=flag.target))
    ended = datetime.fromtimestamp(digest.generated_at, UTC).astimezone(tz)
    footnote = f"Last 24 h to {ended:%H:%M} {digest.timezone}"
    footnote += ("; compared with yesterday's digest" if digest.yesterday is not None else
                 "; no digest from yesterday to compare with")
    return chat.ChatReply(kind="card", title=f"Health digest · {digest.day:%a %d %b %Y}{scope}",
                          text=status_line, fields=fields, sections=sections,
                          buttons=buttons[:_MAX_BUTTONS],
                          images=[digest.chart] if digest.chart else [], footnote=footnote,
                          card_id=f"digest-{digest.day.isoformat()}")


async def _numbers(deps: DigestDeps, scope_key: str, day: date,
                   today: dict[str, float]) -> dict[str, float] | None:
    """Yesterday's numbers, after storing today's; None when unknown."""
    if deps.numbers is None:
        return None
    try:
        before = await deps.numbers.load(scope_key, day - timedelta(days=1))
        await deps.numbers.save(scope_key, day, today)
    except (aioredis.RedisError, OSError) as exc:
        log.warning("digest numbers unavailable: %s", exc)
        return None
    return before


async def _chart(deps: DigestDeps, parts: list[Part], tz: ZoneInfo, name: str) -> str:
    panels = [p.chart for p in parts if p.chart]
    if deps.chart_dir is None or not panels:
        return ""
    try:
        path = await asyncio.to_thread(digest_chart.render_chart, deps.chart_dir, panels,
                                       tz=tz, name=name)
    except (ImportError, OSError, ValueError) as exc:
        log.warning("digest chart not drawn: %s", exc)
        return ""
    return str(path)


async def collect_digest(deps: DigestDeps, *, namespace: str = "",
                         timezone: str | None = None) -> Digest:
    """Build the digest for one namespace (empty: all) with times in `timezone`."""
    zone_name = timezone or deps.timezone
    tz = ZoneInfo(zone_name)
    now = deps.clock()
    scope = Scope(await _probe(deps.tools), namespace, now, tz)
    view = await digest_cluster.load_view(scope)
    work = [
        ("workloads", "Workloads not fully available", 10,
         _now(digest_cluster.workloads_part, view)),
        ("restarts", "Pods restarted in the last 24 h", 20,
         digest_cluster.restarts_part(scope, view)),
        ("events", "Warning events (last seen in 24 h)", 30,
         digest_cluster.events_part(scope, view)),
        ("nodes", "Nodes with conditions", 40, digest_cluster.nodes_part(scope)),
        ("alerts", "Alerts in the last 24 h", 45, digest_activity.alerts_part(scope, deps.alerts)),
        ("services", "Error rate and latency vs the 7-day baseline", 50,
         digest_services.services_part(scope, view.workloads)),
        ("forecast", "Next 24 h: forecast peaks and capacity", 60,
         digest_services.forecast_part(scope, view.workloads, deps.services)),
        ("activity", "Approvals and actions (24 h)", 70,
         digest_activity.activity_part(scope, deps.store, deps.audit)),
    ]
    built = await asyncio.gather(*(_guarded(k, t, o, w) for k, t, o, w in work))
    parts = sorted((p for p in built if not p.empty), key=lambda p: p.rank)
    flags = sorted((f for p in parts for f in p.flags), key=lambda f: f.rank)
    numbers = {k: v for p in built for k, v in p.numbers.items()}
    status, reason = _status(parts, flags)
    if status == "green":
        reason = _green_reason(numbers, {p.key for p in built if p.numbers and not p.missing})
    day = datetime.fromtimestamp(now, UTC).astimezone(tz).date()
    scope_key = namespace or "all"
    yesterday = await _numbers(deps, scope_key, day, numbers)
    chart = await _chart(deps, parts, tz, f"{scope_key}-{day.isoformat()}-{int(now)}")
    digest = Digest(status, reason, day, zone_name, namespace, now, parts, flags, numbers,
                    yesterday, chart, chat.ChatReply(text=""))
    digest.reply = _render(digest, tz)
    if deps.narrator is not None and digest.parts:
        await _narrate(deps, digest)
    return digest


async def _narrate(deps: DigestDeps, digest: Digest) -> None:
    """Put the model's summary first; the facts below stay as they are. Without a model,
    or when it fails, the digest is the facts alone with a note."""
    assert deps.narrator is not None
    facts = [digest.reply.text] + [f"{part.title}: {line}" for part in digest.parts
                                   for line in part.lines[:4]]
    try:
        summary = await deps.narrator(facts)
    except errors.OpsbotError as exc:
        digest.reply.footnote += f"; no summary (model unavailable: {exc})"
        return
    if summary:
        digest.reply.sections.insert(0, chat.Section(title="Summary", text=summary))


async def build_digest(deps: DigestDeps, *, namespace: str = "",
                       timezone: str | None = None) -> chat.ChatReply:
    """The digest card (see `collect_digest`)."""
    return (await collect_digest(deps, namespace=namespace, timezone=timezone)).reply


def digest_handler(deps: DigestDeps) -> supervisor_mod.Handler:
    """The `digest` route: `/digest`, "daily report", "/digest in namespace shop"."""

    async def handle(state: supervisor_mod.SupervisorState,
                     target: targets.Target | None) -> list[chat.ChatReply]:
        namespace = state.get("namespace") or (
            target.name if target is not None and target.kind == "Namespace" else "")
        return [await build_digest(deps, namespace=namespace or "")]
    return handle
