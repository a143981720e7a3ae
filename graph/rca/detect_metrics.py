"""Detectors over Prometheus series: regressions aligned with a rollout, memory growing
toward its limit, CPU saturation, and error or latency jumps against the baseline."""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Callable
from datetime import UTC, datetime

from graph import actions
from graph.rca import collect, detect_pods, model
from tools import summaries

__all__ = ["Shift", "detect_metric_causes", "error_shift", "recent_error_shift", "robust_shift"]

Points = list[tuple[float, float]]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split(points: Points, at: float) -> tuple[list[float], list[float]]:
    return [v for t, v in points if t < at], [v for t, v in points if t >= at]


class Shift:
    """How far the values after a time moved from those before, robustly."""

    def __init__(self, before: list[float], after: list[float]) -> None:
        self.before = statistics.median(before) if before else math.nan
        self.after = statistics.median(after) if after else math.nan
        mad = statistics.median(abs(v - self.before) for v in before) if before else math.nan
        scale = 1.4826 * mad if mad and not math.isnan(mad) else 0.0
        # A flat baseline has no spread; a floor keeps tiny jitters from looking infinite.
        floor = max(abs(self.before) * 0.05, 1e-9) if not math.isnan(self.before) else 1e-9
        self.z = (self.after - self.before) / max(scale, floor) if before and after else 0.0

    @property
    def ratio(self) -> float:
        if math.isnan(self.before) or math.isnan(self.after):
            return 1.0
        return self.after / self.before if self.before > 0 else (math.inf if self.after > 0
                                                                else 1.0)


def robust_shift(points: Points, at: float) -> Shift:
    before, after = _split(points, at)
    return Shift(before, after)


def _worst(facts: model.WorkloadFacts, prefix: str, split: Callable[[Points], Shift],
           worse: Callable[[Shift], float]) -> tuple[str, Shift] | None:
    """The service whose `prefix` series (errors:, latency:) moved most, by `worse`."""
    best: tuple[str, Shift] | None = None
    for key, series in facts.metrics.items():
        if key.startswith(prefix) and series["points"]:
            shift = split(series["points"])
            if best is None or worse(shift) > worse(best[1]):
                best = (key.partition(":")[2], shift)
    return best


def _rise(shift: Shift) -> float:
    return shift.after - shift.before


def error_shift(facts: model.WorkloadFacts, at: float) -> tuple[str, Shift] | None:
    """The service whose error ratio moved most at `at`."""
    return _worst(facts, "errors:", lambda points: robust_shift(points, at), _rise)


# "Now" for a symptom: the last minutes, against the baseline before the window. The
# median over a whole window misses a failure that began in its last quarter.
_RECENT_S = 600.0
# A leak still climbs over its last half hour, at least at this share of its pace.
_LEAK_TAIL_S = 1800.0
_LEAK_TAIL_SHARE = 0.3


def recent_error_shift(facts: model.WorkloadFacts,
                       window: collect.Window) -> tuple[str, Shift] | None:
    """The service whose error ratio of the last ten minutes moved most from before the
    window."""
    def split(points: Points) -> Shift:
        return Shift([v for t, v in points if t < window.start],
                     [v for t, v in points if t >= window.end - _RECENT_S])
    return _worst(facts, "errors:", split, _rise)


def _latency_shift(facts: model.WorkloadFacts, at: float) -> tuple[str, Shift] | None:
    return _worst(facts, "latency:", lambda points: robust_shift(points, at),
                  lambda shift: shift.ratio)


def _errors_regressed(shift: Shift) -> bool:
    return shift.after > 0.01 and shift.after > max(3 * shift.before, shift.before + 0.02) \
        and shift.z > 3


def _latency_regressed(shift: Shift) -> bool:
    return shift.ratio > 1.5 and shift.after - shift.before > 0.05 and shift.z > 3


def _bad_rollout(facts: model.WorkloadFacts, window: collect.Window) -> list[model.Cause]:
    current = next((r for r in facts.history if r["current"]), None)
    previous = detect_pods.previous_revision(facts)
    when = summaries.parse_time(current.get("created")) if current else None
    created = when.timestamp() if when else None
    if current is None or previous is None or created is None:
        return []
    if not window.start - 1800 <= created <= window.end:
        return []
    changed = "; ".join(current.get("changes") or []) or (
        f"{', '.join(previous['images'])} -> {', '.join(current['images'])}")
    evidence = [model.Evidence("rollout", f"revision {current['revision']} rolled out "
                               f"({changed}); before it revision {previous['revision']}",
                               _iso(created))]
    score = 0.0
    errors = error_shift(facts, created)
    if errors and _errors_regressed(errors[1]):
        svc, shift = errors
        evidence.append(model.Evidence("metric", f"5xx ratio of {svc} {shift.before:.1%} "
                                       f"before -> {shift.after:.1%} after the rollout",
                                       _iso(created)))
        score = 0.85
    latency = _latency_shift(facts, created)
    if latency and _latency_regressed(latency[1]):
        svc, shift = latency
        evidence.append(model.Evidence("metric", f"p99 latency of {svc} {shift.before * 1000:.0f}"
                                       f" ms before -> {shift.after * 1000:.0f} ms after",
                                       _iso(created)))
        score = max(score, 0.75) + (0.05 if score else 0)
    if not score:
        return []
    return [model.Cause("BadRollout", facts.ref, f"revision {current['revision']} of "
                        f"{facts.name} ({', '.join(current['images'])}) regressed "
                        + ("errors" if errors and _errors_regressed(errors[1]) else "latency"),
                        min(score, 0.93), evidence,
                        [actions.rollback(facts.ref, previous["revision"],
                                          f"back to {', '.join(previous['images'])}")])]


def _limit(facts: model.WorkloadFacts, resource: str) -> float | None:
    """The container limit from kube-state-metrics, else the app container's from the pod
    template: not every Prometheus scrapes kube-state-metrics, and the spec says the same."""
    points = (facts.metrics.get(f"{resource}_limit") or {}).get("points") or []
    if points:
        return float(points[-1][1])
    for container in facts.containers[:1]:  # the app container, the one actions patch
        return detect_pods.container_limit(facts, container["name"], resource)
    return None


@dataclasses.dataclass(frozen=True)
class _Growth:
    start_v: float
    end_v: float
    slope: float  # bytes per second
    minutes: float
    at: float


def _growth(points: Points, limit: float | None) -> _Growth | None:
    """Steady growth since the last restart that goes on to the end: a fifth more than
    where it started (a tenth of the limit for a large heap), still climbing over its
    last half hour. A cache warming up and levelling off is not a leak."""
    segment = _last_growth_segment(points)
    if len(segment) < 8:
        return None
    slope = _slope(segment)
    # The fitted line's ends, not single samples.
    mean_t = sum(t for t, _ in segment) / len(segment)
    mean_v = sum(v for _, v in segment) / len(segment)
    start_v = mean_v + slope * (segment[0][0] - mean_t)
    end_v = mean_v + slope * (segment[-1][0] - mean_t)
    grew = end_v - start_v
    if slope <= 0 or not (grew >= 0.2 * start_v or (limit and grew >= 0.1 * limit)):
        return None
    tail = [p for p in segment if p[0] >= segment[-1][0] - _LEAK_TAIL_S]
    if len(tail) >= 8 and _slope(tail) < _LEAK_TAIL_SHARE * slope:
        return None  # levelled off
    return _Growth(start_v, end_v, slope, (segment[-1][0] - segment[0][0]) / 60, segment[-1][0])


def _memory_leak(facts: model.WorkloadFacts, window: collect.Window) -> list[model.Cause]:
    memory = (facts.metrics.get("memory") or {}).get("points") or []
    limit = _limit(facts, "memory")
    since = window.start - 3600
    recent = [(t, v) for t, v in memory if t >= since]
    if len(recent) < 10:
        return []
    # Pod by pod when the series are there: one replica restarting must neither hide the
    # others' growth nor pass for it.
    per_pod = [[(t, v) for t, v in points if t >= since] for points in
               ((facts.metrics.get("memory_by_pod") or {}).get("series") or {}).values()]
    per_pod = [points for points in per_pod if len(points) >= 10]
    if per_pod:
        grown = [g for points in per_pod if (g := _growth(points, limit)) is not None]
        if len(grown) * 2 < len(per_pod):
            return []
        growth = max(grown, key=lambda g: g.end_v)
    else:
        found = _growth(recent, limit)
        if found is None:
            return []
        growth = found
    start_v, end_v, slope, minutes = growth.start_v, growth.end_v, growth.slope, growth.minutes
    resets = sum(1 for (_, a), (_, b) in itertools.pairwise(recent) if b < a * 0.6)
    evidence = [model.Evidence("metric", f"working set grew from {start_v / 2**20:.0f} Mi to "
                               f"{end_v / 2**20:.0f} Mi in {minutes:.0f} min "
                               f"({slope * 3600 / 2**20:.0f} Mi/h)", _iso(growth.at))]
    score = 0.6
    if limit:
        eta_h = (limit - end_v) / slope / 3600 if end_v < limit else 0.0
        evidence.append(model.Evidence("metric", f"limit {limit / 2**20:.0f} Mi: "
                                       + ("reached" if eta_h <= 0 else f"reached in about "
                                          f"{eta_h:.1f} h at this rate")))
        score = 0.75 if eta_h < 6 else 0.6
    if resets:
        evidence.append(model.Evidence("metric", f"{resets} reset(s) of the working set in the "
                                       "last two hours (restarts)"))
        score += 0.05
    container = facts.containers[0]["name"] if facts.containers else ""
    acts = [actions.restart(facts.ref, "frees the leaked memory for a while")]
    if limit and container:
        acts.append(actions.set_resources(facts.ref, container, limits={
            "memory": f"{int(limit * 1.5 / 2**20)}Mi"}, why="room until the leak is fixed"))
    return [model.Cause("MemoryLeak", facts.ref, f"memory of {facts.name} grows steadily "
                        "toward its limit", min(score, 0.85), evidence, acts)]


def _last_growth_segment(points: Points) -> Points:
    """Points since the last sharp drop (a restart resets the working set)."""
    start = 0
    for i in range(1, len(points)):
        if points[i][1] < points[i - 1][1] * 0.6:
            start = i
    return points[start:]


def _slope(points: Points) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


def _cpu(facts: model.WorkloadFacts, window: collect.Window) -> list[model.Cause]:
    throttling = (facts.metrics.get("throttling") or {}).get("points") or []
    cpu = (facts.metrics.get("cpu") or {}).get("points") or []
    limit = _limit(facts, "cpu")
    evidence, score = [], 0.0
    if throttling:
        shift = robust_shift(throttling, window.start)
        if shift.after > 0.25 and shift.after > 2 * shift.before:
            evidence.append(model.Evidence("metric", f"CPU throttled in {shift.after:.0%} of "
                                           f"periods (baseline {shift.before:.0%})",
                                           _iso(window.start)))
            score = 0.8
    if cpu and limit:
        _, after = _split(cpu, window.start)
        if after and statistics.median(after) > 0.9 * limit:
            evidence.append(model.Evidence("metric", f"CPU usage {statistics.median(after):.2f} "
                                           f"cores vs limit {limit:.2f}"))
            score = max(score, 0.7) + (0.05 if score else 0)
    if not score:
        return []
    container = facts.containers[0]["name"] if facts.containers else ""
    replicas = int(((facts.obj or {}).get("spec") or {}).get("replicas") or 1)
    acts = [actions.scale(facts.ref, replicas + max(1, replicas // 2), "spread the load")]
    if limit and container:
        acts.append(actions.set_resources(facts.ref, container, limits={
            "cpu": f"{int(limit * 2000)}m"}, why="stop the throttling"))
    return [model.Cause("CPUSaturation", facts.ref, f"{facts.name} is CPU-bound",
                        min(score, 0.88), evidence, acts)]


def detect_metric_causes(facts: model.WorkloadFacts,
                         window: collect.Window) -> list[model.Cause]:
    return _bad_rollout(facts, window) + _memory_leak(facts, window) + _cpu(facts, window)
