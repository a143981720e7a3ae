"""Level shifts in a forecast history: a deploy, a migration or a new client moves the
load to a new level, and the history before it must not drag the forecast back.

Rather than throwing the older history away (and with it the weekly shape), the part
before the shift is moved to the new level. Only a clear, abrupt, lasting shift
qualifies: gradual growth is a trend for the models, not a shift.
"""

from __future__ import annotations

import math

import numpy as np

from graph.analysis import changepoint
from graph.analysis import series as series_mod

__all__ = ["relevel"]

# A shift must be at least this large (relative, in log space) and this many noise
# standard deviations to be acted on.
MIN_RELATIVE_SHIFT = 0.15
MIN_EFFECT = 3.0
# Share of the shift that must happen within a short window around the split: a step,
# not a ramp.
MIN_ABRUPTNESS = 0.7


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
