"""How far each service's metrics moved away from normal during an incident.

Each (service, metric) series is compared twice: with its whole baseline (is the value
unusual at all?) and with the last samples before the incident (did it change when the
incident began?). The smaller of the two robust z-scores counts, so a service that has
been slow all week is not blamed for an outage that started ten minutes ago, and a
service whose normal noise is large is not blamed for a wobble.

Noise is the baseline's median absolute deviation, widened when the 90th percentile
deviation says the tails are heavy, and floored per metric because a flat baseline
(availability stuck at 100 %) has none. Availability and error ratios are scored as
failed-request counts when request counts are known: three failures out of ten requests
are noise, three percent of a thousand are not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from graph.analysis import errors

__all__ = [
    "DIRECTION",
    "ERROR_METRICS",
    "FAILURE_METRICS",
    "METRICS",
    "MetricAnomaly",
    "ScoringConfig",
    "ServiceAnomaly",
    "ServiceMetrics",
    "Window",
    "assess_service",
    "family",
    "score_metric",
]

METRICS = ("latency", "requests", "availability", "error_rate")
"""Latency in seconds, availability and error_rate as ratios 0..1, requests per sample."""
DIRECTION = {"latency": 1, "availability": -1, "error_rate": 1, "requests": 0}
"""Which way is bad: up, down, or either (a surge can be a cause, a drop a consequence)."""
ERROR_METRICS = ("availability", "error_rate")
FAILURE_METRICS = ("latency", *ERROR_METRICS)
# A MAD of 0 would turn any change into an infinite score: these floors are the smallest
# change worth a page, relative to the level and absolute (seconds, ratio, requests).
_REL_FLOOR = {"latency": 0.01, "availability": 0.0, "error_rate": 0.0, "requests": 0.05}
_ABS_FLOOR = {"latency": 1e-4, "availability": 0.005, "error_rate": 0.005, "requests": 1e-6}
_MAX_Z = 1e4  # beyond this a z-score only says "from zero": keep it finite and printable


@dataclasses.dataclass(frozen=True, eq=False)
class ServiceMetrics:
    """Per-service metric series on one shared time axis; NaN marks a missing sample."""

    timestamps: np.ndarray
    """Epoch seconds, increasing."""
    series: Mapping[str, Mapping[str, np.ndarray]]
    """service -> metric (one of METRICS) -> values aligned with `timestamps`."""

    def __post_init__(self) -> None:
        ts = np.array(self.timestamps, dtype=np.float64)
        if ts.ndim != 1 or ts.size == 0:
            raise errors.BadInput("timestamps must be a non-empty 1-d array")
        if ts.size > 1 and not np.all(np.diff(ts) > 0):
            raise errors.BadInput("timestamps must be strictly increasing")
        clean: dict[str, dict[str, np.ndarray]] = {}
        for service, metrics in self.series.items():
            clean[service] = {}
            for metric, values in metrics.items():
                if metric not in METRICS:
                    raise errors.BadInput(
                        f"{service}: unknown metric {metric!r}, expected one of {METRICS}")
                vs = np.array(values, dtype=np.float64)
                if vs.shape != ts.shape:
                    raise errors.BadInput(
                        f"{service} {metric}: {vs.size} values for {ts.size} timestamps")
                vs.setflags(write=False)
                clean[service][metric] = vs
        ts.setflags(write=False)
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "series", clean)

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def get(self, service: str, metric: str) -> np.ndarray | None:
        """The series, or None when the service does not report that metric at all."""
        return self.series.get(service, {}).get(metric)


@dataclasses.dataclass(frozen=True)
class ScoringConfig:
    threshold: float = 5.0
    """Robust z-score from which a metric counts as anomalous."""
    local_points: int = 3
    """Samples just before the incident that define 'before' for the change test."""
    tail_scale: bool = True
    """Scale noise by the wider of the MAD and the 90th percentile deviation."""
    requests_weight: float = 0.0
    """Share of a request surge or drop that counts as failure evidence: traffic moves
    with every upstream failure, so alone it rarely marks the origin."""


@dataclasses.dataclass(frozen=True)
class MetricAnomaly:
    """One metric of one service over the incident window."""

    metric: str
    z: float
    """Largest robust z-score in the window, positive in the bad direction (for requests:
    either way), 0 when nothing moved."""
    baseline: float
    """Typical value just before the incident (else over the baseline)."""
    peak: float
    """The value at the worst sample."""
    peak_time: float
    impact: float
    """Size of the change in a unit callers and callees share: seconds of latency,
    failed requests per sample for availability / error_rate when request counts are
    known (else the ratio), requests per sample."""
    scores: np.ndarray = dataclasses.field(repr=False)
    """z-score of every incident sample."""
    times: np.ndarray = dataclasses.field(repr=False)

    def onset(self, threshold: float) -> float | None:
        """Time of the first incident sample at or over `threshold`."""
        over = np.nonzero(self.scores >= threshold)[0]
        return float(self.times[over[0]]) if over.size else None


@dataclasses.dataclass(frozen=True)
class Window:
    """The incident: samples `start:` of the series, at `times`; before them is normal."""

    times: np.ndarray
    start: int


def score_metric(metric: str, values: np.ndarray, history: np.ndarray, window: Window,
                 config: ScoringConfig, requests: tuple[np.ndarray, np.ndarray] | None = None,
                 ) -> MetricAnomaly | None:
    """Score `values[window.start:]` against `values[:window.start]` (the samples just
    before) and `history` (the whole baseline, those samples included). `requests`
    (values and history, same shapes) turns availability and error ratios into failed
    request counts, so a 50 % error ratio on two requests does not outrank 3 % of a
    thousand. None when there is nothing to compare."""
    incident = values[window.start:]
    if np.isnan(incident).all() or np.isnan(history).all():
        return None
    direction = DIRECTION[metric]
    if direction and requests is not None and metric in ERROR_METRICS:
        bad = (lambda v: 1.0 - v) if metric == "availability" else (lambda v: v)
        counts, count_history = bad(values) * requests[0], bad(history) * requests[1]
        if not (np.isnan(counts[window.start:]).all() or np.isnan(count_history).all()):
            z, local, _ = _robust_z(counts, count_history, window.start, "failures", 1,
                                    config)
            _, level, _ = _robust_z(values, history, window.start, metric, direction, config)
            return _summarise(metric, z, values, level, counts - local, window)
    z, level, _ = _robust_z(values, history, window.start, metric, direction, config)
    return _summarise(metric, z, values, level, values - level, window)


def _robust_z(values: np.ndarray, history: np.ndarray, start: int, unit: str,
              direction: int, config: ScoringConfig) -> tuple[np.ndarray, float, float]:
    """z-scores of the incident samples (bad direction positive) and the 'before' level."""
    hist = history[~np.isnan(history)]
    before = values[:start]
    recent = before[~np.isnan(before)][-config.local_points:]
    level = float(np.median(hist))
    local = float(np.median(recent)) if recent.size else level
    spread = np.abs(hist - level)
    mad = 1.4826 * float(np.median(spread))
    if config.tail_scale and hist.size >= 10:
        # Heavy tails (sparse traffic, cold starts) hide behind a small MAD; the 90th
        # percentile deviation sees them, and equals the MAD's estimate for normal noise.
        mad = max(mad, float(np.quantile(spread, 0.9)) / 1.645)
    if unit == "failures":
        # Failures are counts: Poisson noise around the usual count, at least one.
        floor = math.sqrt(max(local, level, 1.0))
    else:
        floor = max(_REL_FLOOR[unit] * max(abs(level), abs(local)), _ABS_FLOOR[unit])
    scale = max(mad, floor)
    incident = values[start:]
    seen = ~np.isnan(incident)
    z_long = (np.where(seen, incident, local) - level) / scale
    z_local = (np.where(seen, incident, local) - local) / scale
    if direction:
        z = np.minimum(direction * z_long, direction * z_local)
    else:
        # Either way, but only when both comparisons agree on the direction.
        same = np.sign(z_long) == np.sign(z_local)
        z = np.where(same, np.minimum(np.abs(z_long), np.abs(z_local)), 0.0)
    return np.clip(np.where(seen, z, 0.0), -_MAX_Z, _MAX_Z), local, scale


def _summarise(metric: str, z: np.ndarray, values: np.ndarray, level: float,
               impact: np.ndarray, window: Window) -> MetricAnomaly:
    worst = int(np.argmax(z))
    z.setflags(write=False)
    return MetricAnomaly(
        metric=metric,
        z=float(z[worst]),
        baseline=level,
        peak=float(values[window.start + worst]),
        peak_time=float(window.times[worst]),
        impact=abs(float(impact[window.start + worst])),
        scores=z,
        times=window.times,
    )


def family(metric: str) -> str:
    """'errors' for availability and error_rate (one symptom, two spellings), else itself."""
    return "errors" if metric in ERROR_METRICS else metric


@dataclasses.dataclass
class ServiceAnomaly:
    """Every scored metric of one service and the strongest failure signal among them."""

    name: str
    metrics: dict[str, MetricAnomaly]
    missing: tuple[str, ...]
    """Failure metrics the service does not report (or not in this window)."""
    z: float = 0.0
    main: MetricAnomaly | None = None

    @property
    def has_data(self) -> bool:
        """Whether anything says if the service is failing (request counts alone do not)."""
        return any(m in self.metrics for m in FAILURE_METRICS)

    def onset(self, threshold: float) -> float | None:
        """When the first metric crossed `threshold`."""
        times = [t for m in self.metrics.values() if (t := m.onset(threshold)) is not None]
        return min(times) if times else None

    def family_z(self, name: str) -> float:
        return max((m.z for m in self.metrics.values() if family(m.metric) == name),
                   default=0.0)

    def evidence(self, kind: str | None, threshold: float, cross: float) -> float:
        """0..1: how clearly the service fails the way `kind` ('latency' / 'errors') says;
        failing the other way counts at most `cross`, however large. Any way when `kind`
        is None."""
        def clear(z: float) -> float:
            return min(1.0, max(z, 0.0) / threshold)

        if kind is None:
            return clear(self.z)
        other = "errors" if kind == "latency" else "latency"
        return max(clear(self.family_z(kind)), cross * clear(self.family_z(other)))

    def surged(self, threshold: float) -> bool:
        """Called much more than before."""
        m = self.metrics.get("requests")
        return m is not None and m.z >= threshold and m.peak > m.baseline


def assess_service(name: str, metrics: ServiceMetrics, start: int,
                   baseline: ServiceMetrics | None, config: ScoringConfig) -> ServiceAnomaly:
    """Score each metric of `name` over `metrics[start:]`, against `metrics[:start]` and,
    when given, the older `baseline`."""
    def history(metric: str) -> np.ndarray | None:
        now = metrics.get(name, metric)
        if now is None:
            return None
        if baseline is None:
            return now[:start]
        old = baseline.get(name, metric)
        if old is None:
            old = np.full(len(baseline), math.nan)
        return np.concatenate([old, now[:start]])

    window = Window(metrics.timestamps[start:], start)
    volume, volume_history = metrics.get(name, "requests"), history("requests")
    found: dict[str, MetricAnomaly] = {}
    missing = []
    for metric in METRICS:
        values, past = metrics.get(name, metric), history(metric)
        scored = None
        if values is not None and past is not None:
            requests = None
            if volume is not None and volume_history is not None and metric in ERROR_METRICS:
                requests = (volume, volume_history)
            scored = score_metric(metric, values, past, window, config, requests)
        if scored is not None:
            found[metric] = scored
        elif metric in FAILURE_METRICS and (values is not None or metric == "latency"):
            missing.append(metric)
    if any(m in found for m in ERROR_METRICS):
        missing = [m for m in missing if m not in ERROR_METRICS]
    if not any(m in found or m in missing for m in ERROR_METRICS):
        missing.append("error_rate")  # reports neither spelling: name the usual one
    service = ServiceAnomaly(name, found, tuple(missing))
    weights = dict.fromkeys(FAILURE_METRICS, 1.0) | {"requests": config.requests_weight}
    best = max(found.values(), key=lambda m: weights[m.metric] * m.z, default=None)
    if best is not None and weights[best.metric] * best.z > 0:
        service.z = weights[best.metric] * best.z
        service.main = best
    return service
