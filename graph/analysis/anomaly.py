"""Streaming anomaly detection: a deviation larger than any seen recently.

Each new value is compared with three predictions made from the past only: the median
of the recent values, the median of the same time on the last days, and of the same
time in the last weeks. The prediction that has been most accurate lately speaks. Its
residual, and the mean of its last few residuals (a level shift or a stall moves that
mean before any single point looks odd), are the two deviation channels.

The score of a channel is its deviation divided by the largest deviation the same
predictor made in the recent past (or a share of its largest ever, slowly forgotten):
above 1 means "bigger than anything lately". Dividing by the series' own record makes
scores comparable across series of any scale and noise, so one threshold serves them
all. Once a score fires, only a larger one fires again within the cooldown: an
incident alerts once.

`Detector.update` is the streaming form; `score` and `detect` run it over a series, so
batch and streaming agree exactly.
"""

from __future__ import annotations

import collections
import dataclasses
import math

import numpy as np

from graph.analysis import series as series_mod

__all__ = ["DEFAULT_THRESHOLD", "AnomalyWindow", "Detector", "detect", "score"]

# Tuned on NAB (standard profile, all 58 series): there it raised about one alert per
# 1,700 points outside the labelled anomalies.
DEFAULT_THRESHOLD = 1.08
MAX_SCORE = 10.0
# Timestamp diffs averaged before the step (and with it the daily period) is trusted.
STEP_SAMPLES = 16
MIN_SEASON_POINTS = 24
# Residuals behind the "typical residual" that sizes a deviation for anomaly windows.
TYPICAL_WINDOW = 300


@dataclasses.dataclass(frozen=True)
class AnomalyWindow:
    """Consecutive anomalous points, from the alert to the last point still deviating."""

    start: float
    end: float
    peak: float
    """Timestamp of the highest score."""
    score: float
    direction: str
    """"up" or "down": the observed value against the expected one at the alert."""
    observed: float
    expected: float


class _Channel:
    """Recent maximum (monotonic queue, O(1) per point) and slowly forgotten record of
    one deviation measure."""

    def __init__(self, memory: int, decay: float) -> None:
        self.memory = memory
        self.decay = decay
        self.count = 0
        self.record = 0.0
        self._maxima: collections.deque[tuple[int, float]] = collections.deque()

    def ratio(self, value: float, share: float, warmup: int) -> float:
        if self.count < warmup:
            return 0.0
        denom = max(self._maxima[0][1], share * self.record)
        if denom > 0:
            return min(value / denom, MAX_SCORE)
        return MAX_SCORE if value > 0 else 0.0

    def push(self, value: float) -> None:
        while self._maxima and self._maxima[-1][1] <= value:
            self._maxima.pop()
        self._maxima.append((self.count, value))
        if self._maxima[0][0] <= self.count - self.memory:
            self._maxima.popleft()
        self.count += 1
        self.record = max(self.record * self.decay, value)


class _Track:
    """One predictor's running error and deviation history: a residual is judged
    against the record of the predictor that made it, so the large misses of a
    predictor that has since been replaced do not mask later anomalies."""

    def __init__(self, memory: int, decay: float, sustained: int) -> None:
        self.error: float | None = None
        self.residuals: collections.deque[float] = collections.deque(maxlen=sustained)
        self.point = _Channel(memory, decay)
        self.mean = _Channel(memory, decay)
        self.typical: collections.deque[float] = collections.deque(maxlen=TYPICAL_WINDOW)

    def observe(self, residual: float, alpha: float, share: float, warmup: int,
                measure: bool) -> tuple[float, float]:
        """Score of this residual and (when `measure`) its size in typical residuals;
        updates the state."""
        self.residuals.append(residual)
        point = abs(residual)
        mean = abs(sum(self.residuals) / len(self.residuals))
        raw = max(self.point.ratio(point, share, warmup), self.mean.ratio(mean, share, warmup))
        deviation = 0.0
        if measure:
            typical = float(np.median(self.typical)) if self.typical else 0.0
            deviation = point / typical if typical > 0 else (0.0 if point == 0 else math.inf)
        self.point.push(point)
        self.mean.push(mean)
        self.typical.append(point)
        self.error = point if self.error is None else self.error + alpha * (point - self.error)
        return raw, deviation


class Detector:
    """Streaming detector; feed points in time order with `update`.

    `step` (seconds) is inferred from the first timestamps when not given; daily and
    weekly predictions need at least 24 points a day. Irregular timestamps are fine:
    seasonal lags are looked up by time, not by position.

    Options (in points unless said otherwise; the defaults were chosen on NAB):
    `local_window` values behind the local median; `seasons` days (and weeks) behind
    the seasonal medians; `memory` points whose largest deviation a new one must beat;
    `memory_share` of the all-time record (forgotten with `half_life`) it must beat as
    well, so a long-quiet series does not alert on its first ordinary wiggle;
    `sustained` residuals averaged by the level channel; `cooldown` points in which only
    a higher score fires again; `warmup` points a predictor must have made before its
    deviations are scored.
    """

    def __init__(self, *, step: float | None = None, utc_offset: float = 0.0,
                 local_window: int = 200, seasons: int = 3, memory: int = 1000,
                 memory_share: float = 0.8, half_life: float = 10_000.0,
                 sustained: int = 12, cooldown: int = 100, warmup: int = 50) -> None:
        self.step = step
        self.utc_offset = utc_offset
        self.seasons = seasons
        self.memory_share = memory_share
        self.warmup = min(warmup, memory)
        self._local: collections.deque[float] = collections.deque(maxlen=local_window)
        self._diffs: list[float] = []
        self._last_time: float | None = None
        self._slots: dict[int, float] = {}
        self._slot_order: collections.deque[int] = collections.deque()
        decay = 0.5 ** (1.0 / half_life)
        self._tracks = [_Track(memory, decay, sustained) for _ in range(3)]
        self._scores: collections.deque[float] = collections.deque(maxlen=cooldown)
        self.expected = math.nan
        """Prediction used for the last value."""
        self.deviation = 0.0
        """Last residual in units of the recent typical (median) absolute residual."""

    def update(self, value: float, timestamp: float) -> float:
        """Score of a new point (0 for a missing value, which leaves the state as is)."""
        if math.isnan(value):
            return 0.0
        self._learn_step(timestamp)
        predictions = self._predict(timestamp)
        usable = [i for i, p in enumerate(predictions) if p is not None]
        raw = 0.0
        self.expected, self.deviation = math.nan, 0.0
        if usable:
            # The predictor with the lowest running error before this point speaks.
            best = min(usable, key=lambda i: (self._tracks[i].error is None,
                                              self._tracks[i].error or 0.0, i))
            alpha = 1.0 / (self._period() or 100)
            for i in usable:
                predicted = float(predictions[i])  # type: ignore[arg-type]
                score, deviation = self._tracks[i].observe(
                    value - predicted, alpha, self.memory_share, self.warmup, i == best)
                if i == best:
                    raw, self.expected, self.deviation = score, predicted, deviation
        self._remember(value, timestamp)
        fired = raw if not self._scores or raw > max(self._scores) else 0.0
        self._scores.append(raw)
        return fired

    def _learn_step(self, timestamp: float) -> None:
        if self._last_time is not None and self.step is None:
            diff = timestamp - self._last_time
            if diff > 0:
                self._diffs.append(diff)
            if len(self._diffs) >= STEP_SAMPLES:
                self.step = float(np.median(self._diffs))
        self._last_time = timestamp

    def _period(self) -> int | None:
        if self.step is None:
            return None
        points = round(series_mod.DAY / self.step)
        return points if points >= MIN_SEASON_POINTS else None

    def _slot(self, timestamp: float) -> int:
        return round((timestamp + self.utc_offset) / (self.step or 1.0))

    def _predict(self, timestamp: float) -> list[float | None]:
        local = float(np.median(self._local)) if len(self._local) >= 5 else None
        out: list[float | None] = [local, None, None]
        period = self._period()
        if period is not None:
            slot = self._slot(timestamp)
            for k, lag in ((1, period), (2, 7 * period)):
                seen = [self._slots.get(slot - j * lag) for j in range(1, self.seasons + 1)]
                got = [v for v in seen if v is not None]
                if len(got) == self.seasons:
                    out[k] = float(np.median(got))
        return out

    def _remember(self, value: float, timestamp: float) -> None:
        self._local.append(value)
        period = self._period()
        if period is None:
            return
        slot = self._slot(timestamp)
        if slot not in self._slots:
            self._slot_order.append(slot)
        self._slots[slot] = value
        horizon = slot - 7 * period * self.seasons
        while self._slot_order and self._slot_order[0] < horizon:
            self._slots.pop(self._slot_order.popleft(), None)


def score(series: series_mod.Series, **options: float) -> np.ndarray:
    """Scores of every point, as the streaming detector gives them (0 where missing)."""
    detector = Detector(step=series.step, utc_offset=series.utc_offset or 0.0,
                        **options)  # type: ignore[arg-type]
    return np.array([detector.update(float(v), float(t))
                     for t, v in zip(series.timestamps, series.values, strict=True)])


def detect(series: series_mod.Series, threshold: float = DEFAULT_THRESHOLD, *,
           extend_deviation: float = 3.0, **options: float) -> list[AnomalyWindow]:
    """Anomaly windows: each starts at a score at or above `threshold` and lasts while
    the residual stays `extend_deviation` typical residuals away."""
    detector = Detector(step=series.step, utc_offset=series.utc_offset or 0.0,
                        **options)  # type: ignore[arg-type]
    windows: list[AnomalyWindow] = []
    current: dict[str, float] | None = None
    for t, v in zip(series.timestamps, series.values, strict=True):
        s = detector.update(float(v), float(t))
        if math.isnan(v):
            continue
        if s >= threshold:
            if current is None:
                current = {"start": float(t), "end": float(t), "peak": float(t), "score": s,
                           "observed": float(v), "expected": detector.expected}
            else:
                current["end"] = float(t)
                if s > current["score"]:
                    current["peak"], current["score"] = float(t), s
        elif current is not None:
            if detector.deviation >= extend_deviation:
                current["end"] = float(t)
            else:
                windows.append(_window(current))
                current = None
    if current is not None:
        windows.append(_window(current))
    return windows


def _window(w: dict[str, float]) -> AnomalyWindow:
    direction = "up" if w["observed"] >= w["expected"] or math.isnan(w["expected"]) else "down"
    return AnomalyWindow(w["start"], w["end"], w["peak"], w["score"], direction,
                         w["observed"], w["expected"])
