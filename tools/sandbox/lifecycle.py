"""Container timelines: when each run of a container starts, gets ready and ends.

A timeline is a pure function of the container's fault and its first start time, so the
pod status, the events, the logs and the metrics at any instant agree with each other and
with the elapsed time. Restarts follow the kubelet's back-off: 10 s doubling to 5 min,
reset after a run of 10 min.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from tools.sandbox import ids
from tools.sandbox.behaviour import Behaviour, Fault

__all__ = ["ContainerSim", "PodRecord", "Run", "Timeline", "backoff_s"]

_BACKOFF_START_S = 10.0
_BACKOFF_MAX_S = 300.0
_BACKOFF_RESET_S = 600.0
PULL_S = 1.2  # image present on the node: create and start take about this long


def backoff_s(failures: int) -> float:
    """Delay before the restart that follows `failures` consecutive failed runs."""
    return min(_BACKOFF_START_S * 2 ** max(failures - 1, 0), _BACKOFF_MAX_S)


@dataclass
class Run:
    index: int
    start: float
    end: float | None  # None: still running
    ready_at: float | None
    reason: str = ""  # Error, OOMKilled; "" when stopped from outside
    exit_code: int = 0
    failures: int = 0  # consecutive failures including this run (drives the back-off)


class Timeline:
    """Runs of one container, generated lazily as time is asked about."""

    def __init__(self, seed: str, fault: Fault, startup_s: float, first_start: float) -> None:
        self.seed = seed
        self.fault = fault
        self.startup_s = startup_s
        self.first_start = first_start
        self.stopped: float | None = None
        self.runs: list[Run] = []
        self._starts: list[float] = []
        self._done = fault.kind in ("pull", "config")

    # -- generation --------------------------------------------------------------------
    def _run_length(self, index: int) -> float | None:
        if self.fault.kind == "crash":
            return self.fault.run_s * (1 + 0.15 * ids.unit(self.seed, "crash", index))
        if self.fault.kind == "oom":
            return max(self.fault.run_s * (1 + 0.1 * (ids.unit(self.seed, "oom", index)
                                                      - 0.5)), 1.0)
        return None

    def _append(self) -> None:
        if self.runs:
            last = self.runs[-1]
            assert last.end is not None
            start = last.end + backoff_s(last.failures)
        else:
            start = self.first_start
        index = len(self.runs)
        length = self._run_length(index)
        end = None if length is None else start + length
        ready = start + self.startup_s
        ready_at = ready if end is None or ready < end else None
        run = Run(index, start, end, ready_at)
        if end is not None:
            run.reason, run.exit_code = (("OOMKilled", 137) if self.fault.kind == "oom"
                                         else ("Error", 1))
            previous = self.runs[-1].failures if self.runs else 0
            run.failures = 1 if length and length >= _BACKOFF_RESET_S else previous + 1
        else:
            self._done = True
        self.runs.append(run)
        self._starts.append(start)

    def _extend(self, t: float) -> None:
        """Generate runs until one starts after t (or no more can start)."""
        while not self._done and (not self.runs or self._starts[-1] <= t):
            self._append()
            last = self.runs[-1]
            if self.stopped is not None and last.start >= self.stopped:
                self.runs.pop()
                self._starts.pop()
                self._done = True
        if self.stopped is not None:
            self._done = True

    def stop(self, t: float) -> None:
        """The container is killed at t (pod deleted); no run starts after it."""
        if self.stopped is not None:
            return
        self._extend(t)
        while self.runs and self.runs[-1].start >= t:
            self.runs.pop()
            self._starts.pop()
        if self.runs:
            last = self.runs[-1]
            if last.end is None or last.end > t:
                last.end, last.reason, last.exit_code = t, "", 0
                if last.ready_at is not None and last.ready_at >= t:
                    last.ready_at = None
        self.stopped = t
        self._done = True

    def refault(self, fault: Fault, t: float) -> None:
        """The spec's effect changed at t (say a ConfigMap gained the missing key): runs
        that start after t follow the new fault; what already happened stays."""
        if self.stopped is not None or fault == self.fault:
            return
        self._extend(t)
        while self.runs and self._starts[-1] > t:
            self.runs.pop()
            self._starts.pop()
        self.fault = fault
        if not self.runs:
            self.first_start = max(self.first_start, t + 1.0)
            self._done = fault.kind in ("pull", "config")
        else:
            self._done = self.runs[-1].end is None

    # -- queries -----------------------------------------------------------------------
    def runs_until(self, t: float) -> list[Run]:
        """Runs that started at or before t."""
        self._extend(t)
        return self.runs[:bisect.bisect_right(self._starts, t)]

    def current(self, t: float) -> Run | None:
        runs = self.runs_until(t)
        return runs[-1] if runs else None

    def running(self, t: float) -> bool:
        run = self.current(t)
        return run is not None and (run.end is None or t < run.end)

    def ready(self, t: float) -> bool:
        run = self.current(t)
        return (run is not None and run.ready_at is not None and run.ready_at <= t
                and (run.end is None or t < run.end))

    def restarts(self, t: float) -> int:
        run = self.current(t)
        return run.index if run else 0

    def next_transition(self, t: float) -> float | None:
        """The first start, ready or end time strictly after t."""
        self._extend(t)
        index = max(bisect.bisect_right(self._starts, t) - 1, 0)
        best: float | None = None
        for run in self.runs[index:index + 2]:
            for moment in (run.start, run.ready_at, run.end):
                if moment is not None and moment > t and (best is None or moment < best):
                    best = moment
        return best

    def ready_since(self, t: float) -> float | None:
        """When the container last became ready, if it is ready at t."""
        run = self.current(t)
        if self.ready(t) and run is not None:
            return run.ready_at
        return None

    def last_change(self, t: float) -> float:
        """When readiness last flipped at or before t (Ready condition transition time)."""
        run = self.current(t)
        if run is None:
            return self.first_start
        if self.ready(t) and run.ready_at is not None:
            return run.ready_at
        earlier = [r for r in self.runs_until(t) if r.ready_at is not None and r.end]
        if earlier and earlier[-1].end is not None and earlier[-1].end <= t:
            return earlier[-1].end
        return self.first_start


@dataclass
class ContainerSim:
    name: str
    image: str
    behaviour: Behaviour | None
    spec: dict[str, Any]
    timeline: Timeline
    memory_limit: float = 0.0  # bytes; 0 = none
    cpu_limit: float = 0.0  # cores; 0 = none


@dataclass
class PodRecord:
    """What the simulation knows about one pod, kept after the pod is deleted."""

    namespace: str
    name: str
    uid: str
    node: str
    ip: str
    created: float
    scheduled: float
    labels: dict[str, str]
    workload: str  # owning Deployment/StatefulSet name, or the pod name
    owner_kind: str
    owner_name: str
    containers: list[ContainerSim] = field(default_factory=list)
    deleted: float | None = None
    events_until: float = 0.0
    # The pod status last written, and until when it stays right (a cache).
    status_written: Any = None
    status_until: float = 0.0

    def alive(self, t: float) -> bool:
        return self.created <= t and (self.deleted is None or t < self.deleted)

    def ready(self, t: float) -> bool:
        return self.alive(t) and bool(self.containers) and all(
            c.timeline.ready(t) for c in self.containers)

    def next_transition(self, t: float) -> float | None:
        times = [c.timeline.next_transition(t) for c in self.containers]
        if self.deleted is not None and self.deleted > t:
            times.append(self.deleted)
        found = [x for x in times if x is not None]
        return min(found) if found else None
