"""The RCA subgraph: collect evidence -> detect causes -> follow dependencies -> rank ->
propose actions. Works with no LLM; a configured model may only add a narrative."""

from graph.rca.subgraph import RcaDeps, RcaState, build_rca, run_rca

__all__ = ["RcaDeps", "RcaState", "build_rca", "run_rca"]
