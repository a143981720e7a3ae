"""The learned forecasting models: direct multi-step regression on seasonal lags.

One model serves every step of the horizon, the step itself being a feature; a
backtest fits once and then predicts every window from one design matrix. The ridge is
solved in closed form with numpy (a scikit-learn pipeline costs more in input checks
than in arithmetic at these sizes); gradient boosting comes from scikit-learn.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import threadpoolctl
from sklearn.ensemble import HistGradientBoostingRegressor

from graph.analysis import features

__all__ = ["MAX_RIDGE_ROWS", "MAX_TREE_ROWS", "LagRegression", "RidgeFit"]

# Training rows are capped (by thinning origins evenly, newest kept) so that a forecast
# stays interactive on fine-step histories.
MAX_RIDGE_ROWS = 10_000
MAX_TREE_ROWS = 15_000
RIDGE_ALPHA = 1.0


@dataclasses.dataclass(frozen=True)
class RidgeFit:
    """L2-penalised least squares with an unpenalised intercept."""

    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, alpha: float = RIDGE_ALPHA) -> RidgeFit:
        if y.size == 0:
            raise ValueError("no training rows")  # callers skip the model, as for sklearn
        # Centring takes the intercept out of the penalty, as the usual ridge does.
        x_mean = X.mean(axis=0)
        y_mean = float(y.mean())
        Xc = X - x_mean
        gram = Xc.T @ Xc
        gram[np.diag_indices_from(gram)] += alpha
        coef = np.linalg.solve(gram, Xc.T @ (y - y_mean))
        return cls(coef, y_mean - float(x_mean @ coef))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef + self.intercept


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
    _model: RidgeFit | HistGradientBoostingRegressor | None = dataclasses.field(
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
        # One thread: the result must not depend on the machine, and a chat bot runs
        # several of these side by side.
        with _one_thread():
            if self.kind == "ridge":
                self._model = RidgeFit.fit(X[keep], target[keep])
            else:
                model = HistGradientBoostingRegressor(
                    max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40,
                    l2_regularization=1.0, early_stopping=False, random_state=0)
                self._model = model.fit(X[keep], target[keep])

    def predict(self, frame: features.Frame, origin: int, horizon: int) -> np.ndarray:
        return self.predict_many(frame, np.array([origin]), horizon)[0]

    def predict_many(self, frame: features.Frame, origins: np.ndarray,
                     horizon: int) -> np.ndarray:
        if self._model is None:
            raise ValueError(f"{self.name} is not fitted")
        X, base, _, _ = self._design(frame, np.asarray(origins), horizon)
        with _one_thread():
            return (base + self._model.predict(X)).reshape(len(origins), horizon)

    def _design(self, frame: features.Frame, origins: np.ndarray,
                horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ridge = self.kind == "ridge"
        X, base, t, h = features.lag_design(frame, origins, horizon, self.weeks,
                                            calendar=ridge)
        if not ridge:
            X = np.column_stack((X, h, frame.day_bin[t], frame.weekday[t]))
        return X, base, t, h


_controller: threadpoolctl.ThreadpoolController | None = None


def _one_thread() -> threadpoolctl._ThreadpoolLimiter:
    """Limit BLAS and OpenMP to one thread. The controller is made once: discovering
    the loaded libraries costs more than a small model's fit."""
    global _controller
    if _controller is None:
        _controller = threadpoolctl.ThreadpoolController()
    return _controller.limit(limits=1)
