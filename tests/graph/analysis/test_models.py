"""Candidate models, the blend of the best and the vectorised backtest functions, each
against a plain reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from graph.analysis import backtest, ensemble, features, models, regression, series

HOUR = 3600.0
T0 = 1_699_833_600.0  # 2023-11-13 00:00 UTC, a Monday


def frame_of(z: np.ndarray, horizon: int = 24) -> features.Frame:
    s = series.from_samples(T0 + HOUR * np.arange(z.size), np.nan_to_num(z), step=HOUR)
    return features.make_frame(s.replace(values=z), z, horizon, day=24, week=168)


def weekly(weeks: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(weeks * 168)
    shape = np.log(1.2 + np.sin(2 * np.pi * hours / 24)) + np.where(
        (hours // 24) % 7 >= 5, -0.5, 0.0)
    return 5.0 + shape + 0.05 * rng.standard_normal(hours.size)


def all_models(frame: features.Frame) -> list[models.Model]:
    out: list[models.Model] = [
        models.Naive(), models.Drift(window=48), models.Drift(window=400),
        models.SeasonalNaive(168), models.SeasonalMean(168, 2),
        models.LevelledSeasonal(168, 3, 24), models.LevelledSeasonal(24, 3, 6)]
    for kind in ("ridge", "gbm"):
        lag = regression.LagRegression(kind, 2, name=kind)
        lag.fit(frame, frame.n - 30, 24)
        out.append(lag)
    return out


def test_predict_many_is_predict_for_each_origin() -> None:
    z = weekly(5)
    z[300:330] = np.nan
    frame = frame_of(z)
    origins = np.array([400, 401, 500, 700, 800])
    for model in all_models(frame):
        many = model.predict_many(frame, origins, 24)
        one = np.vstack([model.predict(frame, int(o), 24) for o in origins])
        assert np.allclose(many, one, rtol=0, atol=1e-12), model.name


def test_levelled_seasonal_carries_todays_level_forward() -> None:
    z = weekly(4)
    z[-30:] += np.log(1.4)  # since yesterday the load is 40 % up
    frame = frame_of(z)
    model = models.LevelledSeasonal(168, 3, 24)
    forecast = model.predict(frame, frame.n - 1, 24)
    plain = models.SeasonalMean(168, 3).predict(frame, frame.n - 1, 24)
    assert float(np.mean(forecast - plain)) == pytest.approx(np.log(1.4), abs=0.03)


def test_levelled_seasonal_skips_a_season_it_cannot_level() -> None:
    z = weekly(4)
    z[-168 - 24:-168] = np.nan  # a week ago the exporter was down all day
    z[-2 * 168 - 8:-2 * 168] = 0.0  # two weeks ago it came back reporting near zero
    frame = frame_of(z)
    forecast = models.LevelledSeasonal(168, 3, 24).predict(frame, frame.n - 1, 24)
    healthy = weekly(4)[-3 * 168:-3 * 168 + 24]
    assert np.max(np.abs(forecast - healthy)) < 0.3


def test_numpy_ridge_matches_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 12))
    X[:, 11] = (X[:, 10] > 0).astype(float)
    y = X @ rng.standard_normal(12) + 3.0 + 0.1 * rng.standard_normal(500)
    ours = regression.RidgeFit.fit(X, y, alpha=1.0)
    theirs = Ridge(alpha=1.0).fit(X, y)
    assert np.allclose(ours.coef, theirs.coef_, atol=1e-9)
    assert ours.intercept == pytest.approx(float(theirs.intercept_), abs=1e-9)
    assert np.allclose(ours.predict(X), theirs.predict(X), atol=1e-9)


def reference_offsets(residuals: np.ndarray, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """The interval offsets one step at a time, with numpy's quantile."""
    horizon = residuals.shape[1]
    alpha = (1.0 - interval) / 2.0
    reach = max(1, horizon // 8)
    lower, upper = np.empty(horizon), np.empty(horizon)
    for h in range(horizon):
        pool = residuals[:, max(0, h - reach):h + reach + 1].ravel()
        pool = pool[~np.isnan(pool)]
        n = pool.size
        if n == 0:
            lower[h], upper[h] = -np.inf, np.inf
            continue
        lo_q = max(0.0, np.floor(alpha * (n + 1)) / n - 1e-12)
        hi_q = min(1.0, np.ceil((1 - alpha) * (n + 1)) / n)
        lower[h], upper[h] = np.quantile(pool, lo_q), np.quantile(pool, hi_q)
    return (np.minimum.accumulate(np.minimum(lower, 0.0)),
            np.maximum.accumulate(np.maximum(upper, 0.0)))


def reference_coverage(residuals: np.ndarray, interval: float) -> float:
    inside = total = 0
    for w in range(residuals.shape[0]):
        lo, hi = reference_offsets(np.delete(residuals, w, axis=0), interval)
        r = residuals[w]
        ok = ~np.isnan(r)
        inside += int(np.count_nonzero((r[ok] >= lo[ok]) & (r[ok] <= hi[ok])))
        total += int(np.count_nonzero(ok))
    return inside / total


@pytest.mark.parametrize(("windows", "horizon", "missing"),
                         [(10, 24, 0.0), (10, 168, 0.1), (3, 7, 0.3), (2, 1, 0.0)])
def test_intervals_equal_the_step_by_step_definition(windows: int, horizon: int,
                                                     missing: float) -> None:
    rng = np.random.default_rng(windows * horizon)
    residuals = np.round(rng.standard_normal((windows, horizon)), 1)  # with ties
    residuals[rng.random(residuals.shape) < missing] = np.nan
    for interval in (0.5, 0.9):
        lo, hi = backtest.interval_offsets(residuals, interval)
        ref_lo, ref_hi = reference_offsets(residuals, interval)
        assert np.array_equal(lo, ref_lo) and np.array_equal(hi, ref_hi)
        assert backtest.loo_coverage(residuals, interval) == reference_coverage(residuals,
                                                                                interval)


def run(name: str, error: float, seed: int) -> backtest.Run:
    rng = np.random.default_rng(seed)
    actual = rng.standard_normal((4, 6))
    return backtest.Run(name, actual + error * rng.standard_normal((4, 6)), actual)


def test_blend_weights_the_best_and_leaves_out_the_far_worse() -> None:
    runs = {"a": run("a", 0.5, 1), "b": run("b", 0.2, 2), "c": run("c", 0.25, 3),
            "d": run("d", 3.0, 4)}
    scores = {name: {"mase": float(np.mean(np.abs(r.residuals))), "smape": 0.0}
              for name, r in runs.items()}
    blend = ensemble.choose(runs, scores)
    assert blend.members[0] == "b" and "d" not in blend.members
    assert sum(blend.weights) == pytest.approx(1.0)
    assert list(blend.weights) == sorted(blend.weights, reverse=True)
    expected = sum(w * runs[m].predicted for m, w in zip(blend.members, blend.weights,
                                                         strict=True))
    assert np.allclose(blend.run.predicted, expected)
    single = ensemble.choose(runs, scores, max_members=1)
    assert single.members == ("b",) and single.weights == (1.0,)
    assert single.name == "b"


def test_blend_without_a_mase_scale_ranks_by_smape_and_keeps_the_perfect() -> None:
    # A perfectly periodic series has no seasonal error to scale MASE by.
    runs = {"naive": run("naive", 0.5, 1), "seasonal": run("seasonal", 0.0, 2),
            "levelled": run("levelled", 0.0, 3)}
    nan = float("nan")
    scores = {"naive": {"mase": nan, "smape": 30.0}, "seasonal": {"mase": nan, "smape": 0.0},
              "levelled": {"mase": nan, "smape": 0.0}}
    blend = ensemble.choose(runs, scores)
    assert blend.members == ("seasonal", "levelled")
    assert blend.weights == pytest.approx((0.5, 0.5))


def test_numpy_ridge_refuses_an_empty_training_set() -> None:
    with pytest.raises(ValueError, match="no training rows"):
        regression.RidgeFit.fit(np.zeros((0, 3)), np.zeros(0))
