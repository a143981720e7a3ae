"""Regime changes in forecast histories: a changed daily pattern, seasonal medians."""

from __future__ import annotations

import numpy as np

from graph.analysis import changepoint, features, forecast, regime, series

HOUR = 3600.0
T0 = 1_699_833_600.0  # 2023-11-13 00:00 UTC, a Monday


def load(hours: np.ndarray, peak: float, seed: int = 3, noise: float = 0.05) -> np.ndarray:
    """Requests per hour peaking at `peak` o'clock, quieter weekends, 5 % noise."""
    rng = np.random.default_rng(seed)
    daily = 1.0 + 0.7 * np.cos(2 * np.pi * (hours % 24 - peak) / 24)
    weekly = np.where((hours // 24) % 7 >= 5, 0.6, 1.0)
    return 1000.0 * daily * weekly * np.exp(noise * rng.standard_normal(hours.size))


def moved(weeks: int, change_at: int) -> np.ndarray:
    """Traffic whose peak moves from 14:00 to 02:00 at hour `change_at` (a time zone
    mix-up in the exporter, a client base moving continents)."""
    hours = np.arange(weeks * 168)
    return np.where(hours < change_at, load(hours, 14.0), load(hours, 2.0, seed=4))


def detect(values: np.ndarray) -> tuple[int, str] | None:
    s = series.from_samples(T0 + HOUR * np.arange(values.size), values)
    z = np.log(values)
    return regime.shape_break(s, z, day=24, week=168)


def test_a_lasting_new_daily_pattern_is_found_near_where_it_began() -> None:
    change_at = 4 * 168 + 10
    found = detect(moved(6, change_at))
    assert found is not None
    index, note = found
    assert abs(index - change_at) <= 6
    assert note.startswith("daily pattern changed")


def test_the_new_pattern_must_repeat_before_it_counts() -> None:
    change_at = 4 * 168 + 10
    # Five days after the change nothing repeats yet: it could still be an incident.
    assert detect(moved(6, change_at)[:change_at + 5 * 24]) is None


def test_a_holiday_or_an_incident_is_not_a_new_pattern() -> None:
    hours = np.arange(6 * 168)
    values = load(hours, 14.0)
    values[3 * 168 + 24:3 * 168 + 48] = load(np.arange(24), 2.0)  # one odd day
    values[4 * 168:4 * 168 + 24] *= 0.3  # a holiday
    assert detect(values) is None
    assert detect(load(hours, 14.0)) is None


def test_the_forecast_drops_history_from_before_the_change() -> None:
    weeks, change_at = 7, 3 * 168 + 10
    values = moved(weeks, change_at)
    s = series.from_samples(T0 + HOUR * np.arange(values.size), values)
    result = forecast.forecast(s, 24)
    assert any(note.startswith("daily pattern changed") for note in result.notes)
    assert len(result.history) <= values.size - change_at + 6
    expected = load(np.arange(weeks * 168, weeks * 168 + 24), 2.0, noise=0.0)
    mape = float(np.mean(np.abs(result.values - expected) / expected))
    assert mape < 0.06, (result.model, mape)


def test_deseasonalise_subtracts_the_median_of_each_phase() -> None:
    rng = np.random.default_rng(5)
    values = rng.standard_normal(3 * 168 + 30)
    values[rng.random(values.size) < 0.2] = np.nan
    values[7::168] = np.nan  # a phase never observed stays missing
    s = series.from_samples(T0 + HOUR * np.arange(values.size), np.nan_to_num(values),
                            step=HOUR).replace(values=values)
    phase = np.arange(values.size) % 168
    expected = values.copy()
    for p in range(168):
        members = values[phase == p]
        members = members[~np.isnan(members)]
        if members.size:
            expected[phase == p] -= np.median(members)
    assert np.array_equal(changepoint.deseasonalise(s), expected, equal_nan=True)


def test_causal_fill_uses_only_the_past() -> None:
    z = np.array([1.0, 2.0, np.nan, 4.0, np.nan, np.nan])
    assert features.causal_fill(z, [2]).tolist() == [1.0, 2.0, 1.0, 4.0, 1.0, 4.0]
