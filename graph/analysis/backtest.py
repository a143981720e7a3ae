"""Rolling-origin backtests, error metrics and empirical prediction intervals.

Each candidate model is fitted once on the history before the first backtest origin and
then forecasts from every origin in turn, reading only the data before that origin. The
same windows serve three purposes: choosing the model, reporting its error, and giving
the residual quantiles per step that become the prediction interval.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graph.analysis import features, models

__all__ = [
    "Plan",
    "Run",
    "interval_offsets",
    "loo_coverage",
    "metrics",
    "plan_windows",
    "run",
    "seasonal_scale",
]

MAX_WINDOWS = 10
MIN_WINDOWS = 3


@dataclasses.dataclass(frozen=True)
class Plan:
    """Backtest origins (index of the last point seen) and the shared horizon."""

    origins: np.ndarray
    horizon: int
    stride: int


@dataclasses.dataclass(frozen=True)
class Run:
    """One model's backtest: forecasts and actuals per window, transformed space."""

    name: str
    predicted: np.ndarray
    actual: np.ndarray

    @property
    def residuals(self) -> np.ndarray:
        return self.actual - self.predicted


def plan_windows(n: int, horizon: int, first_origin: int, stride: int,
                 max_windows: int = MAX_WINDOWS) -> Plan | None:
    """Windows ending at the last point, spaced by `stride` (a day keeps each origin
    at the same time of day as the real forecast), as many as fit after `first_origin`.
    Falls back to a shorter stride before giving up."""
    last = n - 1 - horizon
    if last < first_origin:
        return None
    room = last - first_origin
    if room // stride + 1 < MIN_WINDOWS:
        stride = max(1, room // (MIN_WINDOWS - 1)) if room >= MIN_WINDOWS - 1 else 1
    count = min(max_windows, room // stride + 1)
    origins = last - stride * np.arange(count - 1, -1, -1)
    return Plan(origins.astype(np.int64), horizon, stride)


def run(frame: features.Frame, model: models.Model, plan: Plan) -> Run:
    """Fit at the first origin, forecast from every origin."""
    model.fit(frame, int(plan.origins[0]) + 1, plan.horizon)
    steps = np.arange(1, plan.horizon + 1)
    predicted = np.vstack([model.predict(frame, int(o), plan.horizon) for o in plan.origins])
    actual = np.vstack([frame.z[o + steps] for o in plan.origins])
    return Run(model.name, predicted, actual)


def seasonal_scale(values: np.ndarray, period: int) -> float:
    """MASE denominator: mean absolute change over one season in the history."""
    period = max(1, min(period, values.size - 1))
    diff = np.abs(values[period:] - values[:-period])
    diff = diff[~np.isnan(diff)]
    if diff.size == 0 or diff.mean() == 0:
        return float("nan")
    return float(diff.mean())


def metrics(actual: np.ndarray, predicted: np.ndarray, scale: float) -> dict[str, float]:
    """sMAPE and MAPE in percent, MASE against `scale`, in original units; missing
    actuals are skipped and MAPE skips zero actuals."""
    a = np.ravel(actual)
    p = np.ravel(predicted)
    ok = ~np.isnan(a) & ~np.isnan(p)
    a, p = a[ok], p[ok]
    if a.size == 0:
        return {"smape": float("nan"), "mape": float("nan"), "mase": float("nan")}
    err = np.abs(a - p)
    denom = np.abs(a) + np.abs(p)
    smape = float(np.mean(np.where(denom > 0, 2 * err / np.where(denom > 0, denom, 1), 0.0)))
    nz = a != 0
    mape = float(np.mean(err[nz] / np.abs(a[nz]))) if nz.any() else float("nan")
    mase = float(err.mean() / scale) if scale and np.isfinite(scale) else float("nan")
    return {"smape": 100 * smape, "mape": 100 * mape, "mase": mase}


def interval_offsets(residuals: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper residual quantiles per step.

    A few windows give few residuals per step, so each step pools its neighbours
    (about an eighth of the horizon on each side); quantiles are then made wider, never
    narrower, with the step, since uncertainty does not shrink further out.
    """
    horizon = residuals.shape[1]
    alpha = (1.0 - interval) / 2.0
    reach = max(1, horizon // 8)
    lower = np.empty(horizon)
    upper = np.empty(horizon)
    for h in range(horizon):
        pool = residuals[:, max(0, h - reach):h + reach + 1].ravel()
        pool = pool[~np.isnan(pool)]
        if pool.size == 0:
            lower[h], upper[h] = -np.inf, np.inf
            continue
        lower[h], upper[h] = _quantiles(pool, alpha)
    return np.minimum.accumulate(np.minimum(lower, 0.0)), \
        np.maximum.accumulate(np.maximum(upper, 0.0))


def loo_coverage(residuals: np.ndarray, interval: float) -> float:
    """Share of backtest actuals inside intervals built from the other windows only,
    an honest estimate: in-sample coverage would equal the nominal level by design."""
    windows = residuals.shape[0]
    if windows < 2:
        return float("nan")
    inside = 0
    total = 0
    for w in range(windows):
        others = np.delete(residuals, w, axis=0)
        lo, hi = interval_offsets(others, interval)
        r = residuals[w]
        ok = ~np.isnan(r)
        inside += int(np.count_nonzero((r[ok] >= lo[ok]) & (r[ok] <= hi[ok])))
        total += int(np.count_nonzero(ok))
    return inside / total if total else float("nan")


def _quantiles(pool: np.ndarray, alpha: float) -> tuple[float, float]:
    # With n residuals the empirical quantile is biased inwards; the (n + 1) correction
    # of split conformal prediction keeps coverage at the nominal level.
    n = pool.size
    lo_q = max(0.0, np.floor(alpha * (n + 1)) / n - 1e-12) if n else 0.0
    hi_q = min(1.0, np.ceil((1 - alpha) * (n + 1)) / n) if n else 1.0
    return float(np.quantile(pool, lo_q)), float(np.quantile(pool, hi_q))
