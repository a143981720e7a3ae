"""Which candidate models a history allows, and the backtest windows they compete on.

The pool grows with the seasons in use: flat and trend models always, seasonal naive
and means with a daily or weekly season, levelled seasonal models with a weekly one,
and lag regressions when there are enough training rows before the first window.
"""

from __future__ import annotations

from graph.analysis import backtest, features, models, regression

__all__ = ["MAX_LAG_WEEKS", "plan"]

MAX_LAG_WEEKS = 4


def plan(frame: features.Frame, horizon: int, *, fast: bool = False,
         only: str | None = None) -> tuple[backtest.Plan | None, list[models.Model]]:
    """Backtest windows and the candidates that have enough history before them.

    The windows start as early as the longest-season naive model allows (so the
    classic baseline is always among the candidates), or, when the history allows a full
    set of windows for them too, as early as the levelled seasonal models allow; models
    that need more history (several seasons, training rows) join only if it is there.
    `fast` leaves gradient boosting out: it costs more than all the others together.
    `only` names the one model wanted: its own needs alone place the windows, and the
    list is empty when the history cannot serve it.
    """
    n = frame.n
    pool: list[models.Model] = [
        models.Naive(),
        models.Drift(window=max(8, min(n, 4 * horizon, 2 * (frame.season or 0)))),
    ]
    if frame.day:
        pool.append(models.SeasonalNaive(frame.day, name="seasonal_naive_1d"))
    if frame.week:
        pool.append(models.SeasonalNaive(frame.week, name="seasonal_naive_1w"))
        pool += [models.SeasonalMean(frame.week, count, name=f"seasonal_mean_{count}w")
                 for count in (2, MAX_LAG_WEEKS)]
        pool += [models.LevelledSeasonal(frame.week, count, frame.day or 1,
                                         name=f"levelled_{count}w") for count in (2, 3, 4)]
    elif frame.day:
        # No levelled daily model: yesterday already carries the recent level, and a
        # level taken over part of a day mistakes the time of day for a level change.
        pool.append(models.SeasonalMean(frame.day, 3, name="seasonal_mean_3d"))
    stride = frame.day or max(1, horizon // 2)
    if only is not None:
        return _forced(frame, horizon, pool, only, stride)
    # The levelled models need a level window on top of one season; when the history
    # allows a full set of windows for them too, start there so that they compete.
    levelled = [m.min_origin(frame, horizon) for m in pool
                if isinstance(m, models.LevelledSeasonal)]
    if levelled:
        windows = backtest.plan_windows(n, horizon, min(levelled), stride)
        if windows is not None and windows.stride == stride:
            return windows, _candidates(frame, pool, windows, fast=fast)
    anchors = [p - 1 for p in (frame.week, frame.day) if p] + [pool[1].min_origin(frame, 1)]
    for anchor in anchors:
        windows = _windows(n, horizon, anchor, stride)
        if windows is not None:
            return windows, _candidates(frame, pool, windows, fast=fast)
    return None, []


def _forced(frame: features.Frame, horizon: int, pool: list[models.Model], name: str,
            stride: int) -> tuple[backtest.Plan | None, list[models.Model]]:
    """Windows for the one model `name`; lag regressions use the most seasons that
    leave room for them."""
    options: list[models.Model] = [m for m in pool if m.name == name]
    extra = 0
    if name in ("ridge", "gbm") and frame.season:
        options = [regression.LagRegression(name, weeks, name=name)
                   for weeks in range(MAX_LAG_WEEKS if frame.week else 3, 0, -1)]
        extra = regression.LagRegression(name, 1).min_train_origins
    for model in options:
        windows = _windows(frame.n, horizon, model.min_origin(frame, horizon) + extra, stride)
        if windows is not None and (model.min_origin(frame, windows.horizon) + extra
                                    <= windows.origins[0]):
            return windows, [model]
    return _windows(frame.n, horizon, pool[1].min_origin(frame, 1), stride), []


def _windows(n: int, horizon: int, anchor: int, stride: int) -> backtest.Plan | None:
    """Windows from `anchor` on, over a shorter horizon when the full one does not fit."""
    windows = backtest.plan_windows(n, horizon, anchor, stride)
    if windows is None:
        short = min(horizon, max(1, (n - 1 - anchor) // 2))
        windows = backtest.plan_windows(n, short, anchor, stride)
    return windows


def _candidates(frame: features.Frame, pool: list[models.Model], windows: backtest.Plan, *,
                fast: bool = False) -> list[models.Model]:
    """The pool's models that can forecast from the first window, and the lag
    regressions with the most seasons that have enough training rows before it."""
    start = int(windows.origins[0])
    chosen = [m for m in pool if m.min_origin(frame, windows.horizon) <= start]
    if frame.season:
        for weeks in range(MAX_LAG_WEEKS if frame.week else 3, 0, -1):
            ridge = regression.LagRegression("ridge", weeks, name="ridge")
            if ridge.min_origin(frame, windows.horizon) + ridge.min_train_origins <= start:
                chosen.append(ridge)
                if not fast:
                    chosen.append(regression.LagRegression("gbm", weeks, name="gbm"))
                break
    return chosen
