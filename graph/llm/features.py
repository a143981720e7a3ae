"""LLM mode in one place: from the model configuration and the tool caller, the hooks the
supervisor, the RCA subgraph, the digest and /ask plug in. Built only when a base URL
and a model are configured; without them nothing here is imported or called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from graph import supervisor, targets
from graph.llm import agent, catalog, narrate, prompting, routing
from graph.llm import client as client_mod
from graph.rca import subgraph

__all__ = ["LLMFeatures", "build_features"]

log = logging.getLogger(__name__)


@dataclass
class LLMFeatures:
    client: client_mod.LLMClient
    prompts: prompting.Prompts
    catalog: catalog.Catalog
    fallback_router: supervisor.FallbackRouter
    query_agent: supervisor.QueryAgent
    rca_narrator: subgraph.Narrator
    digest_narrator: narrate.DigestNarrator
    ask_answerer: narrate.AskAnswerer


def build_features(config: client_mod.LLMConfig, tools: targets.ToolCaller,
                   lister: catalog.ToolLister, *, limits: agent.AgentLimits | None = None,
                   route_min_confidence: float = 0.5,
                   client: client_mod.LLMClient | None = None) -> LLMFeatures:
    """Every LLM hook over one shared client (one breaker, one place to configure)."""
    prompts = prompting.load_prompts()
    shared = client or client_mod.LLMClient(config)
    tool_catalog = catalog.Catalog(lister)
    log.info("LLM mode: model %s at %s; prompts %s", config.model, config.base_url,
             prompts.versions())
    return LLMFeatures(
        client=shared, prompts=prompts, catalog=tool_catalog,
        fallback_router=routing.make_fallback_router(shared, prompts,
                                                     min_confidence=route_min_confidence),
        query_agent=agent.make_query_agent(shared, prompts, tools, tool_catalog, limits),
        rca_narrator=narrate.make_rca_narrator(shared, prompts),
        digest_narrator=narrate.make_digest_narrator(shared, prompts),
        ask_answerer=narrate.make_ask_answerer(shared, prompts),
    )
