"""A regularly sampled metric series: reading it, putting it on a grid, finding outages.

Every engine in this package works on a `Series`: epoch-second timestamps on a regular
grid and float values where NaN marks a missing sample. Prometheus range queries and the
CLI's CSV both end up here, so the checks (duplicates, irregular steps, too few points)
are done once and report the offending line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import pathlib
from typing import Literal

import numpy as np

from graph.analysis import errors

__all__ = [
    "DAY",
    "MIN_POINTS",
    "WEEK",
    "Outage",
    "Series",
    "find_outages",
    "from_samples",
    "mask_outages",
    "parse_csv",
    "read_csv",
    "resample",
]

DAY = 86_400.0
WEEK = 7 * DAY
MIN_POINTS = 3
# A sample may sit this fraction of a step off the grid (scrape jitter) and still count.
STEP_TOLERANCE = 0.1
# A grid larger than this is almost surely a wrong step or a stray timestamp, not data.
MAX_GRID = 2_000_000
MAX_REPORTED_ERRORS = 5
_MISSING = {"", "nan", "NaN", "NAN", "null", "None", "NA"}

TimeFormat = Literal["epoch", "iso"]
Aggregation = Literal["mean", "sum", "max", "min", "last"]


@dataclasses.dataclass(frozen=True, eq=False)
class Series:
    """Values on a regular time grid; NaN is a missing sample."""

    timestamps: np.ndarray
    """Epoch seconds (float64), strictly increasing by `step`."""
    values: np.ndarray
    """float64, same length as `timestamps`; NaN where nothing was observed."""
    step: float
    """Grid step in seconds."""
    utc_offset: float | None = None
    """Seconds east of UTC of the ISO 8601 input (its last row); None for epoch input or
    ISO input without an offset. Calendar features use local time, where load follows
    the working day."""
    time_format: TimeFormat = "epoch"
    """How the input wrote timestamps; outputs mirror it."""
    name: str = ""
    notes: tuple[str, ...] = ()
    """What was done to the input to put it on the grid (reported with a forecast)."""

    def __post_init__(self) -> None:
        ts = np.array(self.timestamps, dtype=np.float64)
        vs = np.array(self.values, dtype=np.float64)
        if ts.shape != vs.shape or ts.ndim != 1:
            raise errors.BadInput("timestamps and values must be 1-d arrays of one length")
        if not self.step > 0:
            raise errors.BadInput(f"step must be positive, got {self.step}")
        ts.setflags(write=False)
        vs.setflags(write=False)
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "values", vs)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def observed(self) -> int:
        """Number of non-missing samples."""
        return int(np.count_nonzero(~np.isnan(self.values)))

    @property
    def span(self) -> float:
        """Seconds covered, counting the last sample's step."""
        return float(len(self) * self.step)

    def period(self, seconds: float) -> int | None:
        """The number of grid points in a season of `seconds`, or None when the step is
        too coarse for that season to show."""
        points = round(seconds / self.step)
        return points if points >= 2 else None

    def local(self, timestamps: np.ndarray) -> np.ndarray:
        """Timestamps shifted to the wall clock of the input."""
        return np.asarray(timestamps, dtype=np.float64) + (self.utc_offset or 0.0)

    def future(self, horizon: int) -> np.ndarray:
        """The `horizon` grid timestamps after the last one."""
        last = self.timestamps[-1] if len(self) else 0.0
        return last + self.step * np.arange(1, horizon + 1, dtype=np.float64)

    def replace(self, **changes: object) -> Series:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def window(self, start: int, stop: int | None = None) -> Series:
        """The points [start, stop) as a series with the same metadata."""
        return self.replace(timestamps=self.timestamps[start:stop],
                            values=self.values[start:stop])

    def format_time(self, timestamp: float) -> str | float | int:
        """A timestamp written the way the input wrote them."""
        if self.time_format == "epoch":
            return int(timestamp) if float(timestamp).is_integer() else float(timestamp)
        if self.utc_offset is None:
            naive = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).replace(tzinfo=None)
            return naive.isoformat()
        tz = dt.timezone(dt.timedelta(seconds=self.utc_offset))
        return dt.datetime.fromtimestamp(timestamp, tz=tz).isoformat()

    def describe_time(self, timestamp: float) -> str:
        """A human timestamp in the input's wall clock, for notes and chat lines."""
        tz = dt.timezone(dt.timedelta(seconds=self.utc_offset or 0.0))
        moment = dt.datetime.fromtimestamp(timestamp, tz=tz)
        text = moment.strftime("%Y-%m-%d %H:%M")
        return text if self.utc_offset is not None else text + " UTC"


@dataclasses.dataclass(frozen=True)
class Outage:
    """A run of zeros inside non-zero load: the scraper or the service was down, the load
    did not vanish, so the points are treated as missing."""

    start: float
    end: float
    points: int


def from_samples(timestamps: np.ndarray | list[float], values: np.ndarray | list[float], *,
                 step: float | None = None, name: str = "", utc_offset: float | None = None,
                 time_format: TimeFormat = "epoch",
                 lines: np.ndarray | None = None, regularise: bool = False) -> Series:
    """Put samples on a regular grid, inferring the step when not given.

    Samples off the grid are an error, or with `regularise` are averaged into their
    nearest grid point, with a note saying how many moved.

    Missing grid points become NaN. Duplicates and samples off the grid are errors;
    `lines` (source line numbers) makes the message point at the row.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    vs = np.asarray(values, dtype=np.float64)
    if ts.shape != vs.shape or ts.ndim != 1:
        raise errors.BadInput("timestamps and values must be 1-d arrays of one length")
    where = np.asarray(lines) if lines is not None else np.arange(1, ts.size + 1)
    if not np.all(np.isfinite(ts)):
        raise errors.BadInput("timestamps must be finite numbers")
    order = np.argsort(ts, kind="stable")
    ts, vs, where = ts[order], vs[order], where[order]
    if np.count_nonzero(~np.isnan(vs)) < MIN_POINTS:
        raise errors.BadInput(f"too few points: {np.count_nonzero(~np.isnan(vs))} "
                              f"observed, need at least {MIN_POINTS}")
    diffs = np.diff(ts)
    dup = np.flatnonzero(diffs == 0)
    if dup.size:
        i = int(dup[0])
        raise errors.BadInput(f"duplicate timestamp {ts[i]:.0f} at lines {where[i]} "
                              f"and {where[i + 1]}")
    if step is None:
        step = float(np.median(diffs))
    elif not step > 0:
        raise errors.BadInput(f"step must be positive, got {step}")
    ratio = diffs / step
    k = np.rint(ratio)
    off = np.flatnonzero((k < 1) | (np.abs(ratio - k) > STEP_TOLERANCE))
    if off.size and regularise:
        return _regularised(ts, vs, float(step), name, utc_offset, time_format)
    if off.size:
        i = int(off[0])
        raise errors.BadInput(
            f"irregular step: the series steps by {step:g} s but line {where[i + 1]} is "
            f"{diffs[i]:g} s after line {where[i]} ({off.size} such gaps); resample first")
    index = np.concatenate(([0], np.cumsum(k))).astype(np.int64)
    size = int(index[-1]) + 1
    if size > MAX_GRID:
        raise errors.BadInput(f"the series would need {size} grid points at a {step:g} s "
                              f"step; more than {MAX_GRID}")
    grid = np.full(size, np.nan)
    grid[index] = vs
    stamps = ts[0] + step * np.arange(size, dtype=np.float64)
    return Series(stamps, grid, float(step), utc_offset, time_format, name)


def _regularised(ts: np.ndarray, vs: np.ndarray, step: float, name: str,
                 utc_offset: float | None, time_format: TimeFormat) -> Series:
    position = (ts - ts[0]) / step
    index = np.rint(position).astype(np.int64)
    moved = int(np.count_nonzero(np.abs(position - index) > STEP_TOLERANCE))
    size = int(index[-1]) + 1
    if size > MAX_GRID:
        raise errors.BadInput(f"the series would need {size} grid points at a {step:g} s "
                              f"step; more than {MAX_GRID}")
    sums = np.zeros(size)
    counts = np.zeros(size)
    ok = ~np.isnan(vs)
    np.add.at(sums, index[ok], vs[ok])
    np.add.at(counts, index[ok], 1)
    with np.errstate(invalid="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    stamps = ts[0] + step * np.arange(size, dtype=np.float64)
    note = (f"irregular step: {moved} sample(s) off the {step:g} s grid were moved to the "
            "nearest grid point (several in one point are averaged)")
    return Series(stamps, grid, step, utc_offset, time_format, name, (note,))


def read_csv(path: str | pathlib.Path, *, name: str = "") -> Series:
    """Read a `timestamp,value` CSV file (see `parse_csv`)."""
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.BadInput(f"cannot read {p}: {exc}") from exc
    return parse_csv(text, name=name or p.stem)


def parse_csv(text: str, *, name: str = "") -> Series:
    """Parse `timestamp,value` rows: ISO 8601 or epoch-second timestamps, an optional
    header, empty or `NaN` values as missing samples, `#` comments ignored."""
    stamps: list[float] = []
    values: list[float] = []
    lines: list[int] = []
    problems: list[str] = []
    kinds: set[str] = set()
    offset: float | None = None
    seen_row = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip().strip('"').strip() for f in line.split(",")]
        if not seen_row:
            seen_row = True
            if _is_header(fields):
                continue
        if len(fields) != 2:
            problems.append(f"line {lineno}: expected 2 fields, got {len(fields)}")
            continue
        try:
            stamp, kind, row_offset = _parse_time(fields[0])
            value = _parse_value(fields[1])
        except ValueError as exc:
            problems.append(f"line {lineno}: {exc}")
            continue
        kinds.add(kind)
        offset = row_offset if kind == "iso" else offset
        stamps.append(stamp)
        values.append(value)
        lines.append(lineno)
    if problems:
        shown = "; ".join(problems[:MAX_REPORTED_ERRORS])
        more = len(problems) - MAX_REPORTED_ERRORS
        raise errors.BadInput(f"cannot parse {len(problems)} row(s): {shown}"
                              + (f"; and {more} more" if more > 0 else ""))
    if len(kinds) > 1:
        raise errors.BadInput("mixed timestamp formats: use either epoch seconds, ISO 8601 "
                              "with an offset, or ISO 8601 without one, throughout")
    time_format: TimeFormat = "epoch" if kinds <= {"epoch"} else "iso"
    return from_samples(np.array(stamps), np.array(values), name=name, utc_offset=offset,
                        time_format=time_format, lines=np.array(lines), regularise=True)


def _is_header(fields: list[str]) -> bool:
    if len(fields) < 2:
        return False
    try:
        _parse_time(fields[0])
        return False
    except ValueError:
        pass
    try:
        _parse_value(fields[1])
        return False
    except ValueError:
        return True


def _parse_time(text: str) -> tuple[float, str, float | None]:
    """Returns (epoch seconds, kind, utc offset) with kind 'epoch', 'iso' or 'naive'."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    else:
        if not math.isfinite(number):
            raise ValueError(f"bad timestamp {text!r}")
        if abs(number) > 1e11:
            raise ValueError(f"timestamp {text!r} looks like milliseconds; give epoch seconds")
        return number, "epoch", None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad timestamp {text!r} (want ISO 8601 or epoch seconds)") from None
    if moment.tzinfo is None:
        # Naive wall-clock times are read as UTC; calendar features then see them as given.
        return moment.replace(tzinfo=dt.UTC).timestamp(), "naive", None
    delta = moment.utcoffset()
    return moment.timestamp(), "iso", delta.total_seconds() if delta is not None else 0.0


def _parse_value(text: str) -> float:
    if text in _MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad value {text!r}") from None
    if math.isinf(value):
        raise ValueError(f"infinite value {text!r}")
    return value


def resample(series: Series, step: float, how: Aggregation = "mean") -> Series:
    """Aggregate to a coarser step that is a whole multiple of the current one.

    Buckets align to the input's wall clock (an hour or a day starts where its readers
    expect). Incomplete buckets at either end are dropped; with `sum` a bucket missing
    any sample is missing, since a partial sum would read as a drop in load.
    """
    ratio = step / series.step
    k = round(ratio)
    if k < 1 or abs(ratio - k) > 1e-6:
        raise errors.BadInput(f"cannot resample a {series.step:g} s series to {step:g} s: "
                              f"not a whole multiple")
    if k == 1:
        return series
    local = series.local(series.timestamps)
    first = int(np.ceil(np.round(local[0] / step, 9)))
    start = int(np.rint((first * step - local[0]) / series.step))
    usable = (len(series) - start) // k
    if usable < 1:
        raise errors.BadInput("the series is shorter than one bucket of the new step")
    block = series.values[start:start + usable * k].reshape(usable, k)
    present = ~np.isnan(block)
    with np.errstate(invalid="ignore"):
        if how == "sum":
            agg = np.where(present.all(axis=1), block.sum(axis=1), np.nan)
        elif how == "last":
            idx = np.where(present.any(axis=1), k - 1 - np.argmax(present[:, ::-1], axis=1), 0)
            agg = np.where(present.any(axis=1), block[np.arange(usable), idx], np.nan)
        else:
            agg = np.full(usable, np.nan)
            rows = present.any(axis=1)
            if rows.any():
                part = block[rows]
                agg[rows] = (np.nanmean(part, axis=1) if how == "mean" else
                             np.nanmax(part, axis=1) if how == "max" else
                             np.nanmin(part, axis=1))
    stamps = series.timestamps[start] + step * np.arange(usable, dtype=np.float64)
    return series.replace(timestamps=stamps, values=agg, step=float(step))


def find_outages(series: Series, *, min_points: int = 2,
                 max_context_zeros: float = 0.05) -> list[Outage]:
    """Runs of zeros inside otherwise non-zero load.

    A run counts when it is interior (load before and after), at least `min_points`
    long, the surrounding day holds almost no zeros, and the same hour a day or a week
    away was not zero as well (so nightly or weekend idling is left alone).
    """
    v = series.values
    ok = ~np.isnan(v)
    if not ok.any() or np.nanmin(v) < 0:
        return []
    zero = ok & (v == 0)
    if not zero.any():
        return []
    nonzero_idx = np.flatnonzero(ok & (v != 0))
    if nonzero_idx.size == 0:
        return []
    day = series.period(DAY) or 24
    lags = [p for p in (series.period(DAY), series.period(WEEK)) if p]
    context = max(24, min(day, 2000))
    out: list[Outage] = []
    for lo, hi in _runs(zero):
        if hi - lo < min_points or lo <= nonzero_idx[0] or hi > nonzero_idx[-1]:
            continue
        around = np.r_[max(0, lo - context):lo, hi:min(len(v), hi + context)]
        around = around[ok[around]]
        if around.size == 0 or np.mean(v[around] == 0) > max_context_zeros:
            continue
        if _zero_in_phase(v, ok, lo, hi, lags):
            continue
        out.append(Outage(float(series.timestamps[lo]), float(series.timestamps[hi - 1]),
                          hi - lo))
    return out


def mask_outages(series: Series, **kwargs: float) -> tuple[Series, list[Outage]]:
    """The series with outage zeros set to missing, and the outages found."""
    outages = find_outages(series, **kwargs)  # type: ignore[arg-type]
    if not outages:
        return series, []
    values = series.values.copy()
    for o in outages:
        lo = int(np.rint((o.start - series.timestamps[0]) / series.step))
        values[lo:lo + o.points] = np.nan
    return series.replace(values=values), outages


def _zero_in_phase(v: np.ndarray, ok: np.ndarray, lo: int, hi: int, lags: list[int]) -> bool:
    """Whether the same phase in neighbouring seasons is mostly zero too."""
    probes: list[int] = []
    for lag in lags:
        for i in range(lo, hi):
            for j in (i - lag, i + lag):
                if 0 <= j < v.size and not lo <= j < hi and ok[j]:
                    probes.append(j)
    if not probes:
        return False
    return bool(np.mean(v[np.array(probes)] == 0) > 0.5)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
