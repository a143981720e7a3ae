"""The composition root: backends chosen from settings, the tool session and the graph.

With nothing configured, opsbot runs on its embedded default: Redis 8 under the state
dir, the sandbox cluster with a scenario, and a local Prometheus over the scenario's
metric history. Each configured URL or kubeconfig replaces its embedded part.
Everything started here is stopped on exit, in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.redis.aio import AsyncRedisSaver
from redis import asyncio as aioredis

from bot import alertmanager, outbound
from bot import alerts as alerts_mod
from bot import backends as backends_mod
from bot import settings as settings_mod
from graph import chat, digest, digest_history, intents, rca, routes, supervisor, targets
from graph.fix import audit as fix_audit
from graph.fix import flow as fix_flow
from graph.fix import policy as fix_policy
from graph.fix import store as fix_store
from graph.fix import subgraph as fix_subgraph
from knowledge import embedders as kb_embedders
from knowledge import incidents as kb_incidents
from knowledge import service as kb_service
from tools import errors, server, session

if TYPE_CHECKING:
    from graph.llm import features as llm_features

__all__ = ["Runtime", "TurnResult"]

log = logging.getLogger(__name__)


@dataclass
class TurnResult:
    replies: list[chat.ChatReply]
    route: str = ""
    target: dict[str, str] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class Runtime:
    """Async context manager owning every backend opsbot talks to."""

    def __init__(self, settings: settings_mod.Settings, *, scenario: str | None = None,
                 with_prometheus: bool = True) -> None:
        self.settings = settings
        self.scenario = scenario or settings.kubernetes.sandbox_scenario
        self._with_prometheus = with_prometheus
        self._stack = contextlib.AsyncExitStack()
        self.redis_url = ""
        self.backends: backends_mod.Backends | None = None
        self.tools: session.ToolSession | None = None
        self.graph: Any = None
        self.redis: aioredis.Redis | None = None
        self.fix: fix_flow.FixFlow | None = None
        self.knowledge: kb_service.KnowledgeBase | None = None
        self.alerts: alerts_mod.AlertService | None = None
        self.digest: digest.DigestDeps | None = None
        self.llm: llm_features.LLMFeatures | None = None
        # Platforms register their posters here (opsbot serve, the console).
        self.outbound = outbound.Outbound()

    # -- start -------------------------------------------------------------------------
    async def __aenter__(self) -> Runtime:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.aclose()
        log.info("runtime stopped: connections closed, embedded servers stopped")

    async def _start(self) -> None:
        state = self.settings.state_path
        state.mkdir(parents=True, exist_ok=True)
        self.redis_url = self.settings.redis.url or self._start_redis(state / "redis")
        self.backends = self._stack.enter_context(backends_mod.Backends(
            self.settings, scenario=self.scenario, with_prometheus=self._with_prometheus))
        tool_server = None
        if self.settings.mcp.url:
            self.tools = session.ToolSession(url=self.settings.mcp.url)
        else:
            tool_server = server.build_server(self.backends.read_tools(),
                                              writer=self.backends.write_tools())
            self.tools = session.ToolSession(server=tool_server)
        await self._stack.enter_async_context(self.tools)
        self.llm = self._start_llm(tool_server)
        if self.llm is not None:
            self._stack.push_async_callback(self.llm.client.aclose)
        # A blocking pool: a burst of turns waits for a free connection instead of failing
        # with "Too many connections" (checkpoints, approvals and audit share it).
        pool = aioredis.BlockingConnectionPool.from_url(self.redis_url, max_connections=64,
                                                        timeout=20)
        self.redis = aioredis.Redis(connection_pool=pool)
        self._stack.push_async_callback(pool.aclose)
        self._stack.push_async_callback(self.redis.aclose)
        saver = AsyncRedisSaver(redis_client=self.redis)
        try:
            await self.redis.ping()
            await saver.asetup()
        except Exception as exc:  # the saver raises plain redis errors
            raise errors.BackendUnavailable("redis", f"{self.redis_url}: {exc}") from exc
        self._stack.push_async_callback(saver.__aexit__, None, None, None)
        self.knowledge = await self._start_knowledge()
        rca_deps = rca.RcaDeps(tools=self.tools,
                               narrator=self.llm.rca_narrator if self.llm else None,
                               similar=self._similar_incidents)
        self.fix = fix_flow.FixFlow(fix_subgraph.FixDeps(
            tools=self.tools, store=fix_store.ApprovalStore(self.redis),
            audit=fix_audit.Audit(self.redis), policy=self._policy(), checkpointer=saver,
            ttl_s=self.settings.policy.approval_ttl_minutes * 60.0,
            on_resolved=self.knowledge.on_remediation_resolved), rca_deps)
        deps = supervisor.SupervisorDeps(tools=self.tools,
                                         classifier=intents.IntentClassifier.load_default(),
                                         checkpointer=saver)
        if self.llm is not None:
            deps.fallback_router = self.llm.fallback_router
            deps.fallback_below = self.settings.llm.route_below
            deps.query_agent = self.llm.query_agent
        deps.handlers["rca"] = routes.rca_handler(rca_deps)
        deps.handlers["ask"] = routes.ask_handler(self.knowledge)
        deps.handlers["predict"] = routes.predict_handler(self.tools,
                                                          self.settings.state_path / "charts")
        deps.handlers.update(routes.fix_handlers(self.fix))
        self.digest = digest.DigestDeps(
            tools=self.tools, alerts=digest_history.AlertHistory(self.redis),
            numbers=digest_history.DailyNumbers(self.redis), store=self.fix.deps.store,
            audit=self.fix.deps.audit, timezone=self.settings.digest.timezone,
            chart_dir=state / "charts" if self.settings.digest.chart else None,
            services=self.settings.digest.services,
            narrator=self.llm.digest_narrator if self.llm else None)
        deps.handlers["digest"] = digest.digest_handler(self.digest)
        self.graph = supervisor.build_supervisor(deps)

        async def alert_rca(target: targets.Target, question: str,
                            started_at: str) -> dict[str, Any]:
            return await rca.run_rca(rca_deps, target, question=question,
                                     started_at=started_at)

        self.alerts = alerts_mod.AlertService(self.redis, targets.TargetResolver(self.tools),
                                              alert_rca, self.outbound)
        self._stack.push_async_callback(self.alerts.drain)

    async def _start_knowledge(self) -> kb_service.KnowledgeBase:
        """The runbook and incident index; the shipped runbooks are indexed on first use."""
        knowledge = kb_service.KnowledgeBase(
            self.redis_url, kb_embedders.from_settings(self.settings.llm),
            llm_answer=self.llm.ask_answerer if self.llm else None)
        self._stack.callback(knowledge.close)
        await asyncio.to_thread(knowledge.ensure_default_corpus)
        return knowledge

    async def _similar_incidents(self, text: str) -> list[str]:
        assert self.knowledge is not None
        found = await asyncio.to_thread(self.knowledge.similar_incidents, text, 3,
                                        min_similarity=0.35)
        section = kb_incidents.incident_section(found)
        return [line.removeprefix("• ") for line in section.text.splitlines()] if section \
            else []

    def _start_llm(self, tool_server: Any) -> llm_features.LLMFeatures | None:
        """LLM mode, only when an endpoint and a model are configured; the model gets the
        read tools listed by the same MCP server the graph calls."""
        llm = self.settings.llm
        if not llm.enabled or self.tools is None:
            return None
        # Imported here so that offline runs never load the model client.
        from graph.llm import agent, catalog, features
        from graph.llm import client as llm_client

        lister = (catalog.url_lister(self.settings.mcp.url) if tool_server is None
                  else catalog.fastmcp_lister(tool_server))
        limits = agent.AgentLimits(max_steps=llm.agent_max_steps,
                                   tool_output_chars=llm.tool_output_chars,
                                   history_tokens=llm.history_tokens)
        return features.build_features(llm_client.LLMConfig.from_settings(llm), self.tools,
                                       lister, limits=limits)

    def _policy(self) -> fix_policy.Policy:
        policy = self.settings.policy
        return fix_policy.Policy(approvers=policy.approvers, groups=policy.groups,
                                 namespaces=policy.namespaces,
                                 auto_approve_low=policy.auto_approve_low)

    def _start_redis(self, data_dir: Path) -> str:
        from tools.embedded import redis_server

        embedded = redis_server.EmbeddedRedis(data_dir)
        url = embedded.start()
        self._stack.callback(embedded.stop)
        return url

    @property
    def sandbox(self) -> Any:
        return self.backends.sandbox if self.backends else None

    @property
    def kubeconfig(self) -> str:
        return self.backends.kubeconfig if self.backends else ""

    # -- use ---------------------------------------------------------------------------
    def describe(self) -> list[str]:
        """Where everything runs, for the demo banner and `opsbot serve` logs."""
        embedded = "" if self.settings.redis.url else (
            f" (embedded, data in {self.settings.state_path / 'redis'})")
        return [
            f"redis       {self.redis_url}{embedded}",
            *(self.backends.describe() if self.backends else []),
            "tools       " + (f"MCP over HTTP at {self.settings.mcp.url}"
                              if self.settings.mcp.url else "MCP server in-process"),
            "llm         " + (f"{self.settings.llm.model} at {self.settings.llm.base_url}"
                              if self.llm else "none (offline classifier and answers)"),
        ]

    async def handle(self, request: chat.ChatRequest) -> TurnResult:
        """Run one message or click through the supervisor."""
        assert self.graph is not None and self.tools is not None, "runtime not started"
        before = self.tools.call_count
        config = {"configurable": {"thread_id": request.thread_id}}
        replies = await supervisor.run_turn(self.graph, request)
        snapshot = await self.graph.aget_state(config)
        values = snapshot.values if snapshot else {}
        made = min(self.tools.call_count - before, len(self.tools.calls))
        recent = list(self.tools.calls)[len(self.tools.calls) - made:] if made else []
        calls = [{"name": name, "arguments": args} for name, args in recent]
        return TurnResult(replies=replies, route=values.get("route", ""),
                          target=values.get("target"), tool_calls=calls)

    async def handle_alert(self, payload: alertmanager.AlertPayload) -> None:
        """Accept an Alertmanager notification; the investigation runs in the background."""
        assert self.alerts is not None, "runtime not started"
        self.alerts.accept(payload)

    async def readiness(self) -> dict[str, str]:
        """Backend -> "ok" or what is wrong, for /readyz."""
        states: dict[str, str] = {}
        try:
            assert self.redis is not None
            await self.redis.ping()
            states["redis"] = "ok"
        except (OSError, aioredis.RedisError) as exc:
            states["redis"] = f"unreachable: {exc}"
        if self.tools is None:
            return {**states, "mcp": "not started"}
        cluster = await self.tools.call("list_namespaces")
        states["kubernetes"] = "ok" if cluster.get("status") == "ok" else str(
            cluster.get("message"))
        states["mcp"] = "ok" if cluster.get("backend") != "mcp" else str(cluster.get("message"))
        backends = self.backends
        if backends is not None and backends.prom_api is not None:
            ready = await asyncio.to_thread(backends.prom_api.ready)
            states["prometheus"] = "ok" if ready else f"not ready at {backends.prometheus_url}"
        return states
