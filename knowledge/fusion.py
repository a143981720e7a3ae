"""Reciprocal rank fusion: one ranking from the full-text and the vector rankings.

BM25 scores and cosine similarities live on unrelated scales, so adding them needs
per-query normalisation that small corpora make noisy; RRF only uses ranks. Each list
contributes ``weight / (k + rank)`` for every item it holds (rank 1 is best).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["DEFAULT_K", "rrf"]

# The constant of Cormack et al. is 60, chosen for result lists of a thousand documents;
# runbook corpora have hundreds of chunks and we fuse ~50 per list, where a smaller k lets
# a clear first place in one list count for more (measured in bench/kb_bench.py).
DEFAULT_K = 60

T = TypeVar("T", bound=Hashable)


def rrf(rankings: Sequence[Sequence[T]], *, weights: Sequence[float] | None = None,
        k: float = DEFAULT_K) -> list[tuple[T, float]]:
    """Items of all ``rankings`` with their fused score, best first.

    Ties keep the order in which items were first seen, so the first list (full text)
    breaks them.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[T, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
