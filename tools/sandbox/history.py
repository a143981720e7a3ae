"""The metric history before the scenario start, as OpenMetrics for promtool's backfill.

`promtool tsdb create-blocks-from openmetrics FILE DIR` needs every sample timestamped,
each series' samples in time order, all series of a family together, and a final
`# EOF`. The week is sampled every 5 minutes and the last hour every minute. To keep the
file small, per-pod detail that only matters for the recent past (phase, readiness, CFS
throttling, resource limits and requests, node pressure conditions) covers the last day.
"""

from __future__ import annotations

from pathlib import Path

from tools.sandbox.exposition import FAMILIES, Labels, family_of, openmetrics_family
from tools.sandbox.metrics_model import HISTORY_S, MetricsModel

__all__ = ["DAY_TIER_S", "sample_times", "write"]

COARSE_S = 300.0
FINE_S = 60.0
FINE_SPAN_S = 3600.0
DAY_TIER_S = 86400.0


def sample_times(start: float, span: float = HISTORY_S) -> list[float]:
    """Every 5 min from `start - span`, then every minute over the last hour, to start."""
    fine_span = min(span, FINE_SPAN_S)
    coarse = [start - span + k * COARSE_S
              for k in range(int((span - fine_span) / COARSE_S))]
    fine = [start - fine_span + k * FINE_S for k in range(int(fine_span / FINE_S) + 1)]
    return coarse + fine


def write(model: MetricsModel, path: Path, start: float, span: float = HISTORY_S) -> Path:
    accs = model.accumulators(fresh=True)
    series: dict[str, dict[tuple[str, Labels], list[tuple[float, float]]]] = {}
    for t in sample_times(start, span):
        day_tier = t >= start - DAY_TIER_S
        for name, labels, value in model.samples(t, accs, day_tier=day_tier, live=False):
            family = family_of(name).name
            series.setdefault(family, {}).setdefault((name, labels), []).append((t, value))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for spec in FAMILIES.values():
            for line in openmetrics_family(spec, series.get(spec.name, {})):
                out.write(line)
                out.write("\n")
        out.write("# EOF\n")
    return path
