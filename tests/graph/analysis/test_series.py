"""Series: CSV parsing and its errors, the grid, resampling, outage detection."""

from __future__ import annotations

import numpy as np
import pytest

from graph.analysis import errors, series

HOUR = 3600.0
T0 = 1_700_000_000.0 // 86_400 * 86_400  # a UTC midnight (2023-11-14)


def test_iso_with_offset_and_header() -> None:
    s = series.parse_csv("timestamp,value\n"
                         "1995-07-01T00:00:00-04:00,3568\n"
                         "1995-07-01T01:00:00-04:00,3002\n"
                         "1995-07-01T02:00:00-04:00,2267\n")
    assert s.step == HOUR
    assert s.utc_offset == -4 * HOUR
    assert s.values.tolist() == [3568.0, 3002.0, 2267.0]
    assert s.format_time(s.timestamps[0]) == "1995-07-01T00:00:00-04:00"


def test_epoch_without_header_and_missing_values() -> None:
    text = "\n".join(f"{T0 + i * 60:.0f},{v}" for i, v in enumerate(["1", "", "3", "NaN", "5"]))
    s = series.parse_csv(text)
    assert s.time_format == "epoch"
    assert s.step == 60.0
    assert np.isnan(s.values[[1, 3]]).all()
    assert s.observed == 3
    assert s.format_time(s.timestamps[-1]) == int(T0 + 240)


def test_missing_rows_become_gaps_on_the_grid() -> None:
    stamps = [T0, T0 + 60, T0 + 180, T0 + 240]
    s = series.from_samples(stamps, [1.0, 2.0, 4.0, 5.0])
    assert len(s) == 5
    assert np.isnan(s.values[2])


def test_unparsable_rows_name_their_lines() -> None:
    text = "timestamp,value\n2024-01-01T00:00:00,1\nyesterday,2\n2024-01-01T02:00:00,abc\n"
    with pytest.raises(errors.BadInput, match=r"line 3: bad timestamp.*line 4: bad value"):
        series.parse_csv(text)


def test_wrong_field_count() -> None:
    with pytest.raises(errors.BadInput, match="line 2: expected 2 fields"):
        series.parse_csv("1700000000,1\n1700000060,2,3\n1700000120,3\n")


def test_irregular_step_is_an_error_for_samples_and_resampled_for_csv() -> None:
    text = "1700000000,1\n1700000060,2\n1700000120,3\n1700000150,4\n1700000240,5\n"
    with pytest.raises(errors.BadInput, match=r"irregular step.*line 4"):
        series.from_samples([1700000000, 1700000060, 1700000120, 1700000150, 1700000240],
                            [1, 2, 3, 4, 5], lines=np.array([1, 2, 3, 4, 5]))
    parsed = series.parse_csv(text)
    assert parsed.step == 60
    # The sample 30 s after a grid point is averaged into it (3 and 4 -> 3.5); the grid
    # point it skipped is missing, not invented.
    assert list(parsed.values[[0, 1, 2, 4]]) == [1, 2, 3.5, 5]
    assert np.isnan(parsed.values[3])
    assert parsed.notes and "irregular step" in parsed.notes[0]


def test_too_few_points() -> None:
    with pytest.raises(errors.BadInput, match="too few points"):
        series.parse_csv("1700000000,1\n1700000060,2\n")


def test_duplicates_mixed_formats_and_milliseconds() -> None:
    with pytest.raises(errors.BadInput, match="duplicate timestamp"):
        series.parse_csv("1700000000,1\n1700000000,2\n1700000060,3\n")
    with pytest.raises(errors.BadInput, match="mixed timestamp formats"):
        series.parse_csv("1700000000,1\n2023-11-14T22:14:20,2\n1700000120,3\n")
    with pytest.raises(errors.BadInput, match="milliseconds"):
        series.parse_csv("1700000000000,1\n1700000060000,2\n1700000120000,3\n")


def test_read_csv_reports_unreadable_file(tmp_path: object) -> None:
    with pytest.raises(errors.BadInput, match="cannot read"):
        series.read_csv("/nonexistent/file.csv")


def test_resample_sums_half_hours_into_hours() -> None:
    stamps = T0 + 1800.0 * np.arange(8)
    s = series.from_samples(stamps, np.arange(8, dtype=float))
    hourly = series.resample(s, HOUR, "sum")
    assert hourly.step == HOUR
    assert hourly.values.tolist() == [1.0, 5.0, 9.0, 13.0]
    with pytest.raises(errors.BadInput, match="whole multiple"):
        series.resample(s, 2500.0)


def _daily_load(days: int) -> np.ndarray:
    hours = np.arange(days * 24)
    return 1000.0 + 500.0 * np.sin(2 * np.pi * hours / 24)


def test_outage_zeros_are_masked_and_reported() -> None:
    values = _daily_load(14)
    values[200:230] = 0.0  # 30 hours of a dead exporter
    s = series.from_samples(T0 + HOUR * np.arange(values.size), values)
    masked, outages = series.mask_outages(s)
    assert len(outages) == 1
    assert outages[0].points == 30
    assert outages[0].start == s.timestamps[200]
    assert np.isnan(masked.values[200:230]).all()
    assert masked.observed == values.size - 30


def test_nightly_idle_zeros_are_load_not_outages() -> None:
    values = _daily_load(14)
    hours = np.arange(values.size) % 24
    values[(hours >= 1) & (hours < 5)] = 0.0  # a batch service idles every night
    s = series.from_samples(T0 + HOUR * np.arange(values.size), values)
    assert series.find_outages(s) == []
