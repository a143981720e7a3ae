"""Fleet forecasting benchmark: how long a week-ahead forecast of many services takes.

Usage: python bench/forecast_batch_bench.py [--batch 100] [--weeks 4] [--horizon 168]
                                            [--full]

Each service is a synthetic hourly request rate with the shapes real services show: a
daily wave and a quieter weekend of its own size, multiplicative noise, some with
growth, scrape gaps, a short outage of zeros, a deploy that moved the level, or low
counts. Each has `--weeks` weeks of history and one more week held out. The series are
seeded, so every run forecasts the same fleet.

Reports, for `forecast_many` in fast mode (its default) and, with `--full`, for the
full candidate set: wall and CPU time for the whole fleet, and the week-ahead sMAPE
against the held-out week next to the seasonal-naive (168 h) baseline's.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from graph.analysis import backtest, errors, forecast, series

HOUR = 3600.0
WEEK_HOURS = 168
# 2024-01-01 00:00 UTC, a Monday.
T0 = 1_704_067_200.0


def service(seed: int, weeks: int, horizon: int) -> tuple[series.Series, np.ndarray]:
    """History of `weeks` weeks and the `horizon` hours after it."""
    rng = np.random.default_rng(seed)
    hours = np.arange(weeks * WEEK_HOURS + horizon)
    hour_of_day = hours % 24
    weekday = (hours // 24) % 7
    peak = rng.uniform(11, 17)
    daily = 1 + rng.uniform(0.3, 0.8) * np.cos(2 * np.pi * (hour_of_day - peak) / 24)
    weekly = np.where(weekday >= 5, rng.uniform(0.4, 0.95), 1.0)
    growth = 1 + rng.uniform(-0.05, 0.3) * hours / hours.size
    level = 10 ** rng.uniform(0, 4)
    values = level * daily * weekly * growth * np.exp(rng.normal(0, rng.uniform(0.03, 0.2),
                                                                 hours.size))
    kind = seed % 5
    history = weeks * WEEK_HOURS
    if kind == 1:  # scrape gaps
        values[rng.choice(history, size=history // 50, replace=False)] = np.nan
    elif kind == 2:  # an outage: the service was down for a few hours
        start = int(rng.integers(history // 3, history - 48))
        values[start:start + int(rng.integers(3, 12))] = 0.0
    elif kind == 3:  # a deploy moved the load
        values[int(rng.integers(history // 2, history - 72)):] *= rng.uniform(1.3, 1.8)
    elif kind == 4:  # low counts: a quiet internal service
        values = rng.poisson(values / level * rng.uniform(2, 8)).astype(np.float64)
    s = series.from_samples(T0 + HOUR * hours[:history], values[:history], step=HOUR,
                            name=f"svc-{seed}")
    return s, values[history:]


def run(fleet: list[tuple[series.Series, np.ndarray]], horizon: int, *, fast: bool) -> None:
    histories = [s for s, _ in fleet]
    wall, cpu = time.perf_counter(), time.process_time()
    results = forecast.forecast_many(histories, horizon, fast=fast)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    failed = [r for r in results if isinstance(r, errors.BadInput)]
    actual, predicted, naive = [], [], []
    models: collections.Counter[str] = collections.Counter()
    for (s, truth), result in zip(fleet, results, strict=True):
        if isinstance(result, errors.BadInput):
            continue
        actual.append(truth)
        predicted.append(result.values)
        naive.append(np.resize(s.values[-WEEK_HOURS:], horizon))
        models[str(len(result.model.split("+")))] += 1
    a = np.concatenate(actual)
    smape = backtest.metrics(a, np.concatenate(predicted), 1.0)["smape"]
    base = backtest.metrics(a, np.concatenate(naive), 1.0)["smape"]
    label = "fast" if fast else "full"
    print(f"  {label}: {wall:6.2f} s wall, {cpu:6.2f} s CPU for {len(fleet)} services "
          f"({1000 * wall / len(fleet):.0f} ms each); week-ahead sMAPE {smape:.2f} % "
          f"(seasonal naive 168 h {base:.2f} %); {len(failed)} not forecast; "
          f"blend sizes {dict(sorted(models.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="services in the fleet")
    parser.add_argument("--weeks", type=int, default=4, help="weeks of hourly history")
    parser.add_argument("--horizon", type=int, default=WEEK_HOURS, help="hours ahead")
    parser.add_argument("--full", action="store_true",
                        help="also time the full candidate set (gradient boosting too)")
    args = parser.parse_args()
    fleet = [service(seed, args.weeks, args.horizon) for seed in range(args.batch)]
    # Imports and first-call set-up are paid once per process, not per fleet.
    forecast.forecast(fleet[0][0], args.horizon, fast=False)
    print(f"{args.batch} services x {args.horizon} h, {args.weeks} weeks of hourly "
          "history each")
    run(fleet, args.horizon, fast=True)
    if args.full:
        run(fleet, args.horizon, fast=False)


if __name__ == "__main__":
    main()
