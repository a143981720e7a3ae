"""Capacity advice, request sizing and time to exhaustion on constructed inputs."""

from __future__ import annotations

import numpy as np
import pytest

from graph.analysis import capacity, errors, exhaustion, forecast, series

HOUR = 3600.0
DAY = 86_400.0
GIB = 2.0**30
T0 = 1_699_833_600.0  # 2023-11-13 00:00 UTC


def _forecast(values: list[float], spread: float = 0.1) -> forecast.ForecastResult:
    v = np.array(values)
    history = series.from_samples(T0 + HOUR * np.arange(4), [1.0, 1.0, 1.0, 1.0])
    return forecast.ForecastResult(
        timestamps=history.future(v.size), values=v, lower=v * (1 - spread),
        upper=v * (1 + spread), model="test", interval=0.9, backtest={}, history=history,
        notes=())


def test_replicas_for_the_peak_and_hpa_max() -> None:
    fc = _forecast([400.0, 900.0, 1400.0, 1000.0])
    advice = capacity.advise_capacity(fc, per_replica_capacity=100.0, current_replicas=10,
                                      hpa_max=20, target_utilisation=0.7, lead_time=900)
    # 1400 / (100 * 0.7) = 20 replicas; the upper bound 1540 needs 22.
    assert advice.replicas_needed == 20
    assert advice.replicas_safe == 22
    assert advice.peak_time == fc.timestamps[2]
    assert advice.hpa_max_ok is False
    # 10 replicas carry 700 at 70 %: the second step (900) is the first above it.
    assert advice.scale_by == fc.timestamps[1] - 900
    assert advice.utilisation_at_peak == pytest.approx(1.4)
    assert any("HPA max 20 is too low: raise it to at least 22" in line
               for line in advice.lines)


def test_current_replicas_suffice() -> None:
    fc = _forecast([100.0, 120.0, 110.0])
    advice = capacity.advise_capacity(fc, per_replica_capacity=100.0, current_replicas=6,
                                      hpa_max=10)
    assert advice.scale_by is None
    assert advice.replicas_safe == 2
    assert advice.hpa_max_ok is True
    assert any("6 replicas cover the peak; 2 would do" in line for line in advice.lines)
    with pytest.raises(errors.BadInput):
        capacity.advise_capacity(fc, per_replica_capacity=0, current_replicas=1)


def test_requests_from_usage() -> None:
    usage = series.from_samples(T0 + 60 * np.arange(100), np.linspace(0.1, 0.5, 100))
    cpu = capacity.recommend_request(usage, resource="cpu", current_request=0.2)
    assert cpu.recommended == pytest.approx(np.quantile(np.linspace(0.1, 0.5, 100), 0.95))
    assert "200m ->" in cpu.lines[0]
    mem_usage = usage.replace(values=usage.values * GIB)
    mem = capacity.recommend_request(mem_usage, resource="memory", limit=0.5 * GIB)
    assert mem.recommended > 0.5 * GIB
    assert any("above the memory limit" in line for line in mem.lines)


def _sawtooth_ramp() -> tuple[series.Series, float]:
    """Memory rising 1 GiB a day from 2 GiB with a 300 MiB GC sawtooth every 2 hours;
    returns the series and the analytic time (s) for the tooth tips to reach 8 GiB."""
    step = 300.0
    t = T0 + step * np.arange(4 * 288)
    elapsed = t - t[0]
    tooth = 0.3 * GIB * (elapsed % 7200) / 7200
    values = 2 * GIB + GIB * elapsed / DAY + tooth
    tip = 0.3 * GIB * (7200 - step) / 7200
    seconds = (8 * GIB - tip - (2 * GIB + GIB * elapsed[-1] / DAY)) / GIB * DAY
    return series.from_samples(t, values), seconds


def test_exhaustion_on_a_ramp_with_sawtooth() -> None:
    s, expected = _sawtooth_ramp()
    result = capacity.time_to_exhaustion(s, 8 * GIB)
    assert result.seconds is not None
    assert result.seconds == pytest.approx(expected, rel=0.05)
    assert result.slope_per_hour == pytest.approx(GIB / 24, rel=0.05)
    text = result.describe("memory of payments")
    assert text.startswith("memory of payments reaches its limit in about")


def test_exhaustion_with_restarts_uses_the_rising_peaks() -> None:
    step = 300.0
    t = T0 + step * np.arange(6 * 288)
    elapsed = t - t[0]
    # A leak reset by restarts every 12 h; each cycle peaks 100 MiB higher than the last.
    cycle = elapsed // (12 * HOUR)
    values = GIB + 0.5 * GIB * (elapsed % (12 * HOUR)) / (12 * HOUR) + 0.1 * GIB * cycle
    result = exhaustion.time_to_exhaustion(series.from_samples(t, values), 4 * GIB)
    assert result.method == "envelope"
    # Peaks rise 0.1 GiB per 12 h from about 2.5 GiB: some 7 more days to 4 GiB.
    assert result.seconds is not None
    assert 6 * DAY < result.seconds < 8 * DAY


def test_disk_fill_message_and_no_growth() -> None:
    t = T0 + HOUR * np.arange(24 * 7)
    rng = np.random.default_rng(3)
    used = 40.0 + 5.0 * (t - t[0]) / DAY + rng.normal(0, 0.2, t.size)
    pvc = exhaustion.time_to_exhaustion(series.from_samples(t, used), 100.0)
    assert pvc.seconds == pytest.approx((100 - 75) / 5 * DAY, rel=0.1)
    assert pvc.describe("PVC data-pg", fills=True).startswith("PVC data-pg fills in about")
    flat = exhaustion.time_to_exhaustion(
        series.from_samples(t, 40.0 + rng.normal(0, 0.2, t.size)), 100.0)
    assert flat.seconds is None
    assert flat.reason == "not growing"
    full = exhaustion.time_to_exhaustion(series.from_samples(t, used), 50.0)
    assert full.seconds == 0.0


def test_human_durations() -> None:
    assert exhaustion.human_duration(2.5 * DAY) == "2.5 days"
    assert exhaustion.human_duration(6 * DAY) == "6.0 days"
    assert exhaustion.human_duration(5 * HOUR) == "5.0 hours"
    assert exhaustion.human_duration(600) == "10 minutes"
