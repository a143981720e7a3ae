"""The incident window named in a question or an alert; the last hour by default."""

from __future__ import annotations

import re
from datetime import datetime

from graph.rca import collect

__all__ = ["window_from_text"]

_LAST = re.compile(r"(?:last|past|previous|in the)\s+(\d+(?:\.\d+)?)\s*"
                   r"(m|min|mins|minutes?|h|hrs?|hours?|d|days?)\b", re.I)
_LAST_ZH = re.compile(r"(?:最近|过去|近)\s*(\d+(?:\.\d+)?)\s*(分钟|小时|天)")
_UNIT = {"m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "h": 60, "hr": 60, "hrs": 60,
         "hour": 60, "hours": 60, "d": 1440, "day": 1440, "days": 1440,
         "分钟": 1, "小时": 60, "天": 1440}


def window_from_text(text: str, now: float, *, started_at: str = "") -> collect.Window:
    """`started_at` (an alert's startsAt) wins; then 'last 30 minutes'; else one hour."""
    if started_at:
        try:
            start = datetime.fromisoformat(started_at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            start = 0.0
        if 0 < start < now:
            # Some time before the alert fired shows what led up to it.
            minutes = max(30.0, (now - start) / 60 + 15)
            return collect.Window.ending(now, minutes=min(minutes, 24 * 60))
    match = _LAST.search(text) or _LAST_ZH.search(text)
    if match:
        unit = match.group(2).lower()
        minutes = float(match.group(1)) * _UNIT.get(unit, _UNIT.get(unit.rstrip("s"), 60))
        return collect.Window.ending(now, minutes=max(5.0, min(minutes, 7 * 1440)))
    return collect.Window.ending(now)
