"""Turning candidate backtests into the forecast's model: a weighted blend of the best.

Picking the single best candidate on a handful of backtest windows is noisy: the
winner is often a model that was lucky on those days. Averaging the few best, weighted
by how well each did, keeps most of the winner's accuracy when it really is better and
loses little when it was luck; candidates far behind the best get no say at all.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from graph.analysis import backtest

__all__ = ["MAX_MEMBERS", "MAX_RATIO", "Blend", "choose", "rank"]

# How many of the best candidates share the forecast, and how much worse than the best
# (in MASE) a candidate may be and still take part.
MAX_MEMBERS = 5
MAX_RATIO = 1.25
# Weights fall with the square of the backtest error: a model half as accurate counts
# a quarter as much.
WEIGHT_POWER = 2.0


@dataclasses.dataclass(frozen=True)
class Blend:
    """The members (best first), their weights (summing to one) and the backtest of
    their weighted forecast."""

    members: tuple[str, ...]
    weights: tuple[float, ...]
    run: backtest.Run

    @property
    def name(self) -> str:
        return "+".join(self.members)


def rank(score: dict[str, float]) -> float:
    """The figure candidates are ordered by: MASE, or sMAPE far behind every finite
    MASE when the series has no scale to measure MASE against."""
    value = score["mase"]
    return value if math.isfinite(value) else score["smape"] + 1e6


def choose(runs: dict[str, backtest.Run], scores: dict[str, dict[str, float]], *,
           max_members: int = MAX_MEMBERS) -> Blend:
    """The blend of up to `max_members` best candidates by backtest (ties keep the
    candidates' order); `max_members` 1 is plain selection."""
    names = list(runs)
    order = sorted(names, key=lambda name: (rank(scores[name]), names.index(name)))
    # Weights and the cut-off need an error on one scale: MASE, or sMAPE when the
    # series has no scale for MASE (then no candidate has one).
    key = "mase" if math.isfinite(scores[order[0]]["mase"]) else "smape"
    best = scores[order[0]][key]
    members = [name for name in order[:max_members]
               if math.isfinite(scores[name][key]) and scores[name][key] <= MAX_RATIO * best]
    if not members:  # no finite error at all: keep the first in order
        members = order[:1]
    errors = np.array([scores[name][key] for name in members])
    # A perfect backtest (error 0) takes all the weight rather than dividing by zero.
    raw = 1.0 / np.maximum(np.nan_to_num(errors, nan=1.0), 1e-12) ** WEIGHT_POWER
    weights = raw / raw.sum()
    predicted = np.tensordot(weights, np.array([runs[m].predicted for m in members]), axes=1)
    run = backtest.Run("+".join(members), predicted, runs[members[0]].actual)
    return Blend(tuple(members), tuple(float(w) for w in weights), run)
