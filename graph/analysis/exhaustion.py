"""When does a growing resource (memory, a disk, a PVC) reach its limit.

Such series rarely grow in a straight line: garbage collection, log rotation and
restarts give them a sawtooth. Two cases are told apart: resets that keep the series
in check (then the rise of the peaks, or a cycle that would cross the limit before its
usual reset, is what matters) and steady growth with noise (a robust line, lifted by
the typical upward excursion, because the peaks touch the limit first).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graph.analysis import errors
from graph.analysis import series as series_mod

__all__ = ["Exhaustion", "human_duration", "time_to_exhaustion"]

MIN_POINTS = 6
# A drop larger than this share of the series' range, in one step, is a reset.
RESET_SHARE = 0.2
MAX_PAIRS_POINTS = 200
HOUR = 3600.0


@dataclasses.dataclass(frozen=True)
class Exhaustion:
    """The answer; `seconds` is None when the limit is not expected to be reached."""

    limit: float
    current: float
    slope_per_hour: float | None
    seconds: float | None
    """From the last sample until the limit is reached (0: already there)."""
    at: float | None
    """Timestamp when the limit is reached."""
    method: str
    """"trend" (steady growth), "envelope" (rising sawtooth peaks), "cycle" (the current
    cycle crosses the limit before its usual reset), or "none"."""
    reason: str

    def describe(self, subject: str, *, fills: bool = False) -> str:
        """A chat line: 'memory of payments reaches its limit in about 2.5 days'."""
        if self.seconds is None:
            return f"{subject}: no exhaustion expected ({self.reason})"
        if self.seconds <= 0:
            return f"{subject} is full" if fills else f"{subject} is at its limit"
        verb = "fills" if fills else "reaches its limit"
        return f"{subject} {verb} in about {human_duration(self.seconds)}"


def time_to_exhaustion(series: series_mod.Series, limit: float, *,
                       window: float | None = None,
                       max_horizon: float = 365 * series_mod.DAY) -> Exhaustion:
    """Project when `series` reaches `limit`, from the last `window` seconds (all of it
    by default). Beyond `max_horizon` seconds the answer is 'not expected'."""
    t, v = series.timestamps, series.values
    if window is not None:
        keep = t > t[-1] - window
        t, v = t[keep], v[keep]
    ok = ~np.isnan(v)
    t, v = t[ok], v[ok]
    if v.size < MIN_POINTS:
        raise errors.BadInput(f"too few points to project: {v.size}, need {MIN_POINTS}")
    now = float(t[-1])
    current = float(v[-1])
    if current >= limit:
        return Exhaustion(limit, current, None, 0.0, now, "none", "already at the limit")
    cuts = _resets(v)
    if len(cuts) >= 2:
        result = _sawtooth(t, v, cuts, limit)
    else:
        start = cuts[-1] if cuts and v.size - cuts[-1] >= MIN_POINTS else 0
        result = _trend(t[start:], v[start:], limit)
        if cuts and start:
            result = dataclasses.replace(result, reason=result.reason + " since the reset at "
                                         + series.describe_time(float(t[start])))
    if result.seconds is not None and result.seconds > max_horizon:
        return dataclasses.replace(
            result, seconds=None, at=None,
            reason=f"not within {human_duration(max_horizon)} at the current rate "
                   f"({result.reason})")
    return result


def human_duration(seconds: float) -> str:
    if seconds < 2 * HOUR:
        return f"{max(1, round(seconds / 60))} minutes"
    if seconds < 2 * series_mod.DAY:
        hours = seconds / HOUR
        return f"{hours:.1f} hours" if hours < 10 else f"{hours:.0f} hours"
    days = seconds / series_mod.DAY
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def _resets(v: np.ndarray) -> list[int]:
    """Indexes where a new segment starts after a sudden drop."""
    spread = float(np.quantile(v, 0.95) - np.quantile(v, 0.05))
    diffs = np.diff(v)
    noise = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs))))
    threshold = max(RESET_SHARE * spread, 6 * noise)
    if threshold <= 0:
        return []
    return [int(i) + 1 for i in np.flatnonzero(diffs < -threshold)]


def _trend(t: np.ndarray, v: np.ndarray, limit: float) -> Exhaustion:
    now, current = float(t[-1]), float(v[-1])
    x = (t - now) / HOUR
    if v.size < MIN_POINTS:
        return Exhaustion(limit, current, None, None, None, "none", "too few points")
    slope = _theil_sen(x, v)
    resid = v - slope * x
    intercept = float(np.median(resid))
    resid = resid - intercept
    noise = 1.4826 * float(np.median(np.abs(resid)))
    growth = slope * float(x[-1] - x[0])
    if not slope > 0 or growth <= 2 * noise:
        return Exhaustion(limit, current, slope, None, None, "none", "not growing")
    # The limit is hit when a peak touches it, not the middle of the noise band.
    level = intercept + float(np.quantile(resid, 0.95))
    hours = max(0.0, (limit - level) / slope)
    return Exhaustion(limit, current, slope, hours * HOUR, now + hours * HOUR, "trend",
                      f"grows {_rate(slope)}")


def _sawtooth(t: np.ndarray, v: np.ndarray, cuts: list[int], limit: float) -> Exhaustion:
    now, current = float(t[-1]), float(v[-1])
    bounds = [0, *cuts, v.size]
    segments = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    done = segments[:-1]
    lengths = [t[b - 1] - t[a] + (t[1] - t[0]) for a, b in done[1:] or done]
    cycle = float(np.median(lengths))
    slopes = [_theil_sen((t[a:b] - t[a]) / HOUR, v[a:b]) for a, b in done if b - a >= 3]
    a, b = segments[-1]
    in_cycle = (_theil_sen((t[a:b] - t[a]) / HOUR, v[a:b]) if b - a >= 4
                else float(np.median(slopes)) if slopes else 0.0)
    elapsed = now - float(t[a])
    every = f"resets about every {human_duration(cycle)}"
    if in_cycle > 0:
        hours = (limit - current) / in_cycle
        if hours * HOUR <= max(cycle - elapsed, 0.0):
            return Exhaustion(limit, current, in_cycle, hours * HOUR, now + hours * HOUR,
                              "cycle", f"grows {_rate(in_cycle)} within cycles and {every}; "
                              "this cycle crosses the limit before its usual reset")
    peaks_t = np.array([t[s + int(np.argmax(v[s:e]))] for s, e in done])
    peaks_v = np.array([float(np.max(v[s:e])) for s, e in done])
    x = (peaks_t - now) / HOUR
    slope = _theil_sen(x, peaks_v) if peaks_v.size >= 2 else 0.0
    if not slope > 0:
        return Exhaustion(limit, current, slope, None, None, "none",
                          f"peaks are not rising; {every}")
    level = float(np.median(peaks_v - slope * x))
    hours = max(0.0, (limit - level) / slope)
    return Exhaustion(limit, current, slope, hours * HOUR, now + hours * HOUR, "envelope",
                      f"peaks rise {_rate(slope)}; {every}")


def _theil_sen(x: np.ndarray, y: np.ndarray) -> float:
    """Median of pairwise slopes: a reset or a spike does not tilt it."""
    if x.size > MAX_PAIRS_POINTS:
        pick = np.linspace(0, x.size - 1, MAX_PAIRS_POINTS).round().astype(np.int64)
        x, y = x[pick], y[pick]
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    good = dx != 0
    if not good.any():
        return 0.0
    return float(np.median((y[j] - y[i])[good] / dx[good]))


def _rate(per_hour: float) -> str:
    return f"by {per_hour * 24:.3g} per day"
