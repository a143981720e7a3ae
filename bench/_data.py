"""Where the benchmark data lives and how to read it.

The data is not part of the repository: it is read from the directory named by the
OPSBOT_BENCH_DATA environment variable, by default `../shared/benchmarks` next to the
repository root.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pathlib
import sys

import numpy as np

__all__ = ["NabFile", "data_dir", "load_nab", "nab_profiles", "parse_time"]

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def data_dir() -> pathlib.Path:
    root = pathlib.Path(os.environ.get("OPSBOT_BENCH_DATA", "")
                        or REPO_ROOT / ".." / "shared" / "benchmarks")
    if not root.is_dir():
        sys.exit(f"benchmark data not found at {root}; set OPSBOT_BENCH_DATA")
    return root.resolve()


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO 8601 timestamp; naive times are read as UTC."""
    moment = dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@dataclasses.dataclass(frozen=True)
class NabFile:
    """One NAB series as rows (NAB scores rows, and some series have irregular steps)."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: list[tuple[int, int]]
    """Inclusive row ranges of the labelled anomaly windows."""


def load_nab(root: pathlib.Path | None = None) -> list[NabFile]:
    base = (root or data_dir()) / "nab"
    windows = json.loads((base / "labels" / "combined_windows.json").read_text())
    files = []
    for name in sorted(windows):
        lines = (base / "data" / name).read_text().splitlines()[1:]
        rows = [line.split(",") for line in lines if line.strip()]
        stamps = np.array([parse_time(r[0]) for r in rows])
        values = np.array([float(r[1]) for r in rows])
        ranges = []
        for start, end in windows[name]:
            inside = np.flatnonzero((stamps >= parse_time(start)) & (stamps <= parse_time(end)))
            if inside.size:
                ranges.append((int(inside[0]), int(inside[-1])))
        files.append(NabFile(name, stamps, values, ranges))
    return files


def nab_profiles(root: pathlib.Path | None = None) -> dict[str, dict[str, float]]:
    path = (root or data_dir()) / "nab" / "config" / "profiles.json"
    raw = json.loads(path.read_text())
    return {name: dict(body["CostMatrix"]) for name, body in raw.items()}
