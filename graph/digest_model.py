"""The pieces the health digest is assembled from: parts (one per section) and flags.

Every section builder returns a `Part`: Markdown lines, the headline numbers it measured
(compared with yesterday's), the flags that set the overall status and offer an `/rca`
button, and, when its backend failed, what is missing. A part with no lines and nothing
missing has nothing to report and is left out of the card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from graph import targets

__all__ = [
    "SEVERITY_ICON",
    "Flag",
    "Part",
    "Scope",
    "Severity",
    "clock_time",
    "error_text",
    "fmt_count",
    "is_error",
    "level",
    "rows",
    "workload_button_value",
]

Severity = Literal["red", "amber"]
SEVERITY_ICON = {"red": "🔴", "amber": "🟠"}


@dataclass(frozen=True)
class Scope:
    """What one digest covers: the tools to read with, a namespace (empty: all), the time
    it is built at and the zone its times are shown in."""

    tools: targets.ToolCaller
    namespace: str
    now: float
    tz: tzinfo

    def selector(self, extra: str = "") -> str:
        """A PromQL label matcher for the namespace, with extra matchers."""
        parts = [f'namespace="{self.namespace}"'] if self.namespace else []
        if extra:
            parts.append(extra)
        return "{" + ", ".join(parts) + "}" if parts else ""


@dataclass(frozen=True)
class Flag:
    """Something the on-call should look at; the worst flag sets the digest's status."""

    severity: Severity
    reason: str
    """One line for the status line, e.g. "Deployment shop/worker: pod CrashLoopBackOff"."""
    target: str = ""
    """Button value of the `/rca` button ("Kind/name|namespace"); empty offers none."""
    label: str = ""
    """Button label; the target's name when empty."""
    weight: float = 0.0
    """Orders flags of one severity: the larger first (restarts, error ratio...)."""

    @property
    def rank(self) -> tuple[int, float]:
        return (0 if self.severity == "red" else 1, -self.weight)


@dataclass
class Part:
    key: str
    title: str
    order: int
    lines: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)
    missing: str = ""
    """Why the section could not be built (a backend is down); said in the card."""
    chart: dict[str, Any] = field(default_factory=dict)
    """Series the chart may draw: {"title", "unit", "series": {label: [(t, v), ...]}}."""

    @property
    def empty(self) -> bool:
        return not self.lines and not self.missing

    @property
    def rank(self) -> tuple[int, int]:
        """Sections with red flags first, then amber, then the rest, each in order."""
        worst = min((f.rank[0] for f in self.flags), default=2)
        return (worst, self.order)


def level(red: bool) -> Severity:
    return "red" if red else "amber"


def is_error(result: dict[str, Any]) -> bool:
    return result.get("status") == "error"


def error_text(result: dict[str, Any]) -> str:
    """A failed tool call as the card says it: which backend, and its own words."""
    backend = str(result.get("backend") or "a backend")
    message = str(result.get("message") or "no answer").strip()
    return f"{backend.capitalize()} did not answer: {message[:200]}"


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The data rows of an ok result; nothing for no_data (an empty answer is not an error)."""
    data = result.get("data") if result.get("status") == "ok" else None
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def workload_button_value(workload: str, namespace: str) -> str:
    """The `rca` button value the supervisor reads: "Kind/name|namespace"."""
    return f"{workload}|{namespace}"


def fmt_count(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1 or value == 0 else f"{value:.2g}"


def clock_time(timestamp: float, tz: tzinfo, now: float | None = None) -> str:
    """HH:MM in the digest's zone, with the weekday when it is not the same day as now."""
    moment = datetime.fromtimestamp(timestamp, UTC).astimezone(tz)
    if now is not None and moment.date() != datetime.fromtimestamp(now, UTC).astimezone(
            tz).date():
        return moment.strftime("%a %H:%M")
    return moment.strftime("%H:%M")
