"""The RCA subgraph as a LangGraph StateGraph with a typed state, and `run_rca`, the
entry point the supervisor, the alert webhook and `opsbot replay` share."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from graph import targets
from graph.rca import analyze, window
from tools import errors

__all__ = ["RcaDeps", "RcaState", "build_rca", "run_rca"]

Narrator = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass
class RcaDeps:
    tools: targets.ToolCaller
    clock: Callable[[], float] = time.time
    narrator: Narrator | None = None
    # Past incidents like this one ("seen before: ... fixed by ..."), from incident memory.
    similar: Callable[[str], Awaitable[list[str]]] | None = None


class RcaState(TypedDict, total=False):
    target: dict[str, str]
    question: str
    started_at: str
    result: dict[str, Any]
    narrative: str


def build_rca(deps: RcaDeps) -> Any:
    async def investigate_node(state: RcaState) -> dict[str, Any]:
        began = time.perf_counter()
        now = deps.clock()
        span = window.window_from_text(state.get("question", ""), now,
                                       started_at=state.get("started_at", ""))
        target = targets.Target.from_dict(state["target"])
        found = await analyze.investigate(deps.tools, target, span)
        result: dict[str, Any] = {
            "causes": [c.to_dict() for c in found.causes],
            "took_s": round(time.perf_counter() - began, 3),
            "checked": found.checked, "missing": sorted(set(found.missing)),
            "window": {"start": span.start, "end": span.end},
        }
        if deps.similar is not None and found.causes:
            top = found.causes[0]
            try:
                result["similar"] = await deps.similar(
                    f"{top.kind} {top.resource} {top.summary}")
            except errors.OpsbotError as exc:
                result["missing"].append(f"incident memory: {exc}")
        return {"result": result}

    async def narrate_node(state: RcaState) -> dict[str, Any]:
        if deps.narrator is None or not state["result"]["causes"]:
            return {}
        try:
            return {"narrative": await deps.narrator(state["result"])}
        except Exception:  # noqa: BLE001 - a narrative is optional; the ranking stands alone
            return {}

    builder = StateGraph(RcaState)
    builder.add_node("investigate", investigate_node)
    builder.add_node("narrate", narrate_node)
    builder.add_edge(START, "investigate")
    builder.add_edge("investigate", "narrate")
    builder.add_edge("narrate", END)
    return builder.compile()


async def run_rca(deps: RcaDeps, target: targets.Target, *, question: str = "",
                  started_at: str = "") -> dict[str, Any]:
    """Ranked causes as the DESIGN.md section 3 JSON contract (plus checked/missing)."""
    graph = build_rca(deps)
    state = await graph.ainvoke({"target": target.to_dict(), "question": question,
                                 "started_at": started_at})
    result = dict(state["result"])
    if state.get("narrative"):
        result["narrative"] = state["narrative"]
    return result
