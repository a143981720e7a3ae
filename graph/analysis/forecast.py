"""Forecast a metric series with prediction intervals, choosing the model per series.

The pipeline: outage zeros become gaps, the history decides which seasons can be used,
history from before a lasting change of the daily pattern is dropped, a level shift (a
deploy that moved the load) re-levels the older history, candidate models are
backtested on the series' own recent past, the best few are refitted on all of it and
blended with weights from their backtest errors, and the interval at each step comes
from the blend's backtest errors at that step.
Everything is deterministic: the same history gives the same forecast.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graph.analysis import backtest, ensemble, errors, features, regime
from graph.analysis import candidates as candidate_set
from graph.analysis import series as series_mod

__all__ = [
    "MAX_HORIZON",
    "MIN_FORECAST_POINTS",
    "SEASONALITIES",
    "ForecastPoint",
    "ForecastResult",
    "forecast",
    "forecast_many",
]

SEASONALITIES = ("auto", "none", "daily", "weekly")
MAX_HORIZON = 10_000
MIN_FORECAST_POINTS = 6
# Older history rarely helps a week-ahead forecast and costs time on fine steps.
MAX_HISTORY_POINTS = 20_000
MAX_HISTORY_WEEKS = 26
# How much history each season needs before it is worth modelling.
MIN_DAYS_FOR_DAILY = 2
MIN_DAYS_FOR_WEEKLY = 16


@dataclasses.dataclass(frozen=True)
class ForecastPoint:
    timestamp: float
    value: float
    lower: float
    upper: float


@dataclasses.dataclass(frozen=True)
class ForecastResult:
    """A forecast, how it was made and how well that method did on this series."""

    timestamps: np.ndarray
    values: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    model: str
    """The model, or the blend's members best first joined by "+"."""
    interval: float
    backtest: dict[str, Any]
    """Backtest of the forecast (the blend when `model` names several): sMAPE, MAPE
    (percent), MASE, interval coverage, the windows used, the blend's weights, and the
    same metrics for every candidate."""
    history: series_mod.Series
    """The history as modelled: outages masked, anything before a lasting change of
    the daily pattern dropped, before any re-levelling."""
    notes: tuple[str, ...]

    def points(self) -> list[ForecastPoint]:
        return [ForecastPoint(float(t), float(v), float(lo), float(hi)) for t, v, lo, hi
                in zip(self.timestamps, self.values, self.lower, self.upper, strict=True)]

    def peak(self) -> ForecastPoint:
        """The point with the highest expected value (first one on ties)."""
        i = int(np.argmax(self.values))
        return ForecastPoint(float(self.timestamps[i]), float(self.values[i]),
                             float(self.lower[i]), float(self.upper[i]))

    def history_used(self) -> dict[str, Any]:
        h = self.history
        return {
            "points": len(h),
            "observed": h.observed,
            "step_seconds": h.step,
            "span_hours": round(h.span / 3600.0, 2),
            "start": h.format_time(float(h.timestamps[0])),
            "end": h.format_time(float(h.timestamps[-1])),
        }

    def to_json(self) -> dict[str, Any]:
        """The CLI document: forecast points, model, backtest, history used, notes."""
        fmt = self.history.format_time
        return {
            "forecast": [{"timestamp": fmt(p.timestamp), "value": _num(p.value),
                          "lower": _num(p.lower), "upper": _num(p.upper)}
                         for p in self.points()],
            "model": self.model,
            "interval": self.interval,
            "backtest": _clean(self.backtest),
            "history": self.history_used(),
            "notes": list(self.notes),
        }


def forecast(series: series_mod.Series, horizon: int, *, seasonality: str = "auto",
             interval: float = 0.9, model: str = "auto", fast: bool = False) -> ForecastResult:
    """Forecast the `horizon` points after the series, with a central `interval`.

    Values are median forecasts (the models work in log space for load-like series);
    `lower` and `upper` bound the central `interval` of outcomes, taken from the
    forecast's own backtest errors at each step.

    `model` "auto" backtests every candidate the history allows and blends the best
    few (see `ensemble`); a candidate's name forces it. `fast` leaves out the costliest
    candidate (gradient boosting), for fleets of series; see `forecast_many`.
    """
    _check_args(horizon, seasonality, interval)
    notes: list[str] = list(series.notes)
    history = _trim(series, notes)
    history, outages = series_mod.mask_outages(history)
    for o in outages:
        notes.append(f"outage {history.describe_time(o.start)} .. "
                     f"{history.describe_time(o.end)} ({o.points} zero points) treated "
                     "as missing")
    if history.observed < MIN_FORECAST_POINTS:
        raise errors.BadInput(f"too few points to forecast: {history.observed} observed, "
                              f"need at least {MIN_FORECAST_POINTS}")
    day, week = _seasons(history, seasonality, notes)
    transform = features.Transform.fit(history.values)
    z = transform.forward(history.values)
    found = regime.shape_break(history, z, day=day, week=week)
    if found is not None:
        # The seasons stay as the whole history set them, even when what is left is
        # shorter than a weekly season needs: the new pattern was seen to repeat a week on.
        cut, break_note = found
        history, z = history.window(cut), z[cut:]
        notes.append(break_note)
    z, shift_note = regime.relevel(history, z, day=day, week=week, log=transform.log)
    if shift_note:
        notes.append(shift_note)
    frame = features.make_frame(history, z, horizon, day=day, week=week)
    n = frame.n
    scale = backtest.seasonal_scale(history.values, frame.season or 1)
    plan, candidates = candidate_set.plan(frame, horizon, fast=fast,
                                          only=None if model == "auto" else model)
    if plan is None:
        notes.append(f"short history ({history.observed} points): too short to backtest, "
                     "naive forecast with rough intervals")
        return _fallback(history, frame, transform, horizon, interval, notes)
    if not candidates:
        raise errors.BadInput(f"model {model!r} is not available for this history")
    if plan.horizon < horizon:
        notes.append(f"backtest covers {plan.horizon} of {horizon} steps; intervals "
                     "beyond are widened with the square root of the step")
    runs: dict[str, backtest.Run] = {}
    for candidate in candidates:
        try:
            runs[candidate.name] = backtest.run(frame, candidate, plan)
        except ValueError:
            continue  # not enough rows to train once the windows are set aside
    if not runs:
        raise errors.BadInput(f"model {model!r} has too little history to train on")
    scores = {name: _score(run, transform, scale) for name, run in runs.items()}
    blend = ensemble.choose(runs, scores, max_members=ensemble.MAX_MEMBERS
                            if model == "auto" else 1)
    if len(blend.members) > 1:
        scores[blend.name] = _score(blend.run, transform, scale)
    z_parts = []
    for name in blend.members:
        chosen = next(m for m in candidates if m.name == name)
        chosen.fit(frame, n, horizon)
        z_parts.append(chosen.predict(frame, n - 1, horizon))
    z_hat = np.tensordot(np.array(blend.weights), np.array(z_parts), axes=1)
    best = blend.name
    residuals = blend.run.residuals
    lo_off, hi_off = backtest.interval_offsets(residuals, interval)
    lo_off, hi_off = _extend(lo_off, horizon), _extend(hi_off, horizon)
    report = {
        **scores[best],
        "coverage": backtest.loo_coverage(residuals, interval),
        "interval": interval,
        "windows": int(plan.origins.size),
        "horizon": plan.horizon,
        "stride": plan.stride,
        "origins": [history.format_time(float(history.timestamps[o])) for o in
                    (plan.origins[0], plan.origins[-1])],
        "mase_period": int(frame.season or 1),
        "selected_by": "mase",
        "weights": dict(zip(blend.members, blend.weights, strict=True)),
        "candidates": scores,
    }
    return ForecastResult(
        timestamps=history.future(horizon),
        values=transform.inverse(z_hat),
        lower=transform.inverse(z_hat + lo_off),
        upper=transform.inverse(z_hat + hi_off),
        model=best, interval=interval, backtest=report, history=history,
        notes=tuple(notes),
    )


def forecast_many(series_list: Sequence[series_mod.Series], horizon: int, *,
                  seasonality: str = "auto", interval: float = 0.9, model: str = "auto",
                  fast: bool = True) -> list[ForecastResult | errors.BadInput]:
    """`forecast` for each series, in order; a series that cannot be forecast gives its
    `BadInput` in place of a result, so one bad service does not sink a fleet's digest.

    Fast by default: a hundred week-ahead forecasts on hourly data take a couple of
    seconds on one core, at a day-ahead accuracy close to the full candidate set (see
    bench/forecast_batch_bench.py). Each result is exactly `forecast` of that series
    with the same arguments.
    """
    _check_args(horizon, seasonality, interval)
    results: list[ForecastResult | errors.BadInput] = []
    for one in series_list:
        try:
            results.append(forecast(one, horizon, seasonality=seasonality,
                                    interval=interval, model=model, fast=fast))
        except errors.BadInput as exc:
            results.append(exc)
    return results


def _check_args(horizon: int, seasonality: str, interval: float) -> None:
    if not isinstance(horizon, int) or isinstance(horizon, bool) or not (
            1 <= horizon <= MAX_HORIZON):
        raise errors.BadInput(f"horizon must be an integer from 1 to {MAX_HORIZON}, "
                              f"got {horizon!r}")
    if seasonality not in SEASONALITIES:
        raise errors.BadInput(f"seasonality must be one of {', '.join(SEASONALITIES)}, "
                              f"got {seasonality!r}")
    if not 0 < interval < 1:
        raise errors.BadInput(f"interval must be between 0 and 1, got {interval!r}")


def _trim(series: series_mod.Series, notes: list[str]) -> series_mod.Series:
    """Drop leading gaps and history beyond what the models use."""
    observed = np.flatnonzero(~np.isnan(series.values))
    if observed.size == 0:
        raise errors.BadInput("the series has no observed values")
    keep = min(MAX_HISTORY_POINTS,
               int(MAX_HISTORY_WEEKS * series_mod.WEEK / series.step))
    start = max(int(observed[0]), len(series) - keep)
    if start > observed[0]:
        notes.append(f"history limited to the last {len(series) - start} points "
                     f"({(len(series) - start) * series.step / series_mod.DAY:.1f} days)")
    return series.window(start)


def _seasons(history: series_mod.Series, seasonality: str,
             notes: list[str]) -> tuple[int | None, int | None]:
    days = history.span / series_mod.DAY
    day = history.period(series_mod.DAY) if seasonality in ("auto", "daily", "weekly") else None
    week = history.period(series_mod.WEEK) if seasonality in ("auto", "weekly") else None
    if day is not None and day < 4:
        day = None  # fewer than 4 points a day cannot show a daily shape
    if week is not None and days < MIN_DAYS_FOR_WEEKLY:
        notes.append(f"short history ({days:.1f} days): weekly seasonality off")
        week = None
    if day is not None and days < MIN_DAYS_FOR_DAILY:
        notes.append(f"short history ({days * 24:.0f} h): daily seasonality off")
        day = None
    return day, week


def _score(run: backtest.Run, transform: features.Transform, scale: float) -> dict[str, float]:
    return backtest.metrics(transform.inverse(run.actual), transform.inverse(run.predicted),
                            scale)


def _extend(offsets: np.ndarray, horizon: int) -> np.ndarray:
    """Offsets for steps past the backtest horizon grow like a random walk's spread."""
    if offsets.size >= horizon:
        return offsets[:horizon]
    steps = np.arange(offsets.size + 1, horizon + 1)
    tail = offsets[-1] * np.sqrt(steps / offsets.size)
    return np.concatenate((offsets, tail))


def _fallback(history: series_mod.Series, frame: features.Frame,
              transform: features.Transform, horizon: int, interval: float,
              notes: list[str]) -> ForecastResult:
    """Too short to backtest: hold the last value; the interval spreads with the empirical
    h-step changes seen in the history."""
    zf = frame.filled
    z_hat = np.full(horizon, zf[-1])
    lo = np.empty(horizon)
    hi = np.empty(horizon)
    alpha = (1 - interval) / 2
    for h in range(1, horizon + 1):
        k = min(h, zf.size - 1)
        changes = zf[k:] - zf[:-k]
        grow = math.sqrt(h / k)
        lo[h - 1] = min(0.0, float(np.quantile(changes, alpha))) * grow
        hi[h - 1] = max(0.0, float(np.quantile(changes, 1 - alpha))) * grow
    nan = float("nan")
    report = {"smape": nan, "mape": nan, "mase": nan, "coverage": nan, "interval": interval,
              "windows": 0, "horizon": 0, "candidates": {}}
    return ForecastResult(
        timestamps=history.future(horizon), values=transform.inverse(z_hat),
        lower=transform.inverse(z_hat + lo), upper=transform.inverse(z_hat + hi),
        model="naive", interval=interval, backtest=report, history=history,
        notes=tuple(notes))


def _num(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 6)


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing metrics become null, floats are rounded for reading."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return _num(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value
