"""Regime changes in a forecast history, which the history before them must not drag
the forecast back across.

A level shift (a deploy, a migration or a new client moves the load to a new level):
rather than throwing the older history away (and with it the weekly shape), the part
before the shift is moved to the new level. Only a clear, abrupt, lasting shift
qualifies: gradual growth is a trend for the models, not a shift.

A shape break (the daily pattern itself changes for good: traffic moved to another time
zone, a batch job was rescheduled, a clock was reset): no shift repairs the old
history, so it is dropped. Only a break that lasts a week and then repeats qualifies: a
holiday changes one day, not the pattern.
"""

from __future__ import annotations

import math

import numpy as np

from graph.analysis import changepoint
from graph.analysis import series as series_mod

__all__ = ["relevel", "shape_break"]

# A shift must be at least this large (relative, in log space) and this many noise
# standard deviations to be acted on.
MIN_RELATIVE_SHIFT = 0.15
MIN_EFFECT = 3.0
# Share of the shift that must happen within a short window around the split: a step,
# not a ramp.
MIN_ABRUPTNESS = 0.7
# A day differs from the same day a week earlier by this share of the daily swing
# (absolute, and relative to the history's typical day) to count as a changed pattern;
# unrelated shapes differ by about 1.4 times it, a repeating pattern by a fraction.
MIN_BREAK_DISTANCE = 1.0
MIN_BREAK_RATIO = 2.5
# Share of the week after the break that must look changed, and of the time after that
# week (the new pattern repeating) that may.
MIN_CHANGED_SHARE = 0.8
MAX_REPEAT_CHANGED_SHARE = 0.25
# Days compared start on this grid (per day): finer places the break more exactly.
BREAK_STEPS_PER_DAY = 24


def relevel(history: series_mod.Series, z: np.ndarray, *, day: int | None,
            week: int | None, log: bool) -> tuple[np.ndarray, str | None]:
    """`z` with the part before a detected level shift moved to the new level, and a
    note for the report (None when nothing was done)."""
    season = day or week
    if season is None or z.size < 4 * season:
        return z, None
    min_size = max(season // 2, 6)
    zs = history.replace(values=z)
    shift = changepoint.mean_shift(zs, min_size=min_size, min_effect=MIN_EFFECT)
    if shift is None or not _large(shift, z, log) or not _abrupt(z, shift, zs, season):
        return z, None
    out = z.copy()
    out[:shift.index] += shift.shift
    change = (math.exp(shift.shift) - 1) * 100 if log else shift.shift
    unit = "%" if log else ""
    return out, (f"level shift at {history.describe_time(shift.timestamp)} "
                 f"({change:+.0f}{unit}): earlier history moved to the new level")


def _large(shift: changepoint.MeanShift, z: np.ndarray, log: bool) -> bool:
    if log:
        return abs(shift.shift) >= math.log1p(MIN_RELATIVE_SHIFT)
    typical = float(np.nanmedian(np.abs(z)))
    return typical > 0 and abs(shift.shift) >= MIN_RELATIVE_SHIFT * typical


def _abrupt(z: np.ndarray, shift: changepoint.MeanShift, zs: series_mod.Series,
            season: int) -> bool:
    """The level moves at the split and stays flat on both sides of it."""
    resid = changepoint.deseasonalise(zs)
    i = shift.index
    reach = max(3, season // 4)
    near = _median(resid[i:i + reach]) - _median(resid[max(0, i - reach):i])
    if not abs(near) >= MIN_ABRUPTNESS * abs(shift.shift):
        return False
    # Within each side, the first and second halves must agree: a ramp shows up as a
    # difference about half the size of the apparent shift.
    for part in (resid[:i], resid[i:]):
        half = part.size // 2
        drift = _median(part[half:]) - _median(part[:half])
        if abs(drift) > (1 - MIN_ABRUPTNESS) * abs(shift.shift):
            return False
    # Every season-long block must sit at its own side's level: a weekly pattern that
    # is not modelled looks like a shift until the next weekend returns to the old level.
    before, after = _median(resid[:i]), _median(resid[i:])
    for lo, hi, own, other in ((0, i, before, after), (i, resid.size, after, before)):
        for start in range(lo, hi - season + 1, season):
            block = _median(resid[start:start + season])
            if abs(block - other) < abs(block - own):
                return False
    return True


def _median(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else float("nan")


def shape_break(history: series_mod.Series, z: np.ndarray, *, day: int | None,
                week: int | None) -> tuple[int, str] | None:
    """The first index of a lasting new daily pattern, and a note for the report; None
    when the pattern has not changed, or has not yet repeated after a change.

    Every day-long window is compared, shape only (each window minus its own mean), with
    the window a week earlier. After a break, the week of windows whose week-earlier
    partner lies before it all differ; the windows after that week compare new with new
    and agree again.
    """
    if day is None or week is None or day < 4 or z.size < 2 * week + 3 * day:
        return None
    stride = max(1, day // BREAK_STEPS_PER_DAY)
    starts, dist = _week_over_week(z, day, week, stride)
    seen = ~np.isnan(dist)
    if np.count_nonzero(seen) < week // stride:
        return None
    limit = max(MIN_BREAK_DISTANCE, MIN_BREAK_RATIO * float(np.median(dist[seen])))
    changed = seen & (dist > limit)
    seen_cum = np.concatenate(([0], np.cumsum(seen)))
    changed_cum = np.concatenate(([0], np.cumsum(changed)))

    def share(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = seen_cum[hi] - seen_cum[lo]
        return (changed_cum[hi] - changed_cum[lo]) / np.maximum(count, 1), count

    # Candidate break positions p (index into starts): the break's week is the windows
    # [p, p + run), the repeat is everything from p + week on, the old pattern all
    # before p - day.
    run = (week - day) // stride + 1
    positions = np.arange(day // stride + 1, starts.size - week // stride - day // stride + 1)
    if positions.size == 0:
        return None
    during, during_n = share(positions, positions + run)
    after, after_n = share(positions + week // stride, np.full(positions.size, starts.size))
    before, before_n = share(np.zeros(positions.size, np.int64), positions - day // stride)
    ok = ((during >= MIN_CHANGED_SHARE) & (during_n >= run // 2)
          & (after <= MAX_REPEAT_CHANGED_SHARE) & (after_n >= day // stride)
          & (before <= MAX_REPEAT_CHANGED_SHARE) & (before_n >= 1))
    if not ok.any():
        return None
    # Near the true break a run of positions qualifies (windows straddling it are partly
    # changed); the middle of the run's best positions is the break. The latest counts.
    last = int(np.flatnonzero(ok)[-1])
    first = last
    while first > 0 and ok[first - 1]:
        first -= 1
    best = first + np.flatnonzero(during[first:last + 1] >= during[first:last + 1].max()
                                  - 1e-12)
    index = int(starts[positions[int(best[best.size // 2])]])
    when = history.describe_time(float(history.timestamps[index]))
    return index, f"daily pattern changed at {when}: history before it is not used"


def _week_over_week(z: np.ndarray, day: int, week: int,
                    stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Start of each day-long window from the second week on, and its shape distance
    to the window a week earlier in units of their mean swing (NaN when either is
    mostly missing or flat)."""
    starts = np.arange(week, z.size - day + 1, stride)
    idx = starts[:, None] + np.arange(day)
    now, then = z[idx], z[idx - week]
    both = ~np.isnan(now) & ~np.isnan(then)
    count = both.sum(axis=1)
    now = np.where(both, now, 0.0)
    then = np.where(both, then, 0.0)
    safe = np.maximum(count, 1)[:, None]
    now = np.where(both, now - now.sum(axis=1, keepdims=True) / safe, 0.0)
    then = np.where(both, then - then.sum(axis=1, keepdims=True) / safe, 0.0)
    swing = (np.abs(now).sum(axis=1) + np.abs(then).sum(axis=1)) / 2
    dist = np.abs(now - then).sum(axis=1) / np.where(swing > 0, swing, 1.0)
    return starts, np.where((count >= day // 2) & (swing > 0), dist, np.nan)
