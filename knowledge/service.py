"""`KnowledgeBase`: the one object the rest of opsbot uses for runbooks and incident memory.

It owns the Redis connection and the index, and is the edge where redis and redisvl errors
become :class:`tools.errors.BackendUnavailable` ("redis is unreachable: ..."). Calls are
synchronous (redisvl's sync client, millisecond queries on a small corpus); the graph uses
the ``a*`` variants, which run them in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.backoff
import redis.retry
from redisvl import exceptions as redisvl_exceptions
from redisvl.query import FilterQuery

from graph import chat
from knowledge import answer as answer_mod
from knowledge import embedders, incidents, retrieval
from knowledge import index as index_mod
from knowledge import ingest as ingest_mod
from tools import errors

__all__ = ["BUILTIN_CORPUS", "DEFAULT_INDEX", "DEFAULT_RUNBOOKS", "KnowledgeBase"]

log = logging.getLogger(__name__)

DEFAULT_RUNBOOKS = Path(__file__).with_name("runbooks")
# The shipped runbooks are one corpus wherever the package is installed, so moving the
# installation does not index them twice.
BUILTIN_CORPUS = "builtin"
# The index `opsbot serve` answers from and `opsbot kb` fills unless told another.
DEFAULT_INDEX = "opsbot-kb"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class KnowledgeBase:
    """Runbooks and past incidents in one hybrid index.

    ``llm_answer`` (optional) is an async ``(question, hits) -> text`` used by
    :meth:`aanswer`; without it, and whenever it fails, answers are extractive.
    ``link_base`` turns sources into links (e.g. the runbooks folder in your Git web UI).
    """

    def __init__(self, redis_url: str, embedder: embedders.Embedder | None = None, *,
                 index_name: str = DEFAULT_INDEX, link_base: str = "",
                 llm_answer: answer_mod.LLMAnswer | None = None,
                 search_config: retrieval.SearchConfig | None = None) -> None:
        self.redis_url = redis_url
        self.embedder = embedder or embedders.OfflineEmbedder()
        self.index_name = index_name
        self.link_base = link_base
        self.llm_answer = llm_answer
        self.search_config = search_config or retrieval.SearchConfig()
        self.rebuilt = False  # True when open() re-embedded what another embedder built
        self._client: redis.Redis | None = None
        self._index: index_mod.KnowledgeIndex | None = None
        # redisvl's sync index is not safe to open twice concurrently from worker threads.
        self._lock = threading.RLock()

    # -- plumbing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _redis_errors(self) -> Iterator[None]:
        try:
            yield
        except (redis.RedisError, redisvl_exceptions.RedisVLError) as exc:
            cause = exc.__cause__ if isinstance(exc, redisvl_exceptions.RedisVLError) else None
            detail = str(cause or exc) or type(exc).__name__
            raise errors.BackendUnavailable(
                "redis", f"{_redacted(self.redis_url)} (knowledge index): {detail}") from exc

    @property
    def index(self) -> index_mod.KnowledgeIndex:
        """The opened index; connects, and rebuilds on an embedder change, on first use."""
        with self._lock:
            if self._index is None:
                with self._redis_errors():
                    # RESP2: a search reply is ~30% fewer elements than in RESP3 (no
                    # map keys per result), and redis-py parses each in Python; that was
                    # a quarter of a search's client time at 10,000 chunks.
                    client = redis.Redis.from_url(
                        self.redis_url, socket_connect_timeout=3.0, socket_timeout=15.0,
                        retry=redis.retry.Retry(redis.backoff.NoBackoff(), 1), protocol=2)
                    client.ping()
                    idx = index_mod.KnowledgeIndex(client, self.embedder,
                                                   name=self.index_name)
                    self.rebuilt = idx.open()
                self._client, self._index = client, idx
            return self._index

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client, self._index = None, None

    # -- runbooks ------------------------------------------------------------------------

    @staticmethod
    def corpus_for(root: Path) -> str:
        resolved = root.expanduser().resolve()
        return BUILTIN_CORPUS if resolved == DEFAULT_RUNBOOKS.resolve() else str(resolved)

    def ingest(self, root: Path | str, *, corpus: str | None = None) -> ingest_mod.IngestReport:
        """Bring the index in line with the Markdown under ``root`` (see ``ingest_dir``)."""
        path = Path(root)
        with self._redis_errors():
            return ingest_mod.ingest_dir(self.index, path, corpus=corpus or self.corpus_for(path))

    def ensure_default_corpus(self) -> ingest_mod.IngestReport | None:
        """Ingest the shipped runbooks when no runbook is indexed yet (start-up)."""
        if not self.is_empty() or not DEFAULT_RUNBOOKS.is_dir():
            return None
        report = self.ingest(DEFAULT_RUNBOOKS, corpus=BUILTIN_CORPUS)
        log.info("%s", report.summary())
        return report

    def is_empty(self) -> bool:
        """True when no runbook is indexed (incidents alone do not answer how-to questions)."""
        with self._redis_errors():
            rows = self.index.search_index.query(FilterQuery(
                filter_expression=retrieval.Filters(kind="runbook").expression(),
                return_fields=["source"], num_results=1))
        return not rows

    def search(self, query: str, k: int = 5, filters: retrieval.Filters | None = None, *,
               per_source: int | None = 1) -> list[retrieval.Hit]:
        """The best chunks for ``query``, one per source unless ``per_source`` says more."""
        with self._redis_errors():
            return retrieval.hybrid_search(self.index, query, k=k, filters=filters,
                                           per_source=per_source, config=self.search_config)

    def answer(self, question: str, filters: retrieval.Filters | None = None) -> chat.ChatReply:
        """An extractive answer card (no LLM involved)."""
        if self.is_empty():
            return answer_mod.no_index_reply()
        hits = self.search(question, k=6, filters=filters or retrieval.Filters(kind="runbook"),
                           per_source=2)
        return answer_mod.extractive_reply(question, hits, link_base=self.link_base,
                                           sections=self._sections(hits))

    def _sections(self, hits: Sequence[retrieval.Hit]) -> list[retrieval.Hit]:
        """All sections of the best runbook, for choosing the passage to quote."""
        if not hits:
            return []
        with self._redis_errors():
            rows = self.index.source_chunks(hits[0].corpus, hits[0].source)
        return [retrieval.hit_from_fields(row) for row in rows]

    async def aanswer(self, question: str,
                      filters: retrieval.Filters | None = None) -> chat.ChatReply:
        """The answer for chat: grounded by the LLM hook when there is one, else extractive."""
        if await asyncio.to_thread(self.is_empty):
            return answer_mod.no_index_reply()
        hits = await asyncio.to_thread(
            self.search, question, 6, filters or retrieval.Filters(kind="runbook"),
            per_source=2)
        if self.llm_answer is None or not hits:
            sections = await asyncio.to_thread(self._sections, hits)
            return answer_mod.extractive_reply(question, hits, link_base=self.link_base,
                                               sections=sections)
        return await answer_mod.llm_reply(question, hits, self.llm_answer,
                                          link_base=self.link_base)

    # -- incident memory -----------------------------------------------------------------

    def record_incident(self, record: incidents.IncidentRecord | dict[str, Any]) -> str:
        """Store (or update) a resolved incident; accepts a remediation record as well."""
        incident = (record if isinstance(record, incidents.IncidentRecord)
                    else incidents.from_remediation(record))
        with self._redis_errors():
            incidents.store(self.index, incident)
        return incident.id

    def record_feedback(self, incident_id: str, verdict: str | float) -> bool:
        """Good/bad feedback (or a score) on a stored incident; False when unknown."""
        with self._redis_errors():
            return incidents.set_feedback(self.index, incident_id, verdict)

    def similar_incidents(self, text: str, k: int = 3, *, min_similarity: float = 0.0
                          ) -> list[incidents.SimilarIncident]:
        with self._redis_errors():
            return incidents.similar(self.index, text, k=k, min_similarity=min_similarity,
                                     config=self.search_config)

    async def on_remediation_resolved(self, record: dict[str, Any]) -> None:
        """``FixDeps.on_resolved``: a verified (or failed) remediation, or its feedback,
        becomes searchable incident memory. Never lets the fix flow fail over it."""
        try:
            await asyncio.to_thread(self.record_incident, record)
        except (errors.OpsbotError, ValueError) as exc:
            log.warning("could not record incident %s: %s", record.get("id"), exc)

    def related_runbooks(self, text: str, k: int = 3) -> list[retrieval.Hit]:
        """Runbooks for an RCA finding (e.g. "OOMKilled checkout"), for the RCA card."""
        return self.search(text, k=k, filters=retrieval.Filters(kind="runbook"))

    def stats(self) -> dict[str, Any]:
        with self._redis_errors():
            return {"chunks": self.index.count(), **self.index.meta(),
                    "rebuilt": self.rebuilt}

    def sources(self, corpora: Sequence[str] = (BUILTIN_CORPUS,)) -> dict[str, Any]:
        with self._redis_errors():
            return {c: self.index.sources(c) for c in corpora}
