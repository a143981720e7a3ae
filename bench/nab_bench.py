"""NAB (Numenta Anomaly Benchmark) score of opsbot's streaming anomaly detector.

Usage: python bench/nab_bench.py [--check-scorer]

The scoring follows NAB's definition: labelled windows; the first 15 % of each file is
a probation period in which detections are ignored; only the first detection inside a
window counts, rewarded by a scaled sigmoid of its position (about +1 at the window
start, 0 at its end); a detection outside a window costs the profile's FP weight,
scaled by the same sigmoid of its distance past the previous window (-1 far away); a
missed window costs the FN weight. One threshold per profile is tuned over the whole
corpus; the score is normalised as 100 * (S - S_null) / (S_perfect - S_null).

Each series is fed row by row through `update()`, so the detector never sees the
future. `--check-scorer` also scores a re-implementation of NAB's windowedGaussian
baseline, whose published standard score is 39.6, as a check on the scorer.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench import _data
from graph.analysis import anomaly

PROBATION_SHARE = 0.15
PROBATION_CAP = 750  # NAB caps probation at 15 % of 5000 rows
PUBLISHED = {
    "ARTime": (74.9, 65.1, 80.4),
    "Numenta HTM": (70.5, 62.6, 75.2),
    "CAD OSE": (69.9, 67.0, 73.2),
    "Skyline": (58.2, 46.2, 63.9),
    "KNN CAD": (58.0, 43.4, 64.8),
    "relativeEntropy": (54.6, 47.6, 58.8),
    "Random Cut Forest": (51.7, 38.4, 59.7),
    "windowedGaussian": (39.6, 20.9, 47.4),
    "bayesChangePt": (17.7, 3.2, 32.2),
    "random": (11.0, 1.2, 19.5),
    "null": (0.0, 0.0, 0.0),
}
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    """NAB's reward curve: 2 * sigmoid(-5x) - 1, and -1 beyond three window widths."""
    out = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x > 3.0, -1.0, out)


@dataclasses.dataclass
class Prepared:
    """One file reduced to what the threshold sweep needs."""

    fp_scores: np.ndarray
    fp_weights: np.ndarray
    window_max: list[np.ndarray]
    window_rewards: list[np.ndarray]


def prepare(f: _data.NabFile, scores: np.ndarray) -> Prepared:
    n = f.values.size
    probation = min(math.floor(PROBATION_SHARE * n), int(PROBATION_CAP))
    position = np.full(n, np.nan)
    in_window = np.zeros(n, dtype=bool)
    prev_right: int | None = None
    prev_width = 0
    bounds = sorted(f.windows)
    w = 0
    for i in range(n):
        if w < len(bounds) and i > bounds[w][1]:
            prev_right, prev_width = bounds[w][1], bounds[w][1] - bounds[w][0] + 1
            w += 1
        if w < len(bounds) and bounds[w][0] <= i <= bounds[w][1]:
            left, right = bounds[w]
            position[i] = -(right - i + 1) / (right - left + 1)
            in_window[i] = True
        elif prev_right is None:
            position[i] = math.inf  # before any window: full FP cost
        else:
            position[i] = abs(prev_right - i) / max(prev_width - 1, 1)
    reward = scaled_sigmoid(position)
    eligible = np.arange(n) >= probation
    outside = eligible & ~in_window
    order = np.argsort(-scores[outside], kind="stable")
    window_max, window_rewards = [], []
    for left, right in bounds:
        idx = np.arange(max(left, probation), right + 1)
        window_max.append(np.maximum.accumulate(scores[idx]) if idx.size else np.array([]))
        window_rewards.append(reward[idx])
    return Prepared(scores[outside][order], reward[outside][order], window_max,
                    window_rewards)


def sweep(prepared: list[Prepared], cost: dict[str, float],
          thresholds: np.ndarray) -> tuple[float, float, dict[str, int]]:
    """Best normalised score over the thresholds, the threshold, and TP/FP/FN counts."""
    tp_w, fp_w, fn_w = cost["tpWeight"], cost["fpWeight"], cost["fnWeight"]
    total = np.zeros(thresholds.size)
    tp = np.zeros(thresholds.size)
    fp = np.zeros(thresholds.size)
    windows = sum(len(p.window_max) for p in prepared)
    for p in prepared:
        # Outside windows: every point at or above the threshold is a false positive.
        count = np.searchsorted(-p.fp_scores, -thresholds, side="right")
        cum = np.concatenate(([0.0], np.cumsum(p.fp_weights)))
        total += fp_w * cum[count]
        fp += count
        for running_max, rewards in zip(p.window_max, p.window_rewards, strict=True):
            if running_max.size == 0:
                total -= fn_w  # the window lies inside the probation period
                continue
            # The first detection is where the running maximum first reaches the threshold.
            first = np.searchsorted(running_max, thresholds, side="left")
            hit = first < running_max.size
            total += np.where(hit, tp_w * rewards[np.minimum(first, running_max.size - 1)],
                              -fn_w)
            tp += hit
    null = -fn_w * windows
    perfect = tp_w * float(scaled_sigmoid(np.array([-1.0]))[0]) * windows
    normalised = 100.0 * (total - null) / (perfect - null)
    best = int(np.argmax(normalised))
    counts = {"tp": int(tp[best]), "fp": int(fp[best]), "fn": int(windows - tp[best])}
    return float(normalised[best]), float(thresholds[best]), counts


def candidate_thresholds(all_scores: np.ndarray) -> np.ndarray:
    values = np.unique(all_scores[np.isfinite(all_scores)])
    if values.size > 50_000:
        values = np.unique(np.quantile(values, np.linspace(0, 1, 50_000)))
    return np.concatenate((values, [np.inf]))


def score_detector(files: list[_data.NabFile], run: object, label: str,
                   profiles: dict[str, dict[str, float]]) -> list[float]:
    started = time.perf_counter()
    prepared = []
    pooled = []
    for f in files:
        scores = run(f)  # type: ignore[operator]
        pooled.append(scores[min(math.floor(PROBATION_SHARE * f.values.size),
                                 PROBATION_CAP):])
        prepared.append(prepare(f, scores))
    detect_s = time.perf_counter() - started
    thresholds = candidate_thresholds(np.concatenate(pooled))
    results = []
    for name in PROFILES:
        value, threshold, counts = sweep(prepared, profiles[name], thresholds)
        results.append(value)
        print(f"  {label:28s} {name:20s} {value:6.1f}  threshold {threshold:.6f}  "
              f"TP {counts['tp']} FP {counts['fp']} FN {counts['fn']}")
    print(f"  {label}: detection took {detect_s:.1f} s over "
          f"{sum(f.values.size for f in files)} rows")
    return results


def run_opsbot(f: _data.NabFile) -> np.ndarray:
    detector = anomaly.Detector()
    return np.array([detector.update(float(v), float(t))
                     for t, v in zip(f.timestamps, f.values, strict=True)])


def run_windowed_gaussian(f: _data.NabFile, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowedGaussian baseline as described: tail probability of each value under
    a Gaussian fitted to the preceding window, refreshed every `step` rows."""
    out = np.zeros(f.values.size)
    mean, std = 0.0, 1.0
    seen: list[float] = []
    buffer: list[float] = []
    for i, x in enumerate(f.values):
        if seen:
            z = abs(x - mean) / std
            out[i] = 1.0 - 0.5 * math.erfc(z / math.sqrt(2))
        if len(seen) < window:
            seen.append(float(x))
            mean, std = float(np.mean(seen)), float(np.std(seen)) or 1e-6
        else:
            buffer.append(float(x))
            if len(buffer) == step:
                seen = seen[step:] + buffer
                buffer = []
                mean, std = float(np.mean(seen)), float(np.std(seen)) or 1e-6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-scorer", action="store_true",
                        help="also score a windowedGaussian re-implementation")
    args = parser.parse_args()
    root = _data.data_dir()
    files = _data.load_nab(root)
    profiles = _data.nab_profiles(root)
    print(f"NAB: {len(files)} series, {sum(len(f.windows) for f in files)} windows")
    ours = score_detector(files, run_opsbot, "opsbot detector", profiles)
    rows = [("opsbot detector (this run)", tuple(ours))]
    if args.check_scorer:
        wg = score_detector(files, run_windowed_gaussian, "windowedGaussian (ours)", profiles)
        rows.append(("windowedGaussian re-implemented", tuple(wg)))
    print(f"\n{'detector':34s} {'standard':>9s} {'low FP':>8s} {'low FN':>8s}")
    for label, (std, low_fp, low_fn) in rows + [(f"{k} (published)", v)
                                               for k, v in PUBLISHED.items()]:
        print(f"{label:34s} {std:9.1f} {low_fp:8.1f} {low_fn:8.1f}")


if __name__ == "__main__":
    main()
