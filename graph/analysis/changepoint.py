"""Mean-shift change points: when did a metric move to a new level, and by how much.

RCA uses this to line a regression up with a rollout ("error rate doubled at 14:02,
the rollout finished at 14:01"); the forecaster uses it to re-level history after a
deploy changed the load. A single best split is searched by least squares on winsorised
values; its strength is an effect size against the noise inside the two segments, so
a long series does not make every wiggle "significant".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graph.analysis import errors
from graph.analysis import series as series_mod

__all__ = ["MeanShift", "best_split", "deseasonalise", "mean_shift", "shift_at"]

# 1.4826 * MAD estimates the standard deviation of normal noise.
MAD_SCALE = 1.4826


@dataclasses.dataclass(frozen=True)
class MeanShift:
    """A level change between two segments."""

    index: int
    """First point of the new level."""
    timestamp: float
    before: float
    """Median value before the change."""
    after: float
    """Median value after it."""
    shift: float
    """Size of the change, measured on deseasonalised values when asked (so it is the
    change at a given hour, not the difference of two medians that mix hours)."""
    noise: float
    """Robust standard deviation inside the segments."""

    @property
    def relative(self) -> float | None:
        """Change as a fraction of the old level; None when the old level is zero."""
        return self.shift / abs(self.before) if self.before else None

    @property
    def effect(self) -> float:
        """Shift in units of noise: above ~3 it stands out of the noise clearly."""
        if not self.noise > 0:
            return float("inf") if self.shift else 0.0
        return abs(self.shift) / self.noise


def best_split(values: np.ndarray, min_size: int) -> tuple[int, float] | None:
    """Index of the split minimising the squared error of two constant segments, and the
    error reduction; NaN points are skipped. None when no split leaves `min_size` points
    on both sides."""
    ok = np.flatnonzero(~np.isnan(values))
    n = ok.size
    if n < 2 * min_size:
        return None
    x = _winsorise(values[ok])
    cum = np.cumsum(x)
    total = cum[-1]
    k = np.arange(min_size, n - min_size + 1)
    left = cum[k - 1]
    # Between-segment sum of squares for a split before position k.
    gain = (left / k - (total - left) / (n - k)) ** 2 * k * (n - k) / n
    best = int(np.argmax(gain))
    return int(ok[k[best]]), float(gain[best])


def mean_shift(series: series_mod.Series, *, min_size: int | None = None,
               min_effect: float = 3.0, seasonal: bool = True) -> MeanShift | None:
    """The strongest level change in the series, if it stands out of the noise.

    With `seasonal`, each point is first compared with the median of its phase (hour of
    week, or of day) so that the daily rise of traffic is not taken for a shift.
    """
    values = series.values
    if min_size is None:
        min_size = max(3, len(series) // 20)
    residual = deseasonalise(series) if seasonal else values
    split = best_split(residual, min_size)
    if split is None:
        return None
    shift = _measure(series, residual, split[0], values)
    return shift if shift.effect >= min_effect else None


def shift_at(series: series_mod.Series, timestamp: float, *, window: int | None = None,
             seasonal: bool = False) -> MeanShift:
    """Before/after comparison around a known moment (a rollout, a config change): the
    `window` points before `timestamp` against the `window` points from it on."""
    index = int(np.searchsorted(series.timestamps, timestamp))
    if index <= 0 or index >= len(series):
        raise errors.BadInput("the moment to compare around is outside the series")
    if window is None:
        window = min(index, len(series) - index)
    lo = max(0, index - window)
    hi = min(len(series), index + window)
    part = series.window(lo, hi)
    residual = deseasonalise(part) if seasonal else part.values
    return _measure(part, residual, index - lo, part.values, offset=lo)


def deseasonalise(series: series_mod.Series) -> np.ndarray:
    """Values minus the median of their phase (week if two weeks are present, else day);
    the values themselves when no season fits."""
    values = series.values
    for seconds in (series_mod.WEEK, series_mod.DAY):
        period = series.period(seconds)
        if period and len(series) >= 2 * period:
            return values - _phase_medians(values, period)[np.arange(len(series)) % period]
    return values


def _phase_medians(values: np.ndarray, period: int) -> np.ndarray:
    """The median of the observed values at each phase of `period` (NaN for a phase
    never observed), all phases at once: one column per phase, missing values sorted
    last."""
    rows = -(-values.size // period)
    grid = np.full(rows * period, np.nan)
    grid[:values.size] = values
    grid = np.sort(grid.reshape(rows, period), axis=0)
    count = np.count_nonzero(~np.isnan(grid), axis=0)
    cols = np.arange(period)
    low = grid[np.maximum(count - 1, 0) // 2, cols]
    high = grid[count // 2, cols]
    # Halving the sum of the two middle values is how np.median averages them.
    return np.where(count > 0, (low + high) / 2, np.nan)


def _measure(series: series_mod.Series, residual: np.ndarray, index: int,
             values: np.ndarray, offset: int = 0) -> MeanShift:
    before_r, after_r = residual[:index], residual[index:]
    return MeanShift(
        index=index + offset,
        timestamp=float(series.timestamps[index]),
        before=_median(values[:index]),
        after=_median(values[index:]),
        shift=_median(after_r) - _median(before_r),
        noise=_pooled_noise(before_r, after_r),
    )


def _median(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else float("nan")


def _pooled_noise(a: np.ndarray, b: np.ndarray) -> float:
    parts = [x[~np.isnan(x)] for x in (a, b)]
    devs = np.concatenate([x - np.median(x) for x in parts if x.size])
    if devs.size == 0:
        return float("nan")
    mad = float(np.median(np.abs(devs))) * MAD_SCALE
    if mad > 0:
        return mad
    # A flat segment has zero MAD; fall back to the mean deviation so that a step
    # between two flat lines still has a finite, large effect.
    spread = float(np.mean(np.abs(devs)))
    return spread if spread > 0 else 0.0


def _winsorise(x: np.ndarray, k: float = 4.0) -> np.ndarray:
    # A single spike must not pull the split towards itself.
    med = np.median(x)
    mad = np.median(np.abs(x - med)) * MAD_SCALE
    if mad == 0:
        return x
    return np.clip(x, med - k * mad, med + k * mad)
