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
# Cells of residual pools sorted at once when computing intervals.
POOL_CELLS = 1_000_000


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
    predicted = model.predict_many(frame, plan.origins, plan.horizon)
    actual = frame.z[plan.origins[:, None] + steps]
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
    lower, upper = _step_bounds(residuals, interval, leave_out=False)
    return _widen(lower[0], upper[0])


def loo_coverage(residuals: np.ndarray, interval: float) -> float:
    """Share of backtest actuals inside intervals built from the other windows only,
    an honest estimate: in-sample coverage would equal the nominal level by design."""
    windows = residuals.shape[0]
    if windows < 2:
        return float("nan")
    lower, upper = _step_bounds(residuals, interval, leave_out=True)
    inside = 0
    total = 0
    for w in range(windows):
        lo, hi = _widen(lower[w], upper[w])
        r = residuals[w]
        ok = ~np.isnan(r)
        inside += int(np.count_nonzero((r[ok] >= lo[ok]) & (r[ok] <= hi[ok])))
        total += int(np.count_nonzero(ok))
    return inside / total if total else float("nan")


def _widen(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.minimum.accumulate(np.minimum(lower, 0.0)),
            np.maximum.accumulate(np.maximum(upper, 0.0)))


def _step_bounds(residuals: np.ndarray, interval: float, *,
                 leave_out: bool) -> tuple[np.ndarray, np.ndarray]:
    """Raw lower and upper quantiles of each step's pool: one row, or with `leave_out`
    one row per window built without that window's residuals.

    Each step's pool is sorted once, remembering which window every value came from;
    leaving a window out then only renumbers the ranks of the others, so that the
    leave-one-out intervals cost little more than the interval itself.
    """
    windows, horizon = residuals.shape
    alpha = (1.0 - interval) / 2.0
    reach = max(1, horizon // 8)
    width = 2 * reach + 1
    padded = np.full((windows, horizon + 2 * reach), np.nan)
    padded[:, reach:reach + horizon] = residuals
    owner = np.repeat(np.arange(windows), width)
    rows = windows if leave_out else 1
    lower = np.empty((rows, horizon))
    upper = np.empty((rows, horizon))
    # Steps are done in chunks: a pool matrix for every step at once would be horizon
    # squared in size on long horizons.
    chunk = max(1, POOL_CELLS // (windows * width))
    for start in range(0, horizon, chunk):
        steps = np.arange(start, min(horizon, start + chunk))
        cols = steps[:, None] + np.arange(width)
        pool = padded[:, cols].transpose(1, 0, 2).reshape(steps.size, -1)
        if not leave_out:
            pool.sort(axis=1)  # missing values sort last
            seen = ~np.isnan(pool)
            lower[0, steps], upper[0, steps] = _quantiles(pool, np.ones_like(seen), seen,
                                                          alpha)
            continue
        # Ties may come out in any order: tied values are equal whichever window left.
        order = np.argsort(pool, axis=1)
        pool = np.take_along_axis(pool, order, axis=1)
        seen = ~np.isnan(pool)
        came_from = owner[order]
        for row in range(rows):
            lower[row, steps], upper[row, steps] = _quantiles(pool, came_from != row, seen,
                                                              alpha)
    return lower, upper


def _quantiles(pool: np.ndarray, kept: np.ndarray, seen: np.ndarray,
               alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The alpha and 1 - alpha quantiles of the kept values of each row of `pool`
    (rows sorted, missing values last), interpolated linearly as numpy's default
    quantile does; infinite bounds for a row with no values."""
    n = np.count_nonzero(kept & seen, axis=1)
    size = np.maximum(n, 1)
    # With n residuals the empirical quantile is biased inwards; the (n + 1) correction
    # of split conformal prediction keeps coverage at the nominal level.
    lo_q = np.maximum(0.0, np.floor(alpha * (n + 1)) / size - 1e-12)
    hi_q = np.minimum(1.0, np.ceil((1 - alpha) * (n + 1)) / size)
    position = np.concatenate((lo_q, hi_q)) * np.tile(size - 1, 2)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.tile(size - 1, 2))
    a, b = _kept_values(pool, kept, np.concatenate((below, above)))
    t = position - below
    # numpy's lerp, which is exact at both ends.
    value = np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)
    rows = pool.shape[0]
    empty = n == 0
    return (np.where(empty, -np.inf, value[:rows]), np.where(empty, np.inf, value[rows:]))


def _kept_values(pool: np.ndarray, kept: np.ndarray,
                 k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The k-th kept value of each row, for `k` holding a whole number of entries per
    row in row order, returned split in two halves (the lower and the upper neighbours
    of the quantile positions).

    The k-th kept value sits where the running count of kept values first reaches
    k + 1: one search over all rows at once, each row's counts offset by more than any
    count so that the concatenation stays sorted."""
    rows, width = pool.shape
    offset = np.arange(rows) * (width + 1)
    flat = (np.cumsum(kept, axis=1) + offset[:, None]).ravel()
    row = np.tile(np.arange(rows), k.size // rows)
    at = np.searchsorted(flat, k + 1 + offset[row]) - row * width
    values = pool[row, np.minimum(at, width - 1)]
    half = values.size // 2
    return values[:half], values[half:]
