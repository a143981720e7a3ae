"""Hybrid retrieval: BM25 over the pre-tokenised text, KNN over the vectors, fused by RRF.

Redis 8.2 has no ``FT.HYBRID`` (that arrives in 8.4), so the two searches run side by
side and :func:`knowledge.fusion.rrf` merges them here. Both take the same metadata
filter. The question goes through the tokenizer and the glossary exactly as chunks did at
ingest, so an English question also searches for the Chinese terms and the reverse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from redis.commands.search.query import Query
from redisvl.query.filter import FilterExpression, Tag

from knowledge import fusion
from knowledge import index as index_mod
from knowledge import intent as intent_mod
from knowledge import text as text_mod

__all__ = ["CANDIDATE_FIELDS", "Filters", "Hit", "SearchConfig", "hit_from_fields",
           "hybrid_search"]

# What the two candidate lists return: what fusion and the translation swap look at. The
# passage and the other fields are read for the k winners only, because the 2 x 40
# candidates' passages were most of what Redis sent and the client parsed per search
# (half the latency at 10,000 chunks; bench/kb_scale_bench.py).
CANDIDATE_FIELDS = ("source", "corpus", "heading", "lang", "kind")


@dataclass
class Filters:
    """Metadata filters; every one that is set must hold."""

    lang: str | None = None
    kind: str | None = None          # runbook | incident
    tags: list[str] = field(default_factory=list)  # any of them
    corpus: str | None = None

    def expression(self) -> FilterExpression | None:
        parts: list[FilterExpression] = []
        if self.lang:
            parts.append(Tag("lang") == self.lang)
        if self.kind:
            parts.append(Tag("kind") == self.kind)
        if self.tags:
            parts.append(Tag("tags") == list(self.tags))
        if self.corpus:
            parts.append(Tag("corpus") == self.corpus)
        if not parts:
            return None
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part
        return combined


@dataclass
class SearchConfig:
    """Retrieval knobs; the defaults are the ones bench/kb_bench.py measured best."""

    window: int = 40            # candidates taken from each list before fusion
    rrf_k: float = fusion.DEFAULT_K
    text_weight: float = 1.0
    # The vector side carries most of the cross-lingual bridge (LSA over glossary
    # co-occurrence); weighting it 2:1 was best in bench/kb_bench.py (1.5 and 3 tie).
    vector_weight: float = 2.0
    expand_query: bool = True   # glossary expansion of the question
    # Fuse per source (each list ranks a source by its best chunk) rather than per chunk,
    # so that a runbook is not outranked by one that merely has more matching sections.
    fuse_sources: bool = True
    # One full-text ranking per language instead of one for all: BM25 of an English
    # question against Chinese text rests on a few glossary terms, so in a shared list the
    # right Chinese runbook sits below every English one that shares a word with the
    # question. Separate lists give each language its own first place; the vector
    # ranking then arbitrates.
    split_languages: bool = False
    # When a runbook and its translation (``x.md`` / ``x.zh.md``) both rank, the one in the
    # question's language goes first. A general bonus for the asker's language was
    # measured and rejected: fused scores are so close that it buried every cross-lingual
    # answer; swapping translations with each other cannot.
    prefer_asker_language: bool = True


@dataclass
class Hit:
    """One retrieved chunk."""

    source: str
    title: str
    score: float
    text: str
    doc_title: str = ""
    lang: str = ""
    kind: str = "runbook"
    tags: list[str] = field(default_factory=list)
    anchor: str = ""
    chunk_id: str = ""
    corpus: str = ""
    feedback: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    text_rank: int | None = None
    vector_rank: int | None = None
    similarity: float = 0.0     # cosine similarity of the vectors, 0 when not retrieved
    key: str = ""               # the chunk's Redis key

    @property
    def headings_last(self) -> str:
        """The section's own heading (the last part of the title path)."""
        return self.title.rsplit(" › ", 1)[-1] if " › " in self.title else ""

    def to_json(self) -> dict[str, Any]:
        """The `opsbot kb search --json` contract."""
        return {"source": self.source, "title": self.title, "score": round(self.score, 4),
                "text": self.text}


def _text_command(index: index_mod.KnowledgeIndex, query: str, filters: Filters,
                  config: SearchConfig, lang: str | None = None) -> list[Any] | None:
    """FT.SEARCH arguments of the BM25 list; None when the question has no term."""
    parts = [query]
    if config.expand_query:
        parts.extend(index.glossary.expand(query))
    terms = list(dict.fromkeys(text_mod.tokens(" ".join(parts))))
    if not terms:
        return None
    clause = "@text|title:(" + "|".join(text_mod.escape_term(t) for t in terms) + ")"
    expression = (replace(filters, lang=lang) if lang else filters).expression()
    if expression is not None:
        clause = f"({clause}) {expression}"
    # No WITHSCORES: fusion uses ranks only, and every reply element costs parsing time.
    q = (Query(clause).scorer("BM25STD").paging(0, config.window)
         .return_fields(*CANDIDATE_FIELDS).dialect(2))
    return [index.name, *q.get_args()]


def _vector_command(index: index_mod.KnowledgeIndex, query: str, filters: Filters,
                    config: SearchConfig) -> list[Any] | None:
    """FT.SEARCH arguments of the KNN list; None when the vectoriser knows no word of it."""
    vector = index.embedder.embed_query(query)
    if not vector.any():
        return None  # a zero vector ranks at random
    # Written out rather than built by redisvl's VectorQuery: the same command, without a
    # pydantic model per search, and it can share a pipeline with the full-text list.
    expression = filters.expression()
    base = f"({expression})" if expression is not None else "*"
    q = (Query(f"{base}=>[KNN {config.window} @embedding $vector AS vector_distance]")
         .sort_by("vector_distance").return_fields(*CANDIDATE_FIELDS, "vector_distance")
         .paging(0, config.window).dialect(2))
    return [index.name, *q.get_args(), "PARAMS", 2, "vector",
            np.asarray(vector, dtype=np.float32).tobytes()]


def _candidate_lists(index: index_mod.KnowledgeIndex, commands: list[list[Any] | None]
                     ) -> list[list[tuple[str, dict[str, str]]]]:
    """Run the FT.SEARCH commands in one round trip; (key, fields) rows per command."""
    pipe = index.client.pipeline(transaction=False)
    for args in commands:
        if args is not None:
            pipe.execute_command("FT.SEARCH", *args)
    replies = iter(pipe.execute() if any(commands) else [])
    return [_parse_search(next(replies)) if args is not None else [] for args in commands]


def _parse_search(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """An FT.SEARCH reply in either protocol: RESP3 is a map whose "results" hold
    {id, extra_attributes}; RESP2 a flat [total, id, [field, value, ...], id, ...]."""
    if isinstance(reply, dict):
        reply = {_str(k): v for k, v in reply.items()}
        rows = []
        for item in reply.get("results") or []:
            item = {_str(k): v for k, v in item.items()}
            attributes = item.get("extra_attributes") or {}
            rows.append((_str(item.get("id", "")),
                         {_str(k): _str(v) for k, v in attributes.items()}))
        return rows
    out = []
    for i in range(1, len(reply) - 1, 2):
        flat = reply[i + 1] or []
        out.append((_str(reply[i]),
                    {_str(flat[j]): _str(flat[j + 1]) for j in range(0, len(flat) - 1, 2)}))
    return out


def _str(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def hit_from_fields(fields: dict[str, str], score: float = 0.0) -> Hit:
    """A hit from a chunk's stored fields (as search or ``KnowledgeIndex`` return them)."""
    try:
        extra = json.loads(fields.get("extra") or "{}")
    except ValueError:
        extra = {}
    return Hit(source=fields.get("source", ""), title=fields.get("heading", ""), score=score,
               text=fields.get("passage", ""), doc_title=fields.get("doc_title", ""),
               lang=fields.get("lang", ""), kind=fields.get("kind", "runbook"),
               tags=[t for t in fields.get("tags", "").split(",") if t],
               anchor=fields.get("anchor", ""), chunk_id=fields.get("chunk_id", ""),
               corpus=fields.get("corpus", ""), feedback=float(fields.get("feedback") or 0),
               extra=extra if isinstance(extra, dict) else {})


def _source_of(row: dict[str, str]) -> str:
    return f"{row.get('corpus', '')}\x1f{row.get('source', '')}"


def _fuse_by_source(fused: list[tuple[str, float]], rankings: list[list[str]],
                    weights: list[float], fields: dict[str, dict[str, str]],
                    config: SearchConfig) -> list[tuple[str, float]]:
    """Rank sources by RRF over their best rank in each list; each is represented by its
    best chunk in the chunk-level fusion ``fused``."""
    best_chunk: dict[str, str] = {}
    for key, _ in fused:
        source = _source_of(fields[key])
        if source not in best_chunk or _navigation(fields[best_chunk[source]]) > _navigation(
                fields[key]):
            best_chunk[source] = key  # a "Related" list only stands for a source as a last resort
    by_list = [list(dict.fromkeys(_source_of(fields[key]) for key in keys))
               for keys in rankings]
    ranked = fusion.rrf(by_list, weights=weights, k=config.rrf_k)
    return [(best_chunk[source], score) for source, score in ranked]


def _navigation(row: dict[str, str]) -> bool:
    heading = row.get("heading", "")
    return " › " in heading and intent_mod.is_navigation(heading.rsplit(" › ", 1)[-1])


def _languages(index: index_mod.KnowledgeIndex) -> list[str]:
    values = index.client.execute_command("FT.TAGVALS", index.name, "lang")
    return sorted(_str(v) for v in values) or ["en"]


def hybrid_search(index: index_mod.KnowledgeIndex, query: str, *, k: int = 5,
                  filters: Filters | None = None, per_source: int | None = 1,
                  config: SearchConfig | None = None) -> list[Hit]:
    """The ``k`` best chunks for ``query``, at most ``per_source`` from one source.

    ``score`` is the fused RRF score scaled so that 1.0 means first in both lists. Two
    round trips to Redis: both candidate lists in one pipeline, then the winners' fields.
    """
    config = config or SearchConfig()
    filters = filters or Filters()
    if config.split_languages and not filters.lang:
        text_commands = [_text_command(index, query, filters, config, lang=lang)
                         for lang in _languages(index)]
    else:
        text_commands = [_text_command(index, query, filters, config)]
    *text_lists, vector_rows = _candidate_lists(
        index, [*text_commands, _vector_command(index, query, filters, config)])
    fields: dict[str, dict[str, str]] = {}
    text_rank: dict[str, int] = {}
    for rows in text_lists:
        for rank, (key, row) in enumerate(rows, start=1):
            fields.setdefault(key, {}).update(row)
            text_rank.setdefault(key, rank)
    for key, row in vector_rows:
        fields.setdefault(key, {}).update(row)
    vector_rank = {key: rank for rank, (key, _) in enumerate(vector_rows, start=1)}
    rankings = [[key for key, _ in rows] for rows in [*text_lists, vector_rows]]
    weights = [config.text_weight] * len(text_lists) + [config.vector_weight]
    fused = fusion.rrf(rankings, weights=weights, k=config.rrf_k)
    if config.fuse_sources and per_source == 1:
        fused = _fuse_by_source(fused, rankings, weights, fields, config)
    best = (config.text_weight + config.vector_weight) / (config.rrf_k + 1)
    hits: list[Hit] = []
    per: dict[str, int] = {}
    for key, score in fused:
        row = fields[key]
        source = _source_of(row)
        if per_source is not None and per.get(source, 0) >= per_source:
            continue
        per[source] = per.get(source, 0) + 1
        # Only what ranking needs; _complete reads the rest for the k that are returned.
        hit = Hit(source=row.get("source", ""), title=row.get("heading", ""),
                  score=score / best, text="", lang=row.get("lang", ""),
                  kind=row.get("kind", "runbook"), corpus=row.get("corpus", ""),
                  key=key, text_rank=text_rank.get(key), vector_rank=vector_rank.get(key))
        if "vector_distance" in row:
            hit.similarity = 1.0 - float(row["vector_distance"])
        hits.append(hit)
    if config.prefer_asker_language:
        # Over the whole list, before cutting to k: the translation may rank below k.
        _translations_in_asker_language(hits, text_mod.detect_lang(query))
    return _complete(index, hits[:k])


def _complete(index: index_mod.KnowledgeIndex, hits: list[Hit]) -> list[Hit]:
    """The winners with all their stored fields (passage, tags, extra, ...), read in one
    round trip. A chunk deleted since the search (a concurrent ingest) is left out."""
    complete: list[Hit] = []
    for hit, row in zip(hits, index.chunk_fields([h.key for h in hits]), strict=True):
        if row is None:
            continue
        full = hit_from_fields(row, hit.score)
        full.key, full.text_rank, full.vector_rank, full.similarity = (
            hit.key, hit.text_rank, hit.vector_rank, hit.similarity)
        complete.append(full)
    return complete


_LANG_SUFFIX = re.compile(r"\.(en|zh|zh-cn|zh-hans)(?=\.md$)", re.I)


def _topic(hit: Hit) -> str:
    return f"{hit.corpus}\x1f{_LANG_SUFFIX.sub('', hit.source)}"


def _translations_in_asker_language(hits: list[Hit], asked: str) -> None:
    """Swap a runbook with a later-ranked translation of it in the asker's language (their
    scores too, so the list stays sorted)."""
    for i, hit in enumerate(hits):
        if hit.lang == asked or hit.kind != "runbook":
            continue
        for j in range(i + 1, len(hits)):
            other = hits[j]
            if other.lang == asked and _topic(other) == _topic(hit):
                hit.score, other.score = other.score, hit.score
                hits[i], hits[j] = other, hit
                break
