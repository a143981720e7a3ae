"""The modelling frame: transformed values, causal gap filling, calendar and lag features.

Load (QPS, CPU, bytes) varies multiplicatively, a busy hour is a multiple of a quiet
one, so non-negative series are modelled as log(value + offset) and errors become
relative. Every feature for the point `origin + h` reads only points at or before
`origin`, so backtests cannot peek at the future.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graph.analysis import series as series_mod

__all__ = [
    "Frame",
    "Transform",
    "causal_fill",
    "lag_design",
    "make_frame",
]

# At most this many calendar bins per day keep the ridge design small for fine steps.
MAX_DAY_BINS = 48


@dataclasses.dataclass(frozen=True)
class Transform:
    """log(value + offset) for non-negative series, identity otherwise."""

    log: bool
    offset: float

    @classmethod
    def fit(cls, values: np.ndarray) -> Transform:
        observed = values[~np.isnan(values)]
        if observed.size == 0 or observed.min() < 0:
            return cls(False, 0.0)
        # The offset keeps zeros finite; 1 % of the typical level keeps a near-idle hour
        # from dominating the error the way log(0 + tiny) would.
        scale = float(np.median(observed)) or float(observed.max()) or 1.0
        return cls(True, 0.01 * scale)

    def forward(self, values: np.ndarray) -> np.ndarray:
        if not self.log:
            return np.asarray(values, dtype=np.float64)
        return np.log(np.maximum(values, 0.0) + self.offset)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        if not self.log:
            return np.asarray(z, dtype=np.float64)
        return np.maximum(np.exp(z) - self.offset, 0.0)


@dataclasses.dataclass(frozen=True)
class Frame:
    """A history ready for the models; index n and beyond are the future."""

    z: np.ndarray
    """Transformed values, NaN where missing: the training targets."""
    filled: np.ndarray
    """`z` with gaps filled from the past only: the feature source."""
    day: int | None
    """Points per day when daily seasonality is used."""
    week: int | None
    """Points per week when weekly seasonality is used."""
    day_bin: np.ndarray
    """Calendar bin of the time of day for every index up to n + horizon."""
    weekday: np.ndarray
    """Day of week (Monday 0) for every index up to n + horizon."""
    day_bins: int
    cumsum: np.ndarray
    """Running sums of `filled` with a leading zero: window means in constant time."""

    @property
    def n(self) -> int:
        return int(self.z.size)

    @property
    def season(self) -> int | None:
        """The longest season in use: lags of it carry the whole seasonal shape."""
        return self.week or self.day


def make_frame(series: series_mod.Series, z: np.ndarray, horizon: int, *,
               day: int | None, week: int | None) -> Frame:
    """A frame over transformed values `z` of `series`, with calendar up to the horizon."""
    filled = causal_fill(z, [p for p in (week, day) if p])
    stamps = np.concatenate((series.timestamps, series.future(horizon)))
    local = series.local(stamps)
    seconds = np.mod(local, series_mod.DAY)
    bins = int(min(MAX_DAY_BINS, max(1, round(series_mod.DAY / series.step))))
    day_bin = np.minimum((seconds / series_mod.DAY * bins).astype(np.int64), bins - 1)
    # 1970-01-01 was a Thursday: shift so that Monday is 0.
    weekday = (np.floor(local / series_mod.DAY).astype(np.int64) + 3) % 7
    cumsum = np.concatenate(([0.0], np.cumsum(filled)))
    return Frame(z, filled, day, week, day_bin, weekday, bins, cumsum)


def causal_fill(z: np.ndarray, periods: list[int]) -> np.ndarray:
    """Fill gaps with the same phase one season earlier, else the last value.

    Only earlier points are used: a backtest origin must not see imputed values that
    were derived from what came after it.
    """
    out = z.copy()
    missing = np.flatnonzero(np.isnan(out))
    if missing.size == 0:
        return out
    observed = np.flatnonzero(~np.isnan(out))
    if observed.size == 0:
        return np.zeros_like(out)
    # Leading gaps have no past at all; the first observation is the least-bad stand-in.
    out[: observed[0]] = out[observed[0]]
    for i in missing:
        if i < observed[0]:
            continue
        for p in periods:
            if i - p >= 0 and not np.isnan(out[i - p]):
                out[i] = out[i - p]
                break
        else:
            out[i] = out[i - 1]
    return out


def lag_design(frame: Frame, origins: np.ndarray, horizon: int, weeks: int,
               *, calendar: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features for targets `origin + h`, h = 1..horizon, from points <= origin.

    Returns (X, base, target index, h). `base` is the mean of the last `weeks` seasons
    at the same phase; models learn the target minus base, which keeps tree models from
    having to extrapolate levels and lets a ridge reweight recent seasons.
    """
    season = frame.season
    if season is None:
        raise ValueError("lag features need a season")
    zf = frame.filled
    o = np.repeat(origins, horizon)
    h = np.tile(np.arange(1, horizon + 1), origins.size)
    t = o + h
    back = np.ceil(h / season).astype(np.int64) * season
    lags = [zf[t - back - j * season] for j in range(weeks)]
    base = np.mean(lags, axis=0)
    cols = [lag - base for lag in lags[1:]] if weeks > 1 else []
    cum = frame.cumsum
    span = frame.day if frame.day and frame.day < season else max(1, season // 4)

    def level(end: np.ndarray) -> np.ndarray:
        return (cum[end + 1] - cum[end + 1 - span]) / span

    level_now = level(o)
    level_before = np.mean([level(o - j * season) for j in range(1, weeks + 1)], axis=0)
    drift = level_now - level_before
    dev = zf[o] - np.mean([zf[o - j * season] for j in range(1, weeks + 1)], axis=0)
    cols += [drift, dev]
    for tau in (max(1.0, span / 4), float(span)):
        decay = np.exp(-h / tau)
        cols += [drift * decay, dev * decay]
    if frame.day and frame.day < season:
        back_day = np.ceil(h / frame.day).astype(np.int64) * frame.day
        recent = zf[t - back_day]
        recent_base = np.mean([zf[t - back_day - j * season] for j in range(1, weeks + 1)],
                              axis=0)
        cols += [recent - base, recent - recent_base]
    # Filled in place: stacking, then stacking one-hot blocks on, copies the largest
    # array of a forecast twice.
    width = len(cols) + (frame.day_bins + 7 if calendar else 0)
    X = np.zeros((t.size, width))
    for k, col in enumerate(cols):
        X[:, k] = col
    if calendar:
        rows = np.arange(t.size)
        X[rows, len(cols) + frame.day_bin[t]] = 1.0
        X[rows, len(cols) + frame.day_bins + frame.weekday[t]] = 1.0
    return X, base, t, h
