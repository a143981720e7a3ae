"""Capacity advice from a forecast: replicas for the peak, requests, and when to scale.

The advice is arithmetic on the forecast and on what the workload has shown it can do
per replica; every number in the text lines comes from those inputs, so an SRE can
check it by hand. Exhaustion of a growing resource lives in `exhaustion`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np

from graph.analysis import errors, exhaustion
from graph.analysis import forecast as forecast_mod
from graph.analysis import series as series_mod

__all__ = [
    "CapacityAdvice",
    "RequestAdvice",
    "advise_capacity",
    "recommend_request",
    "time_to_exhaustion",
]

# Re-exported: callers ask capacity questions in one place.
time_to_exhaustion = exhaustion.time_to_exhaustion

# Memory cannot be throttled, so its request keeps a margin above the highest use.
MEMORY_MARGIN = 1.15
CPU_QUANTILE = 0.95
MEMORY_QUANTILE = 0.99


@dataclasses.dataclass(frozen=True)
class CapacityAdvice:
    """Replicas needed for the forecast peak and whether the autoscaler can get there."""

    peak_time: float
    peak_value: float
    peak_upper: float
    replicas_needed: int
    """For the expected peak at the target utilisation."""
    replicas_safe: int
    """For the upper end of the prediction interval at the peak."""
    current_replicas: int
    hpa_max: int | None
    hpa_max_ok: bool | None
    """Whether the HPA maximum covers `replicas_safe`; None without an HPA."""
    scale_by: float | None
    """When to have scaled out (first step where the current replicas run above the
    target utilisation, less the lead time); None when they suffice."""
    utilisation_at_peak: float
    """Expected utilisation of the current replicas at the peak."""
    lines: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lines"] = list(self.lines)
        return out


@dataclasses.dataclass(frozen=True)
class RequestAdvice:
    """A resource request sized from observed (and forecast) per-pod use."""

    resource: str
    recommended: float
    current: float | None
    limit: float | None
    basis: str
    lines: tuple[str, ...]


def advise_capacity(forecast: forecast_mod.ForecastResult, *, per_replica_capacity: float,
                    current_replicas: int, hpa_max: int | None = None,
                    hpa_min: int | None = None, target_utilisation: float = 0.7,
                    lead_time: float = 900.0, subject: str = "the workload",
                    unit: str = "") -> CapacityAdvice:
    """Replicas for the forecast of a load (QPS, jobs/s) the replicas share.

    `per_replica_capacity` is the load one replica was observed to handle at full
    utilisation; the advice keeps each replica at `target_utilisation` of it. `lead_time`
    (seconds) is how early to scale before the load arrives: pod start and warm-up.
    """
    if not per_replica_capacity > 0:
        raise errors.BadInput("per_replica_capacity must be positive")
    if not 0 < target_utilisation <= 1:
        raise errors.BadInput("target_utilisation must be in (0, 1]")
    if current_replicas < 0:
        raise errors.BadInput("current_replicas must not be negative")
    usable = per_replica_capacity * target_utilisation
    floor = max(1, hpa_min or 1)
    peak = forecast.peak()
    i_upper = int(np.argmax(forecast.upper))
    peak_upper = float(forecast.upper[i_upper])
    needed = max(floor, math.ceil(peak.value / usable - 1e-9))
    safe = max(floor, math.ceil(peak_upper / usable - 1e-9))
    capacity_now = current_replicas * usable
    over = np.flatnonzero(forecast.values > capacity_now)
    scale_by = float(forecast.timestamps[over[0]]) - lead_time if over.size else None
    full = current_replicas * per_replica_capacity
    util = peak.value / full if full > 0 else math.inf
    hpa_ok = None if hpa_max is None else hpa_max >= safe
    when = forecast.history.describe_time
    u = f" {unit}" if unit else ""
    lines = [f"{subject}: forecast peak {_fmt(peak.value)}{u} at {when(peak.timestamp)} "
             f"(up to {_fmt(peak_upper)}{u} at {forecast.interval:.0%} confidence)."]
    lines.append(f"At {target_utilisation:.0%} target utilisation of {_fmt(per_replica_capacity)}"
                 f"{u} per replica that needs {needed} replicas ({safe} for the upper "
                 f"bound); {current_replicas} run now.")
    if scale_by is not None:
        lines.append(f"Scale out to {safe} replicas before {when(scale_by)}: the current "
                     f"replicas would pass the target from {when(scale_by + lead_time)} "
                     f"and reach {util:.0%} utilisation at the peak.")
    elif safe < current_replicas:
        lines.append(f"{current_replicas} replicas cover the peak; {safe} would do.")
    else:
        lines.append(f"{current_replicas} replicas cover the expected peak.")
    if hpa_max is not None:
        lines.append(f"HPA max {hpa_max} is enough." if hpa_ok else
                     f"HPA max {hpa_max} is too low: raise it to at least {safe}.")
    return CapacityAdvice(
        peak_time=peak.timestamp, peak_value=peak.value, peak_upper=peak_upper,
        replicas_needed=needed, replicas_safe=safe, current_replicas=current_replicas,
        hpa_max=hpa_max, hpa_max_ok=hpa_ok, scale_by=scale_by, utilisation_at_peak=util,
        lines=tuple(lines))


def recommend_request(usage: series_mod.Series, *, resource: Literal["cpu", "memory"],
                      forecast: forecast_mod.ForecastResult | None = None,
                      current_request: float | None = None, limit: float | None = None,
                      subject: str = "the container") -> RequestAdvice:
    """A request from per-pod usage (cores for CPU, bytes for memory).

    CPU can be throttled, so the request covers the 95th percentile of use and bursts
    go up to the limit; memory cannot, so its request covers the highest use (and the
    forecast's upper bound) with a margin.
    """
    observed = usage.values[~np.isnan(usage.values)]
    if observed.size == 0:
        raise errors.BadInput("no usage samples to size a request from")
    pool = observed if forecast is None else np.concatenate((observed, forecast.values))
    if resource == "cpu":
        value = float(np.quantile(pool, CPU_QUANTILE))
        basis = "95th percentile of use" + (" and forecast" if forecast else "")
    elif resource == "memory":
        top = float(np.quantile(observed, MEMORY_QUANTILE))
        if forecast is not None:
            top = max(top, float(np.max(forecast.upper)))
        value = top * MEMORY_MARGIN
        basis = ("highest use" + (" and forecast upper bound" if forecast else "")
                 + f" plus {MEMORY_MARGIN - 1:.0%}")
    else:
        raise errors.BadInput(f"resource must be cpu or memory, got {resource!r}")
    show = _cpu if resource == "cpu" else _bytes
    change = f"{show(current_request)} -> " if current_request is not None else ""
    lines = [f"{subject} {resource} request: {change}{show(value)} ({basis})."]
    if limit is not None and value > limit:
        lines.append(f"That is above the {resource} limit {show(limit)}: raise the limit too"
                     + (" or the pod will be OOM-killed." if resource == "memory" else "."))
    return RequestAdvice(resource, value, current_request, limit, basis, tuple(lines))


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _cpu(cores: float | None) -> str:
    if cores is None:
        return "none"
    return f"{cores * 1000:.0f}m" if cores < 1 else f"{cores:.2f} cores"


def _bytes(n: float | None) -> str:
    if n is None:
        return "none"
    for unit, size in (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}B"
