"""Traffic through each workload and the counters it drives (requests by code, latency
histogram, CPU seconds, CFS periods).

A workload's pods form a group sharing its load. Between two moments where something
changes (a pod starts, gets ready, crashes, is deleted, or a dependency goes down) every
counter grows as a + b * load, so its value is exact at any instant. An `Accumulator`
walks those segments forward; walked from the same origin, the history writer and the
live scrape produce identical values, so the live counters continue the history.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.sandbox.behaviour import Behaviour
from tools.sandbox.lifecycle import ContainerSim, PodRecord
from tools.sandbox.load import LoadCurve

__all__ = ["BUCKETS", "Accumulator", "Group", "SeriesKey", "main_container"]

SeriesKey = tuple[str, ...]
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "+Inf")
_SIGMA = 0.5  # log-normal spread of request latency
_CFS_PER_S = 10.0  # 100 ms CFS periods


def main_container(record: PodRecord) -> ContainerSim | None:
    """The container that serves the workload's requests."""
    return next((c for c in record.containers if c.behaviour is not None), None)


@dataclass
class Group:
    namespace: str
    workload: str
    load: LoadCurve
    members: list[PodRecord] = field(default_factory=list)
    http: bool = False

    def ready_members(self, t: float) -> list[PodRecord]:
        return [r for r in self.members if r.ready(t)]

    def calls(self) -> tuple[tuple[str, float], ...]:
        for record in reversed(self.members):
            main = main_container(record)
            if main is not None and main.behaviour is not None:
                return main.behaviour.calls
        return ()


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _http_coefficients(ready: list[Behaviour], down_share: float) -> dict[SeriesKey, float]:
    if not ready:
        out: dict[SeriesKey, float] = {("http", "503"): 1.0, ("count",): 1.0,
                                       ("sum",): 0.001}
        out.update({("bucket", le): 1.0 for le in BUCKETS})
        return out
    n = len(ready)
    codes: dict[str, float] = {}
    for b in ready:
        for code, share in b.error_codes:
            codes[code] = codes.get(code, 0.0) + b.error_ratio * share / n
    ok = 1.0 - sum(codes.values())
    codes["503"] = codes.get("503", 0.0) + ok * down_share
    codes["200"] = ok * (1.0 - down_share)
    out = {("http", code): share for code, share in codes.items()}
    out[("count",)] = 1.0
    out[("sum",)] = sum(b.latency_ms for b in ready) / n * math.exp(_SIGMA**2 / 2) / 1000
    for le in BUCKETS:
        if le == "+Inf":
            out[("bucket", le)] = 1.0
        else:
            limit_ms = float(le) * 1000
            out[("bucket", le)] = sum(_phi((math.log(limit_ms) - math.log(b.latency_ms))
                                           / _SIGMA) for b in ready) / n
    return out


class Accumulator:
    """Counters of one group, exact at any instant after `origin`."""

    def __init__(self, group: Group, origin: float,
                 dependency: Callable[[str, str], Group | None],
                 epoch: Callable[[], int]) -> None:
        self.group = group
        self._dependency = dependency
        self._epoch = epoch
        self._next: tuple[int, float, float | None] | None = None  # (epoch, after, next)
        self.t0 = origin
        self._l0 = group.load.integral(origin)
        self.values: dict[SeriesKey, float] = {}
        self._coef = self._coefficients(origin)

    def _deps(self) -> list[tuple[Group, float]]:
        out = []
        for name, share in self.group.calls():
            dep = self._dependency(self.group.namespace, name)
            if dep is not None:
                out.append((dep, share))
        return out

    def _coefficients(self, s: float) -> dict[SeriesKey, tuple[float, float]]:
        group = self.group
        ready = group.ready_members(s)
        n = len(ready)
        coef: dict[SeriesKey, tuple[float, float]] = {}
        if group.http:
            down = 1.0
            for dep, share in self._deps():
                if not dep.ready_members(s):
                    down *= 1.0 - share
            behaviours = [b for b in (main_container(r) for r in ready)
                          if b is not None and b.behaviour is not None]
            for key, value in _http_coefficients([c.behaviour for c in behaviours
                                                  if c.behaviour is not None],
                                                 1.0 - down).items():
                coef[key] = (0.0, value)
        ready_ids = {r.uid for r in ready}
        for record in group.members:
            if not record.alive(s):
                continue
            main = main_container(record)
            for c in record.containers:
                b = c.behaviour
                if b is None:
                    continue
                running = c.timeline.running(s)
                idle = b.cpu_idle_cores if running else 0.0
                busy = b.cpu_per_request / n if record.uid in ready_ids and c is main else 0.0
                coef[("cpu", record.uid, c.name)] = (idle, busy)
                if c.cpu_limit:
                    k = _CFS_PER_S * b.throttle / c.cpu_limit
                    coef[("cfs", record.uid, c.name)] = (_CFS_PER_S if running else 0.0, 0.0)
                    coef[("thr", record.uid, c.name)] = (k * idle, k * busy)
        return coef

    def _next_change(self, after: float) -> float | None:
        epoch = self._epoch()
        if self._next is not None and self._next[:2] == (epoch, after):
            return self._next[2]
        moments = []
        records = list(self.group.members)
        for dep, _share in self._deps():
            records += dep.members
        for record in records:
            moment = record.next_transition(after)
            if moment is not None:
                moments.append(moment)
        found = min(moments) if moments else None
        self._next = (epoch, after, found)
        return found

    def advance(self, t: float) -> None:
        """Close every segment that ends before t (changes at t itself may still come)."""
        while True:
            moment = self._next_change(self.t0)
            if moment is None or moment >= t:
                return
            level = self.group.load.integral(moment)
            span, grown = moment - self.t0, level - self._l0
            for key, (a, b) in self._coef.items():
                self.values[key] = self.values.get(key, 0.0) + a * span + b * grown
            self.t0, self._l0 = moment, level
            self._coef = self._coefficients(moment)

    def value(self, key: SeriesKey, t: float, level: float) -> float:
        """The counter at t (after `advance(t)`); `level` is the load integral at t."""
        a, b = self._coef.get(key, (0.0, 0.0))
        return self.values.get(key, 0.0) + a * (t - self.t0) + b * (level - self._l0)

    def rate(self, key: SeriesKey, t: float) -> float:
        a, b = self._coef.get(key, (0.0, 0.0))
        return a + b * self.group.load.rate(t)

    def series(self) -> set[SeriesKey]:
        return set(self.values) | set(self._coef)
