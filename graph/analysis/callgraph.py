"""Who calls whom: the service call graph that root-cause ranking walks.

Edges point from caller to callee, the direction requests travel; failures travel the
other way (a slow callee makes its callers slow). A graph comes from an edge list or from
an adjacency matrix whose row is the caller and whose column is the callee, the layout
tracing tools and service maps export. Node order is kept so every walk is deterministic.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from graph.analysis import errors

__all__ = ["CallGraph", "personalized_pagerank"]


@dataclasses.dataclass(frozen=True)
class CallGraph:
    """A directed call graph."""

    nodes: tuple[str, ...]
    edges: frozenset[tuple[str, str]]
    """(caller, callee) pairs; self-calls are kept but never walked."""
    _callees: Mapping[str, tuple[str, ...]] = dataclasses.field(
        init=False, repr=False, compare=False)
    _callers: Mapping[str, tuple[str, ...]] = dataclasses.field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.nodes)) != len(self.nodes):
            raise errors.BadInput("call graph nodes must be unique")
        order = {n: i for i, n in enumerate(self.nodes)}
        callees: dict[str, list[str]] = {n: [] for n in self.nodes}
        callers: dict[str, list[str]] = {n: [] for n in self.nodes}
        for caller, callee in self.edges:
            if caller not in order or callee not in order:
                raise errors.BadInput(f"edge {caller} -> {callee} names an unknown node")
        for caller, callee in sorted(self.edges, key=lambda e: (order[e[0]], order[e[1]])):
            if caller != callee:  # calling itself says nothing about where failure starts
                callees[caller].append(callee)
                callers[callee].append(caller)
        object.__setattr__(self, "_callees", {n: tuple(v) for n, v in callees.items()})
        object.__setattr__(self, "_callers", {n: tuple(v) for n, v in callers.items()})

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]],
                   nodes: Sequence[str] = ()) -> CallGraph:
        """Graph of (caller, callee) `edges`; `nodes` adds services that call nobody and
        fixes the order of the ones it names."""
        pairs = [(str(a), str(b)) for a, b in edges]
        ordered = dict.fromkeys([*nodes, *(n for pair in pairs for n in pair)])
        return cls(tuple(ordered), frozenset(pairs))

    @classmethod
    def from_adjacency(cls, names: Sequence[str],
                       matrix: np.ndarray | Sequence[Sequence[float]]) -> CallGraph:
        """Graph of a square matrix where a non-zero `matrix[i][j]` means i calls j."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.ndim != 2 or m.shape != (len(names), len(names)):
            raise errors.BadInput(
                f"adjacency matrix is {m.shape}, expected {len(names)} x {len(names)}")
        rows, cols = np.nonzero(np.nan_to_num(m))
        pairs = frozenset((names[int(i)], names[int(j)])
                          for i, j in zip(rows, cols, strict=True))
        return cls(tuple(names), pairs)

    def callees(self, node: str) -> tuple[str, ...]:
        return self._known(node, self._callees)

    def callers(self, node: str) -> tuple[str, ...]:
        return self._known(node, self._callers)

    def downstream(self, source: str) -> dict[str, int]:
        """Every service `source` reaches along callee edges, with its hop count (itself: 0),
        in breadth-first order."""
        self.callees(source)
        hops = {source: 0}
        queue = collections.deque([source])
        while queue:
            node = queue.popleft()
            for callee in self.callees(node):
                if callee not in hops:
                    hops[callee] = hops[node] + 1
                    queue.append(callee)
        return hops

    def _known(self, node: str, table: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
        if node not in table:
            raise errors.BadInput(f"{node!r} is not in the call graph")
        return table[node]


def personalized_pagerank(graph: CallGraph, nodes: Sequence[str], weight: Mapping[str, float],
                          source: str, *, back: float = 0.2, damping: float = 0.85,
                          rounds: int = 100, walked_only: bool = False) -> dict[str, float]:
    """Visit frequencies of a walk restricted to `nodes` that starts at `source`, follows
    callee edges in proportion to the callee's `weight` (its anomaly), steps back to
    callers at `back` times theirs, stays put when a service outweighs all its callees,
    and restarts at `source` with probability 1 - `damping`. `walked_only` leaves out the
    visits the restarts themselves pay to `source`, which say nothing about it."""
    index = {n: i for i, n in enumerate(nodes)}
    size = len(nodes)
    moves = np.zeros((size, size))
    for node, i in index.items():
        down = [(index[c], weight[c]) for c in graph.callees(node) if c in index]
        up = [(index[c], back * weight[c]) for c in graph.callers(node) if c in index]
        for j, w in down + up:
            moves[i, j] += w
        moves[i, i] += max(0.0, weight[node] - max((w for _, w in down), default=0.0))
    totals = moves.sum(axis=1, keepdims=True)
    restart = np.zeros(size)
    restart[index[source]] = 1.0
    # A service the walk cannot leave sends it home instead of trapping it.
    moves = np.where(totals > 0, moves / np.where(totals > 0, totals, 1.0), restart)
    visits = restart.copy()
    for _ in range(rounds):
        visits = (1 - damping) * restart + damping * visits @ moves
    if walked_only:
        visits = visits - (1 - damping) * restart
    return {n: float(visits[i]) for n, i in index.items()}
