"""Candidate forecasting models; the backtest picks one per series.

All models work on a `features.Frame` in transformed space. `fit(frame, end, horizon)`
learns from targets before index `end`; `predict(frame, origin, horizon)` forecasts the
points after `origin` from points at or before it. Baselines need no fit.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np
import threadpoolctl
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from graph.analysis import features

__all__ = [
    "Drift",
    "LagRegression",
    "Model",
    "Naive",
    "SeasonalMean",
    "SeasonalNaive",
]

# Training rows are capped (by thinning origins evenly, newest kept) so that a forecast
# stays interactive on fine-step histories.
MAX_RIDGE_ROWS = 40_000
MAX_TREE_ROWS = 15_000


class Model(Protocol):
    name: str

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        """The first origin this model can forecast from (before fitting needs)."""
        ...

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None: ...

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray: ...


@dataclasses.dataclass
class Naive:
    """The last value, held flat: right for random walks and flat gauges."""

    name: str = "naive"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return 0

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        return None

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        return np.full(horizon, frame.filled[origin])


@dataclasses.dataclass
class Drift:
    """A straight line through the recent window: disks and leaks grow, they do not cycle."""

    window: int
    name: str = "drift"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return min(self.window, 8) - 1

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        return None

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        lo = max(0, origin + 1 - self.window)
        y = frame.filled[lo:origin + 1]
        x = np.arange(y.size, dtype=np.float64)
        if y.size < 3:
            return np.full(horizon, y[-1])
        # Median of pairwise slopes on a thinned grid: a single spike or reset in the
        # window would tilt a least-squares line.
        slope = _pairwise_slope(x, y)
        level = float(np.median(y - slope * x)) + slope * x[-1]
        return level + slope * np.arange(1, horizon + 1)


@dataclasses.dataclass
class SeasonalNaive:
    """The value one season earlier, the classic baseline."""

    period: int
    name: str = "seasonal_naive"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return self.period - 1

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        return None

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        t = origin + np.arange(1, horizon + 1)
        back = np.ceil((t - origin) / self.period).astype(np.int64) * self.period
        return frame.filled[t - back]


@dataclasses.dataclass
class SeasonalMean:
    """The mean (in log space: geometric) of the same phase over the last `count`
    seasons; smooths one-off bumps that a seasonal naive copies forward."""

    period: int
    count: int
    name: str = "seasonal_mean"

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        return self.count * self.period - 1

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        return None

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        t = origin + np.arange(1, horizon + 1)
        back = np.ceil((t - origin) / self.period).astype(np.int64) * self.period
        return np.mean([frame.filled[t - back - j * self.period] for j in range(self.count)],
                       axis=0)


@dataclasses.dataclass
class LagRegression:
    """Direct multi-step regression on seasonal lags, recent-level features and the
    calendar: one model for all steps, the step itself being a feature.

    `kind` is "ridge" (linear, fast, extrapolates recent level deviations) or "gbm"
    (histogram gradient boosting, captures interactions such as a deviation fading
    with the step).
    """

    kind: str
    weeks: int
    name: str = "ridge"
    min_train_origins: int = 24
    _model: Ridge | HistGradientBoostingRegressor | None = dataclasses.field(
        default=None, repr=False)

    def min_origin(self, frame: features.Frame, horizon: int) -> int:
        season = frame.season or 1
        span = frame.day if frame.day and frame.day < season else max(1, season // 4)
        return self.weeks * season + span

    def fit(self, frame: features.Frame, end: int, horizon: int) -> None:
        first = self.min_origin(frame, horizon)
        origins = np.arange(first, end - 1)
        if origins.size < self.min_train_origins:
            raise ValueError(f"{self.name}: {origins.size} training origins")
        cap = MAX_RIDGE_ROWS if self.kind == "ridge" else MAX_TREE_ROWS
        if origins.size * horizon > cap:
            stride = int(np.ceil(origins.size * horizon / cap))
            origins = origins[::-1][::stride][::-1]
        X, base, t, _ = self._design(frame, origins, horizon)
        keep = t < end
        target = frame.z[np.minimum(t, frame.n - 1)] - base
        keep &= ~np.isnan(target)
        if self.kind == "ridge":
            model: Ridge | HistGradientBoostingRegressor = Ridge(alpha=1.0)
        else:
            model = HistGradientBoostingRegressor(
                max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
                l2_regularization=1.0, early_stopping=False, random_state=0)
        # One thread: the result must not depend on the machine, and a chat bot runs
        # several of these side by side.
        with threadpoolctl.threadpool_limits(1):
            model.fit(X[keep], target[keep])
        self._model = model

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        if self._model is None:
            raise ValueError(f"{self.name} is not fitted")
        X, base, _, _ = self._design(frame, np.array([origin]), horizon)
        with threadpoolctl.threadpool_limits(1):
            return base + self._model.predict(X)

    def _design(self, frame: features.Frame, origins: np.ndarray,
                horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ridge = self.kind == "ridge"
        X, base, t, h = features.lag_design(frame, origins, horizon, self.weeks,
                                            calendar=ridge)
        if not ridge:
            X = np.column_stack((X, h, frame.day_bin[t], frame.weekday[t]))
        return X, base, t, h


def _pairwise_slope(x: np.ndarray, y: np.ndarray, max_points: int = 200) -> float:
    if x.size > max_points:
        pick = np.linspace(0, x.size - 1, max_points).round().astype(np.int64)
        x, y = x[pick], y[pick]
    i, j = np.triu_indices(x.size, k=1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))
