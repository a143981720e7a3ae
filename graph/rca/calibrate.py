"""Turn raw cause scores into confidences that mean what they say.

A raw score says how directly the evidence shows a cause. The confidence of the leader
also depends on how far it stands above the runner-up (two causes that explain the same
symptoms equally well leave the choice open) and on how many independent kinds of
evidence agree (a kubelet status backed by an event and a log line is surer than a status
alone). Causes below the leader are capped under it, so the ranking and the confidences
always agree. `python -m bench.rca_bench` prints the reliability table (confidence bucket
against accuracy) over the incident-bundle suite and its variants with logs, metrics or
events taken away; the scores are set conservatively, since bundles of shapes the
detectors had not seen were answered wrongly at confidences up to 0.86.
"""

from __future__ import annotations

from graph.rca import model

__all__ = ["calibrate"]

# How much a clear lead adds; a margin beyond this says nothing more.
_MARGIN_CAP = 0.3
_MARGIN_WEIGHT = 0.5
# Per kind of corroborating evidence beyond the first (status, event, log, metric, ...).
_SOURCE_BONUS = 0.02
_FLOOR, _CEILING = 0.05, 0.98


def _sources(cause: model.Cause) -> int:
    return len({e.source for e in cause.evidence})


def calibrate(causes: list[model.Cause]) -> list[model.Cause]:
    """Rank best first (score, then the deeper cause: where the failure starts) and set
    each cause's confidence."""
    ranked = sorted(causes, key=lambda c: (-c.score, -c.depth, c.kind))
    for i, cause in enumerate(ranked):
        if i == 0:
            rival = ranked[1].score if len(ranked) > 1 else 0.0
            margin = min(max(0.0, cause.score - rival), _MARGIN_CAP)
            lead = (1 - _MARGIN_WEIGHT * _MARGIN_CAP) + _MARGIN_WEIGHT * margin
            support = _SOURCE_BONUS * max(0, min(_sources(cause), 4) - 1)
            cause.confidence = min(_CEILING, max(_FLOOR, cause.score * lead + support))
        else:
            cause.confidence = max(_FLOOR, min(ranked[0].confidence - 0.05, cause.score * 0.8))
    return ranked
