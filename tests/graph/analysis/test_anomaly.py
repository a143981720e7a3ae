"""Anomaly detector and change points on series with injected, known events."""

from __future__ import annotations

import numpy as np
import pytest

from graph.analysis import anomaly, changepoint, errors, series

STEP = 300.0
T0 = 1_699_833_600.0  # 2023-11-13 00:00 UTC
DAY_POINTS = 288


def _load(days: int, seed: int = 5) -> np.ndarray:
    """5-minute QPS: a daily wave with 3 % noise."""
    i = np.arange(days * DAY_POINTS)
    rng = np.random.default_rng(seed)
    wave = 500.0 + 200.0 * np.sin(2 * np.pi * i / DAY_POINTS)
    return wave * (1.0 + 0.03 * rng.standard_normal(i.size))


def _series(values: np.ndarray) -> series.Series:
    return series.from_samples(T0 + STEP * np.arange(values.size), values)


def test_finds_an_injected_spike() -> None:
    values = _load(6)
    at = 5 * DAY_POINTS + 100
    values[at] *= 3.0
    windows = anomaly.detect(_series(values))
    spike_time = T0 + STEP * at
    hits = [w for w in windows if w.start <= spike_time <= w.end]
    assert hits and hits[0].direction == "up"
    # Outside the warm-up the clean days raise few alerts.
    others = [w for w in windows if w.start > T0 + 4 * 86_400 and w not in hits]
    assert len(others) <= 2


def test_finds_a_level_shift_and_the_change_point() -> None:
    values = _load(6)
    at = 5 * DAY_POINTS
    values[at:] *= 0.5  # half the traffic is gone
    s = _series(values)
    windows = anomaly.detect(s)
    shift_time = T0 + STEP * at
    assert any(shift_time <= w.start <= shift_time + 12 * STEP and w.direction == "down"
               for w in windows)
    change = changepoint.mean_shift(s)
    assert change is not None
    assert abs(change.index - at) <= 3
    assert change.shift < 0
    assert change.relative is not None and change.relative < -0.3


def test_streaming_updates_equal_batch_scores() -> None:
    values = _load(3)
    values[400] = np.nan
    s = _series(values)
    batch = anomaly.score(s)
    detector = anomaly.Detector(step=s.step)
    streamed = np.array([detector.update(float(v), float(t))
                         for t, v in zip(s.timestamps, s.values, strict=True)])
    assert np.array_equal(batch, streamed)
    assert batch[400] == 0.0


def test_step_is_inferred_when_streaming() -> None:
    values = _load(3)
    with_step = anomaly.Detector(step=STEP)
    inferred = anomaly.Detector()
    a = [with_step.update(float(v), T0 + STEP * i) for i, v in enumerate(values)]
    b = [inferred.update(float(v), T0 + STEP * i) for i, v in enumerate(values)]
    assert inferred.step == STEP
    assert a[DAY_POINTS * 2:] == b[DAY_POINTS * 2:]


def test_shift_at_a_rollout_time() -> None:
    rng = np.random.default_rng(1)
    errors_per_s = np.r_[rng.normal(2.0, 0.2, 60), rng.normal(6.0, 0.3, 60)]
    s = series.from_samples(T0 + 60.0 * np.arange(120), errors_per_s)
    rollout = T0 + 60.0 * 60
    shift = changepoint.shift_at(s, rollout, window=30)
    assert shift.after == pytest.approx(6.0, abs=0.3)
    assert shift.before == pytest.approx(2.0, abs=0.3)
    assert shift.effect > 5
    with pytest.raises(errors.BadInput):
        changepoint.shift_at(s, T0 - 600)


def test_no_change_point_in_noise() -> None:
    rng = np.random.default_rng(2)
    s = series.from_samples(T0 + 60.0 * np.arange(500), rng.normal(10.0, 1.0, 500))
    assert changepoint.mean_shift(s, seasonal=False) is None
