"""Candidate forecasting models; the backtest picks and blends them per series.

All models work on a `features.Frame` in transformed space. `fit(frame, end, horizon)`
learns from targets before index `end`; `predict(frame, origin, horizon)` forecasts the
points after `origin` from points at or before it, and `predict_many` does so for
several origins (a backtest) at once. The models here need no fit; the learned ones
are in `regression`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Protocol

import numpy as np

from graph.analysis import features

__all__ = [
    "Drift",
    "LevelledSeasonal",
    "Model",
    "Naive",
    "PerOrigin",
    "SeasonalMean",
    "SeasonalNaive",
    "Stateless",
]


class Model(Protocol):
    name: str

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        """The first origin this model can forecast from (before fitting needs)."""
        ...

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None: ...

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray: ...

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        """One row of `predict` per origin."""
        ...


class PerOrigin:
    """`predict_many` as a loop over `predict`, for models with nothing to share."""

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        raise NotImplementedError

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        return np.vstack([self.predict(frame, int(o), horizon) for o in origins])


class Stateless:
    """`fit` is a no-op and `predict` one row of `predict_many`, for rule-based models
    that compute every origin at once."""

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        return None

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        return self.predict_many(frame, np.array([origin]), horizon)[0]

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        raise NotImplementedError


@dataclasses.dataclass
class Naive(PerOrigin):
    """The last value, held flat: right for random walks and flat gauges."""

    name: str = "naive"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return 0

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        return None

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        return np.full(horizon, frame.filled[origin])


@dataclasses.dataclass
class Drift(Stateless):
    """A straight line through the recent window: disks and leaks grow, they do not cycle."""

    window: int
    name: str = "drift"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return min(self.window, 8) - 1

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        size = np.minimum(origins + 1, self.window)
        out = np.empty((origins.size, horizon))
        # Origins with the same window length share the pair grid: one median per group.
        for length in np.unique(size):
            rows = np.flatnonzero(size == length)
            ends = origins[rows]
            if length < 3:
                out[rows] = frame.filled[ends][:, None]
                continue
            x = np.arange(length, dtype=np.float64)
            y = frame.filled[ends[:, None] - length + 1 + np.arange(length)]
            # Median of pairwise slopes on a thinned grid: a single spike or reset in
            # the window would tilt a least-squares line.
            slope = _pairwise_slopes(x, y)
            level = np.median(y - slope[:, None] * x, axis=1) + slope * x[-1]
            out[rows] = level[:, None] + slope[:, None] * np.arange(1, horizon + 1)
        return out


@dataclasses.dataclass
class SeasonalNaive(Stateless):
    """The value one season earlier, the classic baseline."""

    period: int
    name: str = "seasonal_naive"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return self.period - 1

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        t, back = _targets(origins, horizon, self.period)
        return frame.filled[t - back]


@dataclasses.dataclass
class SeasonalMean(Stateless):
    """The mean (in log space: geometric) of the same phase over the last `count`
    seasons; smooths one-off bumps that a seasonal naive copies forward."""

    period: int
    count: int
    name: str = "seasonal_mean"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return self.count * self.period - 1

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        t, back = _targets(origins, horizon, self.period)
        return np.mean([frame.filled[t - back - j * self.period] for j in range(self.count)],
                       axis=0)


@dataclasses.dataclass
class LevelledSeasonal(Stateless):
    """The same phase in each of the last `count` seasons (fewer when the history is
    shorter), each moved by how far the last `span` points sit from the same points in
    that season; the median of those when there are three or more, else their mean.

    Load keeps its weekly shape while its level drifts from week to week: a plain
    seasonal mean copies last week's level, this one carries today's level forward, and
    the median ignores the one season that had an incident. The move is the median of
    the paired differences, so that a few bad points (the tail of an outage) in either
    window do not move the whole forecast.
    """

    period: int
    count: int
    span: int
    name: str = "levelled_seasonal"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return self._reach(horizon) + self.span - 1

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        t, back = _targets(origins, horizon, self.period)
        lags = back[0]
        window = np.arange(1 - self.span, 1)
        recent = frame.z[origins[:, None] + window]
        room = origins + 1 - self.span - self._reach(horizon)
        count = np.minimum(self.count, room // self.period + 1)
        parts = np.full((self.count, origins.size, horizon), np.nan)
        for j in range(self.count):
            lag = lags + j * self.period
            move = np.empty((origins.size, horizon))
            for b in np.unique(lag):
                then = frame.z[np.maximum(origins[:, None] - int(b) + window, 0)]
                move[:, lag == b] = _paired_shift(recent, then)[:, None]
            # A season whose window was mostly not observed (an outage) cannot be moved.
            usable = (j < count) & ~np.isnan(move).any(axis=1)
            parts[j, usable] = frame.filled[t[usable] - lag] + move[usable]
        used = np.count_nonzero(~np.isnan(parts[:, :, 0]), axis=0)
        with np.errstate(invalid="ignore"):
            mean = np.nansum(parts, axis=0) / np.maximum(used, 1)[:, None]
        out = np.where((used >= 3)[:, None], _nan_median(parts, axis=0), mean)
        # No season could be moved: the plain seasonal naive.
        return np.where((used == 0)[:, None], frame.filled[t - back], out)

    def _reach(self, horizon: int) -> int:
        """How far back the first season's values lie for the farthest step."""
        return -(-horizon // self.period) * self.period


def _paired_shift(recent: np.ndarray, then: np.ndarray) -> np.ndarray:
    """Per row, the median of `recent` minus `then`, pair by pair; NaN when fewer than
    half of the pairs were observed on both sides."""
    diff = recent - then
    seen = np.count_nonzero(~np.isnan(diff), axis=1)
    return np.where(seen * 2 >= diff.shape[1], _nan_median(diff, axis=1), np.nan)


def _nan_median(values: np.ndarray, axis: int) -> np.ndarray:
    """The median of the non-missing values along `axis` (NaN where there are none),
    computed as np.median does: the middle value, or the mean of the middle two."""
    ordered = np.sort(values, axis=axis)  # missing values sort last
    count = np.count_nonzero(~np.isnan(ordered), axis=axis, keepdims=True)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0) // 2, axis=axis)
    high = np.take_along_axis(ordered, count // 2, axis=axis)
    middle = np.where(count > 0, (low + high) / 2, np.nan)
    return np.squeeze(middle, axis=axis)


def _targets(origins: np.ndarray, horizon: int,
             period: int) -> tuple[np.ndarray, np.ndarray]:
    """Target indices (origins x steps) and how far back their latest season lies."""
    steps = np.arange(1, horizon + 1)
    back = np.ceil(steps / period).astype(np.int64) * period
    return np.asarray(origins)[:, None] + steps, np.broadcast_to(back, (len(origins), horizon))


def _pairwise_slopes(x: np.ndarray, y: np.ndarray, max_points: int = 200) -> np.ndarray:
    """Median pairwise slope of each row of `y` against `x`."""
    if x.size > max_points:
        pick = np.linspace(0, x.size - 1, max_points).round().astype(np.int64)
        x, y = x[pick], y[:, pick]
    i, j = _pairs(x.size)
    return np.median((y[:, j] - y[:, i]) / (x[j] - x[i]), axis=1)


@functools.lru_cache(maxsize=8)
def _pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    # The same few window sizes recur in every backtest; shared, so read-only.
    i, j = np.triu_indices(size, k=1)
    i.setflags(write=False)
    j.setflags(write=False)
    return i, j
