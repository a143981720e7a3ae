"""Which service an incident starts in, from service metrics and the call graph.

The cause is where the failure starts, not where it is seen: a caller whose latency rises
because its callee is slow is a symptom, the callee is the cause. The ranking

1. scores every service's metrics against the baseline (`service_anomaly`);
2. keeps the services the symptom reaches along callee edges: a failure travels only
   from a callee up to its callers;
3. asks, for each failing service, how much of its change its failing callees explain,
   in the metric's own unit and weighted by how often it calls them (a callee 1 s slower
   adds 0.1 s to a caller that needs it on one request in ten), so a rarely called or
   barely moving callee cannot explain a caller that moved by seconds;
4. credits each failing service with the failures above it, up to the symptom, that it
   explains: the origin accounts for the whole cascade, a bystander only for itself;
5. weighs the rest by how anomalous the service is, whether it fails the way the
   symptom does (slow or erroring), and how strong a chain of failing services links it
   to the symptom.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Literal

import numpy as np

from graph.analysis import errors
from graph.analysis.callgraph import CallGraph, personalized_pagerank
from graph.analysis.service_anomaly import (
    ERROR_METRICS,
    FAILURE_METRICS,
    METRICS,
    ScoringConfig,
    ServiceAnomaly,
    ServiceMetrics,
    assess_service,
    family,
)

__all__ = ["CallGraph", "RankedService", "RcaConfig", "ServiceMetrics", "rank_root_causes"]

_Ranked = list[tuple[float, str, list[str]]]  # (score, service, notes), best first
# A faint symptom's lead may have moved up to this many times what the symptom shows:
# retries, caching and partial fan-out soften what reaches the caller, but not tenfold.
_FAINT_SLACK = 3.0


@dataclasses.dataclass(frozen=True)
class RcaConfig:
    scoring: ScoringConfig = dataclasses.field(default_factory=ScoringConfig)
    symptom_threshold: float = 2.5
    """z-score that confirms the symptom. An alert or a person already says something is
    wrong there, so the bar is 'outside normal noise', lower than the bar for blaming."""
    relative_bar: bool = True
    """Count a service as failing from the symptom's own z-score when that is below the
    threshold: a callee as anomalous as a faint symptom is as suspect as it is."""
    cross_credit: float = 0.25
    """How much failing the other way counts (errors under a latency symptom, or a callee
    erroring under a slow caller): timeouts and retries link the two, loosely."""
    explain_power: float = 2.0
    """A callee explaining a share e of a change leaves 1 - e**power to the caller: a
    callee carrying a third of the change barely clears the caller, all of it does."""
    unexplained_floor: float = 0.1
    """A fully explained service keeps this share of its score so it stays listed."""
    cover_full: float = 0.5
    """A service explaining this share of a caller's change accounts for that caller
    fully: queues amplify a slow callee's delay, so callers often move more than it."""
    surge_credit: float = 0.3
    """What remains of a failing service's case when it is suddenly called much more by
    callers that are not called more themselves: they changed what they do (a new code
    path, retries), so the change starts with them."""
    unknown_pass: float = 0.5
    """How strongly a service without failure metrics relays a failure along a chain."""
    min_relay: float = 0.05
    """Weakest link a quiet service makes in a chain: failures linked to the symptom only
    through quiet services stay listed, last."""
    faint_leads: bool = True
    """When the named symptom moved but stayed within its noise (z at least half of
    `symptom_threshold`), still list the services failing its way, over the threshold, at
    the symptom's worst sample and by an amount the symptom's change can hold, as
    unconfirmed leads: an alert or a person saw something,
    and where its few failures came from is worth saying. They are marked
    `confirmed=False`, with half the confidence."""
    min_score: float = 1.5
    """Below this best score nothing is reported. A service just over the threshold,
    linked to the symptom and explaining it scores about 2; everyday noise produces
    lesser wobbles somewhere in a large graph every hour."""
    method: Literal["traversal", "pagerank"] = "traversal"
    """'traversal' (the steps above) or 'pagerank': a walk from the symptom towards
    anomalous callees, kept for comparison (weaker on the benchmark)."""
    detect_split: float = 0.5
    """Without `incident_start` or a baseline, this first share of samples is normal."""

    def __post_init__(self) -> None:
        if not (self.scoring.threshold > 0 and self.symptom_threshold > 0):
            raise errors.BadInput("thresholds must be positive")
        if not 0 < self.detect_split < 1:
            raise errors.BadInput(f"detect_split must be in (0, 1), got {self.detect_split}")


@dataclasses.dataclass(frozen=True)
class RankedService:
    service: str
    score: float
    confidence: float
    """0..1: the service's share of the evidence among those ranked, discounted when the
    evidence itself is thin."""
    reasons: list[str]
    metric: str | None = None
    """The metric that moved most; None when listed for lack of data."""
    onset: float | None = None
    """Epoch seconds of the first anomalous sample."""
    missing: tuple[str, ...] = ()
    """Failure metrics the service does not report, so they could not be checked."""
    confirmed: bool = True
    """False for a lead listed while the symptom itself is within its normal noise."""


def rank_root_causes(metrics: ServiceMetrics, graph: CallGraph, *,
                     incident_start: int | None = None, symptom: str | None = None,
                     symptom_metric: str | None = None, baseline: ServiceMetrics | None = None,
                     config: RcaConfig | None = None) -> list[RankedService]:
    """Services most likely to be where the incident starts, most likely first.

    `metrics` covers the incident from `incident_start` (a sample index) and normal
    operation before it; `baseline` adds an older normal period when those samples are
    few. Without either, the first `detect_split` of the samples are normal and the
    incident starts at the first anomalous sample after them. `symptom` is the service
    where the problem is seen (`symptom_metric`: how); only services it calls, directly
    or not, can be the cause. Only services in `graph` are considered; those without
    failure metrics that a ranked service calls are listed last, with score 0.

    An empty list means nothing is wrong: the symptom (or, without one, every service)
    is within its normal range, or no failing service stands out from everyday noise.
    """
    config = config or RcaConfig()
    if symptom is not None and symptom not in graph.nodes:
        raise errors.BadInput(f"symptom {symptom!r} is not in the call graph")
    if symptom_metric is not None and symptom_metric not in METRICS:
        raise errors.BadInput(f"unknown symptom metric {symptom_metric!r}")
    start = _incident_start(metrics, graph, incident_start, symptom, symptom_metric,
                            baseline, config)
    if start is None:
        return []
    services = {n: assess_service(n, metrics, start, baseline, config.scoring)
                for n in graph.nodes}
    bar, kind, faint = config.scoring.threshold, None, False
    scope = dict.fromkeys(graph.nodes, 0)
    if symptom is not None:
        seen = services[symptom]
        if symptom_metric is not None:
            kind = family(symptom_metric)
        elif seen.main is not None:
            kind = family(seen.main.metric)
        if seen.has_data:
            strength = seen.family_z(kind) if kind else seen.z
            if strength < config.symptom_threshold:
                if not (config.faint_leads and kind
                        and strength >= config.symptom_threshold / 2):
                    return []
                faint, bar = True, config.symptom_threshold
            elif config.relative_bar:
                bar = min(bar, strength)
        scope = graph.downstream(symptom)
    analysis = _Analysis(graph, services, scope, symptom, kind, bar, config)
    ranked = analysis.rank()
    if faint:
        # Only services failing the symptom's way, as far as the chain links them to it.
        ranked = [r for r in ranked if r[1] != symptom and analysis.faint_lead(r[1])]
        if not ranked:
            return []
    elif not ranked or ranked[0][0] < config.min_score:
        return []
    total = sum(score for score, _, _ in ranked)
    out = [_describe(services[name], score, score / total * (1 - math.exp(-score / 2)),
                     notes, bar) for score, name, notes in ranked]
    if faint:
        note = (f"unconfirmed: {symptom} itself is within its normal noise "
                f"(z {strength:.1f} < {config.symptom_threshold:g})")
        out = [dataclasses.replace(r, confirmed=False, confidence=round(r.confidence / 2, 3),
                                   reasons=[note, *r.reasons]) for r in out]
        return out
    return out + analysis.unchecked([name for _, name, _ in ranked])


def _incident_start(metrics: ServiceMetrics, graph: CallGraph, given: int | None,
                    symptom: str | None, symptom_metric: str | None,
                    baseline: ServiceMetrics | None, config: RcaConfig) -> int | None:
    n = len(metrics)
    if given is not None:
        lowest = 0 if baseline is not None else 1
        if not lowest <= given < n:
            raise errors.BadInput(f"incident_start {given} outside {lowest}..{n - 1}")
        return given
    if baseline is not None:
        return 0
    split = max(3, int(n * config.detect_split))
    if split >= n:
        raise errors.BadInput(f"{n} samples are too few to tell normal from incident")
    thr = config.scoring.threshold  # guessing the start too: ask for the full threshold
    onsets = []
    for name in [symptom] if symptom is not None else graph.nodes:
        service = assess_service(name, metrics, split, None, config.scoring)
        if symptom_metric is None:
            watched = [m for m in service.metrics.values() if m.metric in FAILURE_METRICS]
        else:
            same = ERROR_METRICS if symptom_metric in ERROR_METRICS else (symptom_metric,)
            watched = [service.metrics[m] for m in same if m in service.metrics]
        onsets += [t for m in watched if (t := m.onset(thr)) is not None]
    if not onsets:
        return None
    return int(np.searchsorted(metrics.timestamps, min(onsets)))


@dataclasses.dataclass
class _Analysis:
    graph: CallGraph
    services: dict[str, ServiceAnomaly]
    scope: dict[str, int]
    symptom: str | None
    kind: str | None
    """'latency' or 'errors': how the symptom fails (None: any way)."""
    bar: float
    """z from which a service counts as failing."""
    config: RcaConfig

    def failing(self, name: str) -> bool:
        return self.services[name].z >= self.bar

    def rank(self) -> _Ranked:
        failing = [n for n in self.scope if self.failing(n)]
        if not failing:
            return []
        cfg = self.config
        shares = {n: self.explained_by(n) for n in failing}
        support = self.chain_support()
        ranked = []
        for name in failing:
            me = self.services[name]
            own = 1.0 - max(shares[name].values(), default=0.0) ** cfg.explain_power
            covered = self.explains_above(name, shares)
            score = ((1.0 + math.log(me.z / self.bar))
                     * (cfg.unexplained_floor + (1.0 - cfg.unexplained_floor) * own)
                     * me.evidence(self.kind, self.bar, cfg.cross_credit)
                     * support.get(name, 1.0) * (1.0 + covered))
            notes = self.notes(name, shares[name], covered)
            if self.drawn_in(name):
                score *= cfg.surge_credit
                notes.append("suddenly called more by its callers: likely reacting to them")
            ranked.append((score, name, notes))
        if cfg.method == "pagerank" and self.symptom is not None:
            ranked = self.pagerank(ranked)
        ranked.sort(key=lambda r: (-r[0], self.services[r[1]].onset(self.bar) or math.inf,
                                   r[1]))
        return ranked

    def faint_lead(self, name: str) -> bool:
        """Whether `name` fails the symptom's way when the faint symptom is at its worst,
        by an amount the symptom's own change can hold (a callee 50 ms slower does not
        explain a caller 2 ms slower: the caller would have felt it)."""
        assert self.symptom is not None and self.kind is not None
        seen = [m for m in self.services[self.symptom].metrics.values()
                if family(m.metric) == self.kind]
        mine = [m for m in self.services[name].metrics.values() if family(m.metric) == self.kind]
        if not seen or not mine:
            return False
        symptom = max(seen, key=lambda m: m.z)
        worst = int(np.argmax(symptom.scores))
        lead = max(mine, key=lambda m: m.scores[worst])
        if lead.scores[worst] < self.bar:
            return False
        felt = lead.impact * self.call_ratio(self.symptom, name, self.kind)
        return symptom.impact > 0 and felt <= _FAINT_SLACK * symptom.impact

    def explained_by(self, name: str) -> dict[str, float]:
        """Failing callee -> share of `name`'s change it accounts for."""
        main = self.services[name].main
        assert main is not None
        mine = family(main.metric)
        out = {}
        for callee in self.graph.callees(name):
            if not self.failing(callee):
                continue
            other = self.services[callee]
            same = [m for m in other.metrics.values()
                    if family(m.metric) == mine and m.z >= self.bar]
            if same:
                theirs = max(m.impact for m in same) * self.call_ratio(name, callee, mine)
                part = 1.0 if main.impact <= 0 else min(1.0, theirs / main.impact)
            else:
                part = self.config.cross_credit
            if other.surged(self.bar):
                part *= self.config.surge_credit  # it reacts to its callers, see drawn_in
            out[callee] = part
        return out

    def call_ratio(self, caller: str, callee: str, kind: str) -> float:
        """Calls to `callee` per request of `caller`, at most 1 (the callee may serve
        others too). Failed-request counts carry the volume already; unknown volumes
        count as 1."""
        if kind != "latency":
            return 1.0
        mine = self.services[caller].metrics.get("requests")
        theirs = self.services[callee].metrics.get("requests")
        if mine is None or theirs is None or mine.baseline <= 0:
            return 1.0
        return min(1.0, max(theirs.baseline, 0.0) / mine.baseline)

    def explains_above(self, name: str, shares: dict[str, dict[str, float]]) -> float:
        """How many failing services above `name`, up to the symptom, its change accounts
        for: each caller counts the share it explains (see `cover_full`), times the share
        its callee passed on."""
        reach = {name: 1.0}
        frontier = [name]
        for _ in self.graph.nodes:  # products only shrink: settles in a few rounds
            nxt = []
            for node in frontier:
                for caller in self.graph.callers(node):
                    share = shares.get(caller, {}).get(node, 0.0)
                    part = min(1.0, share / self.config.cover_full) * reach[node]
                    if caller in self.scope and part > reach.get(caller, 0.0) + 1e-9:
                        reach[caller] = part
                        nxt.append(caller)
            if not nxt:
                break
            frontier = nxt
        if self.symptom is not None and self.symptom not in reach:
            return 0.0  # a cascade that stops short of the symptom is a side show
        return sum(reach.values()) - 1.0

    def drawn_in(self, name: str) -> bool:
        """Suddenly called more while no caller is called more itself, and a caller fails:
        that caller changed what it does, so the change starts there."""
        callers = [self.services[c] for c in self.graph.callers(name)]
        return (self.services[name].surged(self.bar)
                and any(c.z >= self.bar for c in callers)
                and not any(c.surged(self.bar) for c in callers))

    def relay(self, name: str) -> float:
        s = self.services[name]
        if not s.has_data:
            return self.config.unknown_pass
        return max(s.evidence(self.kind, self.bar, self.config.cross_credit),
                   self.config.min_relay)

    def chain_support(self) -> dict[str, float]:
        """For each service, the strongest chain of failing services from the symptom to
        it: the weakest link's `relay` (1 for failing the symptom's way), maximised over
        chains. Without a symptom every service has full support."""
        if self.symptom is None:
            return {}
        best = {self.symptom: 1.0}
        frontier = [self.symptom]
        while frontier:  # widest-path relaxation: graphs are tens of services
            nxt = []
            for node in frontier:
                through = best[node] if node == self.symptom else min(best[node],
                                                                     self.relay(node))
                for callee in self.graph.callees(node):
                    if callee in self.scope and through > best.get(callee, -1.0) + 1e-12:
                        best[callee] = through
                        nxt.append(callee)
            frontier = nxt
        return best

    def pagerank(self, ranked: _Ranked) -> _Ranked:
        assert self.symptom is not None
        weight = {n: max(self.relay(n), 0.01) for n in self.scope}
        visits = personalized_pagerank(self.graph, list(self.scope), weight, self.symptom,
                                       walked_only=True)
        top = max(visits[name] for _, name, _ in ranked)
        # Rescaled so the best scores like a clear traversal result and passes min_score.
        return [(3.0 * visits[name] / top, name, notes) for _, name, notes in ranked]

    def notes(self, name: str, shares: dict[str, float], covered: float) -> list[str]:
        out = []
        if shares:
            callee, part = max(shares.items(), key=lambda kv: (kv[1], kv[0]))
            out.append(f"callee {callee} also failing: explains ~{part:.0%} of the change")
        else:
            quiet = [c for c in self.graph.callees(name) if self.services[c].has_data]
            if quiet:
                out.append("callees normal: " + ", ".join(quiet[:4])
                           + (f" and {len(quiet) - 4} more" if len(quiet) > 4 else ""))
        if covered >= 0.5:
            out.append(f"accounts for the failure of ~{covered:.1f} services above it")
        blind = [c for c in self.graph.callees(name) if not self.services[c].has_data]
        if blind:
            out.append("no metrics for callee(s) " + ", ".join(blind[:4]) + ": not checked")
        return out

    def unchecked(self, ranked: list[str]) -> list[RankedService]:
        """Services without failure metrics called by a ranked service: they may be the
        origin, and saying so beats guessing their values."""
        out: list[RankedService] = []
        listed = set(ranked)
        for name in ranked:
            for callee in self.graph.callees(name):
                service = self.services[callee]
                if callee in self.scope and callee not in listed and not service.has_data:
                    listed.add(callee)
                    out.append(RankedService(
                        callee, 0.0, 0.0, [f"no metrics: called by failing {name}"],
                        missing=service.missing or FAILURE_METRICS))
        return out


def _describe(service: ServiceAnomaly, score: float, confidence: float, notes: list[str],
              bar: float) -> RankedService:
    reasons = [f"{m.metric} {_fmt(m.metric, m.peak)} vs baseline {_fmt(m.metric, m.baseline)}"
               f" from {_clock(t)} (z {m.z:.0f})"
               for m in sorted(service.metrics.values(), key=lambda m: -m.z)
               if (t := m.onset(bar)) is not None]
    reasons += notes
    reasons += [f"no {m} data" for m in service.missing]
    return RankedService(service.name, round(score, 4), round(confidence, 3), reasons,
                         service.main.metric if service.main else None, service.onset(bar),
                         service.missing)


def _fmt(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if metric == "latency":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if metric in ERROR_METRICS:
        return f"{value * 100:.1f} %"
    return f"{value:.0f}"


def _clock(timestamp: float) -> str:
    # Epoch seconds print as UTC wall-clock; small numbers are sample positions.
    if timestamp < 1e8:
        return f"t={timestamp:g}"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
