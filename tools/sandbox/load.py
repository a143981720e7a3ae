"""Request load over time: daily and weekly seasonality with smooth deterministic noise.

The rate has a closed-form integral, so a counter's value at any instant is exact and
the same whether it is computed for the backfilled history or for a live scrape: the two
never disagree where one takes over from the other.
"""

from __future__ import annotations

import math

from tools.sandbox import ids

__all__ = ["LoadCurve"]

DAY = 86400.0
_WEEKEND = 0.7  # Saturday and Sunday carry 70 % of a weekday's traffic
_A1, _A2 = 0.45, 0.1  # daily wave (peak mid-afternoon UTC) and its second harmonic
_PEAK_H, _SECOND_H = 14.0, 10.0
# (period in seconds, amplitude as a share of the base rate): smooth wobble, at most
# (sum of amplitudes) * pi of the base rate, far below the quietest hour.
_OCTAVES = ((1800.0, 0.05), (240.0, 0.015))


def _day_weight(day: int) -> float:
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    return _WEEKEND if weekday >= 5 else 1.0


def _weight_before(day: int) -> float:
    """Sum of day weights for all days before `day` (since the epoch)."""
    weeks, rest = divmod(day, 7)
    total = weeks * (5 + 2 * _WEEKEND)
    for k in range(weeks * 7, weeks * 7 + rest):
        total += _day_weight(k)
    return total


def _daily(x: float) -> float:
    """The daily shape at `x` seconds after midnight UTC (mean 1 over a day)."""
    h = x / 3600.0
    return (1 + _A1 * math.cos(2 * math.pi * (h - _PEAK_H) / 24)
            + _A2 * math.cos(4 * math.pi * (h - _SECOND_H) / 24))


def _daily_integral(x: float) -> float:
    """Integral of `_daily` from midnight to `x` seconds after it."""
    h = x / 3600.0

    def primitive(hour: float) -> float:
        return (hour * 3600.0
                + _A1 * DAY / (2 * math.pi) * math.sin(2 * math.pi * (hour - _PEAK_H) / 24)
                + _A2 * DAY / (4 * math.pi) * math.sin(4 * math.pi * (hour - _SECOND_H) / 24))
    return primitive(h) - primitive(0.0)


class LoadCurve:
    """Requests per second of one workload; `integral` counts requests since `anchor`."""

    def __init__(self, base: float, seed: str, anchor: float) -> None:
        self.base = base
        self._seeds = [ids.digest("load", seed, period) for period, _ in _OCTAVES]
        self.anchor = anchor
        self._offset = self._raw(anchor)

    def _season(self, t: float) -> float:
        day = math.floor(t / DAY)
        return DAY * _weight_before(day) + _day_weight(day) * _daily_integral(t - day * DAY)

    def _noise(self, t: float) -> float:
        return sum(amp * period * ids.smooth_noise(seed, t / period)
                   for (period, amp), seed in zip(_OCTAVES, self._seeds, strict=True))

    def _raw(self, t: float) -> float:
        return self.base * (self._season(t) + self._noise(t))

    def integral(self, t: float) -> float:
        return self._raw(t) - self._offset

    def rate(self, t: float) -> float:
        day = math.floor(t / DAY)
        value = _day_weight(day) * _daily(t - day * DAY)
        for (period, amp), seed in zip(_OCTAVES, self._seeds, strict=True):
            x = t / period
            i = math.floor(x)
            slope = (ids.noise(seed, i + 1) - ids.noise(seed, i)) * 0.5 * math.pi * math.sin(
                math.pi * (x - i))
            value += amp * slope
        return self.base * value
