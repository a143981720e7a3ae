"""Day-ahead forecasting benchmark of opsbot's forecaster.

Usage: python bench/forecast_bench.py [--models auto,ridge,...] [--fast]

Protocol (see the benchmark data's README): each test day is forecast, 24 hourly
points, from all the data before it.
- NASA HTTP requests per hour: the last 7 days, i.e. the last 168 hours in 7 blocks of
  24 (the file ends at noon, so each block runs noon to noon; this is the split under
  which seasonal naive scores the README's 24.6 % / 30.9 % sMAPE).
- NYC taxi passengers (30-minute counts summed to hours): the days 29 September to
  26 October 2014, midnight to midnight.
Metrics over all test points: sMAPE and MAPE (percent), MASE with a 168-hour season
(the mean over test days of the day's mean absolute error divided by the in-sample
weekly-naive error of its history; outage zeros excluded), and the share of actuals
inside the 90 % prediction interval. `--fast` also scores "auto" with the fast candidate
set that `forecast_many` uses by default.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench import _data
from graph.analysis import backtest, errors, forecast, series

HORIZON = 24
WEEK_HOURS = 168
MODELS = ("seasonal_naive_1d", "seasonal_naive_1w", "seasonal_mean_2w", "seasonal_mean_4w",
          "levelled_2w", "levelled_3w", "levelled_4w", "ridge", "gbm", "auto")
README_BASELINES = {
    "nasa": "README: seasonal naive 168 h sMAPE 24.6 %, seasonal naive 24 h sMAPE 30.9 %",
    "nyc_taxi": "README: seasonal naive 168 h MAPE 6.0 %, mean of previous 4 weeks MAPE 5.2 %",
}


def nasa(root: pathlib.Path) -> tuple[series.Series, list[int]]:
    s = series.read_csv(root / "forecast" / "nasa_http_hourly.csv")
    n = len(s)
    return s, [n - WEEK_HOURS + HORIZON * d for d in range(7)]


def nyc_taxi(root: pathlib.Path) -> tuple[series.Series, list[int]]:
    raw = series.read_csv(root / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv")
    s = series.resample(raw, 3600.0, "sum")
    first = _data.parse_time("2014-09-29T00:00:00")
    start = int(np.flatnonzero(s.timestamps == first)[0])
    return s, [start + HORIZON * d for d in range(28)]


@dataclasses.dataclass
class Outcome:
    smape: float
    mape: float
    mase: float
    coverage: float
    per_forecast: float
    chosen: collections.Counter[str]


def evaluate(s: series.Series, origins: list[int], model: str, *,
             fast: bool = False) -> Outcome | str:
    """The scores over all test days, or why the model could not make them all (a
    forced model the history cannot serve, e.g. four weeks of lags after a break)."""
    actual, predicted, inside, mase = [], [], [], []
    chosen: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    missing = 0
    for start in origins:
        history = s.window(0, start)
        try:
            result = forecast.forecast(history, HORIZON, model=model, fast=fast)
        except errors.BadInput:
            missing += 1
            continue
        truth = s.values[start:start + HORIZON]
        actual.append(truth)
        predicted.append(result.values)
        inside.append((truth >= result.lower) & (truth <= result.upper))
        masked, _ = series.mask_outages(history)
        scale = backtest.seasonal_scale(masked.values, WEEK_HOURS)
        mase.append(float(np.mean(np.abs(truth - result.values))) / scale)
        chosen[result.model] += 1
    if missing:
        return f"not available on {missing} of {len(origins)} days"
    elapsed = time.perf_counter() - started
    scores = backtest.metrics(np.concatenate(actual), np.concatenate(predicted), 1.0)
    return Outcome(scores["smape"], scores["mape"], float(np.mean(mase)),
                   float(np.mean(np.concatenate(inside))), elapsed / len(origins), chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated model names ('auto' chooses per series)")
    parser.add_argument("--fast", action="store_true",
                        help="also score 'auto' with the fast candidate set")
    args = parser.parse_args()
    root = _data.data_dir()
    models = [m for m in args.models.split(",") if m]
    for name, loader in (("nasa", nasa), ("nyc_taxi", nyc_taxi)):
        s, origins = loader(root)
        print(f"\n{name}: {len(origins)} day-ahead forecasts of {HORIZON} h, first from "
              f"{s.describe_time(float(s.timestamps[origins[0]]))}")
        print(f"  {README_BASELINES[name]}")
        print(f"  {'model':20s} {'sMAPE %':>8s} {'MAPE %':>8s} {'MASE':>6s} "
              f"{'90% cov':>8s} {'s/fcst':>7s}  chosen")
        runs = [(model, False) for model in models]
        if args.fast and "auto" in models:
            runs.append(("auto", True))
        for model, fast in runs:
            r = evaluate(s, origins, model, fast=fast)
            label = model + (" (fast)" if fast else "")
            if isinstance(r, str):
                print(f"  {label:20s} {r}")
                continue
            picks = ", ".join(f"{k} x{v}" for k, v in r.chosen.most_common(3)
                              ) if model == "auto" else ""
            if model == "auto" and len(r.chosen) > 3:
                picks += f", ... ({len(r.chosen)} blends)"
            print(f"  {label:20s} {r.smape:8.2f} {r.mape:8.2f} {r.mase:6.3f} "
                  f"{r.coverage:8.2f} {r.per_forecast:7.2f}  {picks}")


if __name__ == "__main__":
    main()
