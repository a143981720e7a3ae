"""Forecasts on synthetic series built from known functions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graph.analysis import backtest, ensemble, errors, forecast, series

HOUR = 3600.0
# 2023-11-13 00:00 UTC, a Monday: weekday arithmetic below relies on it.
T0 = 1_699_833_600.0


def truth(hours: np.ndarray) -> np.ndarray:
    """Requests per hour: a daily wave peaking at 15:00, weekends at 60 %."""
    hour_of_day = hours % 24
    weekday = (hours // 24) % 7
    daily = 1.0 + 0.6 * np.sin(2 * np.pi * (hour_of_day - 9) / 24)
    return 1000.0 * daily * np.where(weekday >= 5, 0.6, 1.0)


def noisy(hours: np.ndarray, seed: int = 7, sd: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return truth(hours) * (1.0 + sd * rng.standard_normal(hours.size))


def make(values: np.ndarray, start_hour: int = 0) -> series.Series:
    stamps = T0 + HOUR * (start_hour + np.arange(values.size))
    return series.from_samples(stamps, values)


def test_seasonal_forecast_is_accurate_against_the_known_function() -> None:
    hours = np.arange(6 * 168)
    result = forecast.forecast(make(noisy(hours)), 48)
    future = np.arange(hours.size, hours.size + 48)
    expected = truth(future)
    mape = float(np.mean(np.abs(result.values - expected) / expected))
    assert mape < 0.05, (result.model, mape)
    # The weekly-naive baseline copies last week's noise; the chosen model must beat it.
    naive = noisy(hours)[-168:][:48]
    assert mape < float(np.mean(np.abs(naive - expected) / expected))
    assert result.backtest["mase"] < 1.0
    assert result.backtest["windows"] >= 3


def test_intervals_cover_about_their_nominal_share() -> None:
    hours = np.arange(8 * 168)
    values = noisy(hours, seed=11, sd=0.08)
    inside: list[bool] = []
    for cut in (6 * 168 + 5, 7 * 168 - 24, 7 * 168 + 40):
        result = forecast.forecast(make(values[:cut]), 24)
        actual = values[cut:cut + 24]
        inside.extend((actual >= result.lower) & (actual <= result.upper))
        assert np.all(result.lower <= result.values)
        assert np.all(result.values <= result.upper)
        assert 0.0 < result.backtest["coverage"] <= 1.0
    coverage = float(np.mean(inside))
    assert 0.75 <= coverage <= 1.0, coverage


def test_same_input_same_output() -> None:
    values = noisy(np.arange(5 * 168))
    first = forecast.forecast(make(values), 24).to_json()
    second = forecast.forecast(make(values.copy()), 24).to_json()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_json_contract() -> None:
    text = "\n".join(f"{int(T0 + i * HOUR)},{v:.3f}"
                     for i, v in enumerate(noisy(np.arange(21 * 24))))
    doc = forecast.forecast(series.parse_csv(text), 6).to_json()
    json.dumps(doc, allow_nan=False)
    assert {"forecast", "model", "backtest"} <= doc.keys()
    assert len(doc["forecast"]) == 6
    point = doc["forecast"][0]
    assert set(point) == {"timestamp", "value", "lower", "upper"}
    assert point["timestamp"] == int(T0 + 21 * 24 * HOUR)  # epoch in, epoch out
    for key in ("smape", "mape", "mase", "coverage", "windows", "candidates"):
        assert key in doc["backtest"]
    assert doc["history"]["points"] == 21 * 24


def test_outage_zeros_are_gaps_not_load() -> None:
    hours = np.arange(5 * 168)
    values = noisy(hours)
    values[-60:-24] = 0.0  # the exporter was down for 36 hours, ending a day ago
    result = forecast.forecast(make(values), 24)
    assert any(note.startswith("outage") for note in result.notes)
    expected = truth(np.arange(hours.size, hours.size + 24))
    assert float(np.mean(np.abs(result.values - expected) / expected)) < 0.1


def test_short_history_falls_back_and_says_so() -> None:
    result = forecast.forecast(make(noisy(np.arange(5 * 24))), 12)
    assert any("weekly seasonality off" in note for note in result.notes)
    assert result.history_used()["span_hours"] == 120
    tiny = forecast.forecast(make(np.array([5.0, 6.0, 5.5, 6.2, 5.8, 6.1, 6.0])), 3)
    assert tiny.model == "naive"
    assert any("too short to backtest" in note for note in tiny.notes)
    assert np.all(tiny.lower <= tiny.values) and np.all(tiny.values <= tiny.upper)


def test_level_shift_after_a_deploy_moves_the_forecast() -> None:
    hours = np.arange(5 * 168)
    values = noisy(hours)
    values[-4 * 24:] *= 1.5  # a deploy four days ago made every request fan out
    result = forecast.forecast(make(values), 24)
    assert any(note.startswith("level shift") for note in result.notes)
    expected = 1.5 * truth(np.arange(hours.size, hours.size + 24))
    assert float(np.mean(np.abs(result.values - expected) / expected)) < 0.1


def test_bad_arguments() -> None:
    s = make(noisy(np.arange(48)))
    with pytest.raises(errors.BadInput, match="horizon"):
        forecast.forecast(s, 0)
    with pytest.raises(errors.BadInput, match="seasonality"):
        forecast.forecast(s, 3, seasonality="yearly")
    with pytest.raises(errors.BadInput, match="interval"):
        forecast.forecast(s, 3, interval=1.5)
    with pytest.raises(errors.BadInput, match="not available"):
        forecast.forecast(s, 3, model="gbm")


def test_forced_model_and_no_seasonality() -> None:
    values = noisy(np.arange(4 * 168))
    forced = forecast.forecast(make(values), 24, model="seasonal_naive_1w")
    assert forced.model == "seasonal_naive_1w"
    assert np.allclose(forced.values, values[-168:-144])
    flat = forecast.forecast(make(values), 24, seasonality="none")
    assert flat.model in {"naive", "drift", "naive+drift", "drift+naive"}


def test_metrics_match_their_definitions() -> None:
    actual = np.array([100.0, 200.0])
    predicted = np.array([110.0, 180.0])
    m = backtest.metrics(actual, predicted, scale=10.0)
    assert m["mape"] == pytest.approx(100 * (0.1 + 0.1) / 2)
    assert m["smape"] == pytest.approx(100 * (20 / 210 + 40 / 380) / 2)
    assert m["mase"] == pytest.approx(1.5)


def test_forecast_many_is_forecast_of_each_series() -> None:
    fleet = [make(noisy(np.arange(4 * 168), seed=seed)) for seed in (1, 2, 3)]
    fleet.insert(1, make(np.array([1.0, np.nan, np.nan, 2.0, np.nan, 3.0])))
    results = forecast.forecast_many(fleet, 48)
    assert isinstance(results[1], errors.BadInput)
    for s, result in zip(fleet, results, strict=True):
        if isinstance(result, errors.BadInput):
            continue
        alone = forecast.forecast(s, 48, fast=True)
        assert json.dumps(result.to_json(), sort_keys=True) == json.dumps(
            alone.to_json(), sort_keys=True)
    full = forecast.forecast_many(fleet[:1], 48, fast=False)[0]
    assert not isinstance(full, errors.BadInput)
    assert full.to_json() == forecast.forecast(fleet[0], 48).to_json()
    with pytest.raises(errors.BadInput, match="horizon"):
        forecast.forecast_many(fleet, 0)


def test_fast_mode_leaves_out_gradient_boosting() -> None:
    s = make(noisy(np.arange(6 * 168)))
    assert "gbm" in forecast.forecast(s, 24).backtest["candidates"]
    fast = forecast.forecast(s, 24, fast=True)
    assert "gbm" not in fast.backtest["candidates"]
    assert "ridge" in fast.backtest["candidates"]


def test_auto_blends_the_best_candidates_by_their_backtest() -> None:
    result = forecast.forecast(make(noisy(np.arange(6 * 168))), 24)
    weights = result.backtest["weights"]
    assert "+".join(weights) == result.model
    assert sum(weights.values()) == pytest.approx(1.0)
    candidates = result.backtest["candidates"]
    best = min(candidates[name]["mase"] for name in weights)
    assert all(candidates[name]["mase"] <= ensemble.MAX_RATIO * best for name in weights)
    # The blend's own backtest is what the report and the intervals describe.
    assert result.backtest["mase"] == candidates[result.model]["mase"]


def test_a_forced_model_gets_the_windows_its_history_allows() -> None:
    # 33 days: four weeks of lags leave room for only a few windows, which the default
    # plan (windows from the first week on) would not give it.
    values = noisy(np.arange(33 * 24))
    result = forecast.forecast(make(values), 24, model="seasonal_mean_4w")
    assert result.model == "seasonal_mean_4w"
    assert 1 <= result.backtest["windows"] < 10
    week = 168
    expected = np.exp(np.mean([np.log(values[-week * k:][:24]) for k in range(1, 5)],
                              axis=0))
    assert np.allclose(result.values, expected, rtol=0.02)
