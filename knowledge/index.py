"""The knowledge index in Redis: a redisvl SearchIndex over chunk hashes, plus bookkeeping.

Keys (all under ``opsbot:kb:``):

- ``chunk:<corpus>:<chunk id>`` one hash per chunk: the full-text fields (pre-tokenised,
  see :mod:`knowledge.text`), tags, the vector, and the raw passage for quoting;
- ``sources`` a hash ``<corpus>\\x1f<source>`` -> JSON {hash, ids, title, ...}: what each
  ingested file produced, so that an unchanged file costs one read and no write;
- ``meta`` which embedder built the vectors, its dimensions and its fitted state.

When ``meta`` names another embedder than the one in use, every stored chunk is embedded
again and the index recreated (:meth:`KnowledgeIndex.open`), since vectors from two
embedders are not comparable. Search is hybrid: see :mod:`knowledge.retrieval`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis
from redisvl.index import SearchIndex
from redisvl.schema import IndexSchema

from knowledge import chunking, embedders
from knowledge import glossary as glossary_mod
from knowledge import text as text_mod

__all__ = [
    "CHUNK_FIELDS",
    "SCHEMA_VERSION",
    "KnowledgeIndex",
    "StoredChunk",
    "SyncResult",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
_ROOT = "opsbot:kb:"
_SEP = "\x1f"
# Fields every search returns; the vector and the tokenised forms are never sent back.
CHUNK_FIELDS = ("chunk_id", "source", "corpus", "doc_title", "heading", "anchor", "passage",
                "lang", "kind", "tags", "feedback", "extra", "position")
# Past this share of the corpus changed in one ingest, the offline vectoriser is refitted
# (its vocabulary and latent axes come from the corpus) and every chunk re-embedded.
REFIT_SHARE = 0.5
# Texts per embedder call in a bulk ingest (see KnowledgeIndex.embed_batch).
_EMBED_BATCH = 1000


@dataclass
class StoredChunk:
    """A chunk as read back from Redis."""

    key: str
    fields: dict[str, str]

    def embed_text(self) -> str:
        return embed_text(self.fields.get("heading", ""), self.fields.get("tags", ""),
                          self.fields.get("passage", ""))


@dataclass
class SyncResult:
    status: str  # added | updated | unchanged
    written: int = 0
    deleted: int = 0


def embed_text(heading: str, tags: str, passage: str) -> str:
    """What the vectoriser sees: the title path (it names the topic), tags and text."""
    return f"{heading}\n{tags.replace(',', ' ')}\n{passage}"


def _corpus_key(corpus: str) -> str:
    return hashlib.sha1(corpus.encode("utf-8")).hexdigest()[:8]


def _decode(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class KnowledgeIndex:
    """Chunks of runbooks and incidents, indexed for full text and vectors."""

    def __init__(self, client: redis.Redis, embedder: embedders.Embedder, *,
                 name: str = "opsbot-kb", glossary: glossary_mod.Glossary | None = None,
                 expand_documents: bool = False) -> None:
        self.client = client
        self.embedder = embedder
        self.name = name
        self.glossary = glossary or glossary_mod.load_default()
        self.expand_documents = expand_documents
        self.prefix = f"{_ROOT}{name}:chunk:"
        self._sources_key = f"{_ROOT}{name}:sources"
        self._meta_key = f"{_ROOT}{name}:meta"
        self._index: SearchIndex | None = None

    # -- schema and lifecycle ------------------------------------------------------------

    def _schema(self, dims: int) -> IndexSchema:
        return IndexSchema.from_dict({
            "index": {"name": self.name, "prefix": self.prefix, "storage_type": "hash"},
            "fields": [
                {"name": "text", "type": "text"},
                # Headings and tags name the topic: a hit there says more than one in prose.
                {"name": "title", "type": "text", "attrs": {"weight": 3.0}},
                {"name": "source", "type": "tag", "attrs": {"separator": _SEP}},
                {"name": "corpus", "type": "tag", "attrs": {"separator": _SEP}},
                {"name": "lang", "type": "tag"},
                {"name": "kind", "type": "tag"},
                {"name": "tags", "type": "tag", "attrs": {"separator": ","}},
                {"name": "feedback", "type": "numeric"},
                {"name": "embedding", "type": "vector", "attrs": {
                    "algorithm": "flat", "dims": dims, "distance_metric": "cosine",
                    "datatype": "float32"}},
            ],
        })

    @property
    def search_index(self) -> SearchIndex:
        if self._index is None:
            raise RuntimeError("KnowledgeIndex.open() has not run")
        return self._index

    def meta(self) -> dict[str, str]:
        raw = self.client.hgetall(self._meta_key)
        return {_decode(k): _decode(v) for k, v in raw.items() if _decode(k) != "state"}

    def open(self) -> bool:
        """Create the index, or rebuild it when another embedder built it.

        Returns True when the stored chunks were embedded again. The offline embedder's
        fitted state is loaded from Redis here, so a new process searches with the very
        vectors the index holds.
        """
        meta = self.meta()
        same = (meta.get("embedder") == self.embedder.name
                and meta.get("schema") == SCHEMA_VERSION)
        state = self.client.hget(self._meta_key, "state") if same else None
        if same and isinstance(state, bytes):
            self.embedder.load_state(state)
        dims = int(meta["dims"]) if same and meta.get("dims") else self.embedder.dims
        self._index = SearchIndex(self._schema(dims), redis_client=self.client)
        if same and self._index.exists():
            return False
        stored = list(self.stored_chunks())
        if meta:
            log.warning("knowledge index was built by %s (schema %s); re-embedding %d chunks "
                        "with %s", meta.get("embedder"), meta.get("schema"), len(stored),
                        self.embedder.name)
        self._index.create(overwrite=True, drop=False)
        self._reembed(stored)
        return bool(stored)

    def refit(self) -> int:
        """Fit the embedder on every stored chunk and embed them all again."""
        stored = list(self.stored_chunks())
        self._reembed(stored)
        return len(stored)

    def _reembed(self, stored: Sequence[StoredChunk]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self._meta_key, mapping={
            "embedder": self.embedder.name, "dims": str(self.embedder.dims),
            "schema": SCHEMA_VERSION})
        if not stored:
            # Nothing to fit on yet: the first ingest fits on its own corpus.
            pipe.hdel(self._meta_key, "state", "fitted_chunks", "fitted_at")
            pipe.execute()
            return
        texts = [chunk.embed_text() for chunk in stored]
        if self.embedder.needs_fit:
            self.embedder.fit(texts)
            pipe.hset(self._meta_key, mapping={
                "state": self.embedder.state(), "fitted_chunks": str(len(stored)),
                "fitted_at": f"{time.time():.0f}"})
        for chunk, vector in zip(stored, self.embedder.embed(texts), strict=True):
            pipe.hset(chunk.key, "embedding", vector.astype(np.float32).tobytes())
        pipe.execute()

    def is_fitted(self) -> bool:
        return not self.embedder.needs_fit or bool(self.client.hexists(self._meta_key, "state"))

    def ensure_fitted(self, texts: Sequence[str]) -> bool:
        """Before the first chunks of an empty index are embedded, fit on them (callers
        pass the whole batch they are about to write, not one document's chunks).
        Returns True when it fitted."""
        if self.is_fitted() or not texts:
            return False
        self.embedder.fit(list(texts))
        self._save_fit(len(texts))
        return True

    def embed_batch(self, texts: Sequence[str]) -> tuple[bool, np.ndarray]:
        """Vectors for a batch of chunk texts about to be written, one row per text.

        An unfitted embedder is fitted on the batch first, as :meth:`ensure_fitted` does,
        and the bool says so; otherwise the texts are embedded a thousand at a time, which
        bounds the memory of a large ingest without a call (or a request) per file.
        """
        if not texts:
            return False, np.zeros((0, self.embedder.dims), dtype=np.float32)
        if not self.is_fitted():
            vectors = self.embedder.fit_embed(list(texts))
            self._save_fit(len(texts))
            return True, vectors
        return False, np.vstack([self.embedder.embed(texts[start:start + _EMBED_BATCH])
                                 for start in range(0, len(texts), _EMBED_BATCH)])

    def _save_fit(self, fitted_chunks: int) -> None:
        self.client.hset(self._meta_key, mapping={
            "state": self.embedder.state(), "fitted_chunks": str(fitted_chunks),
            "fitted_at": f"{time.time():.0f}"})

    def drop(self) -> None:
        """Delete the index, its chunks and its bookkeeping."""
        if self._index is not None and self._index.exists():
            self._index.delete(drop=True)
        keys = list(self.client.scan_iter(match=self.prefix + "*", count=500))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start:start + 500])
        self.client.delete(self._sources_key, self._meta_key)
        self._index = None

    # -- reading -------------------------------------------------------------------------

    def count(self) -> int:
        """Chunks in the index (runbooks and incidents)."""
        return int(self.search_index.info().get("num_docs", 0))

    def stored_chunks(self) -> Iterator[StoredChunk]:
        keys = sorted(self.client.scan_iter(match=self.prefix + "*", count=500))
        for start in range(0, len(keys), 200):
            batch = keys[start:start + 200]
            pipe = self.client.pipeline(transaction=False)
            for key in batch:
                pipe.hmget(key, list(CHUNK_FIELDS))
            for key, values in zip(batch, pipe.execute(), strict=True):
                fields = {name: _decode(v) for name, v in zip(CHUNK_FIELDS, values,
                                                              strict=True) if v is not None}
                yield StoredChunk(_decode(key), fields)

    def sources(self, corpus: str) -> dict[str, dict[str, Any]]:
        """source -> its record (hash, chunk ids, title) for one corpus."""
        out: dict[str, dict[str, Any]] = {}
        for field, value in self.client.hgetall(self._sources_key).items():
            owner, _, source = _decode(field).partition(_SEP)
            if owner == corpus:
                out[source] = json.loads(_decode(value))
        return out

    def chunk_fields(self, keys: Sequence[str]) -> list[dict[str, str] | None]:
        """The stored fields of chunks by key, in one round trip; None for a missing key."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, list(CHUNK_FIELDS))
        out: list[dict[str, str] | None] = []
        for values in pipe.execute():
            row = {name: _decode(v) for name, v in zip(CHUNK_FIELDS, values, strict=True)
                   if v is not None}
            out.append(row if row.get("chunk_id") else None)
        return out

    def source_record(self, corpus: str, source: str) -> dict[str, Any] | None:
        raw = self.client.hget(self._sources_key, f"{corpus}{_SEP}{source}")
        return json.loads(_decode(raw)) if raw else None

    def source_chunks(self, corpus: str, source: str) -> list[dict[str, str]]:
        """Every chunk of one source (its stored fields), in document order."""
        record = self.source_record(corpus, source)
        if not record:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in record.get("keys", []):
            pipe.hmget(key, list(CHUNK_FIELDS))
        rows = [{name: _decode(v) for name, v in zip(CHUNK_FIELDS, values, strict=True)
                 if v is not None} for values in pipe.execute()]
        return sorted(rows, key=lambda row: int(row.get("position") or 0))

    # -- writing -------------------------------------------------------------------------

    def chunk_key(self, corpus: str, chunk_id: str) -> str:
        return f"{self.prefix}{_corpus_key(corpus)}:{chunk_id}"

    def _search_fields(self, chunk: chunking.Chunk) -> dict[str, str]:
        body = chunk.text
        title = " ".join([chunk.title, *chunk.tags])
        if self.expand_documents:
            body += "\n" + " ".join(self.glossary.expand(chunk.text))
            title += "\n" + " ".join(self.glossary.expand(title))
        return {"text": text_mod.search_form([body]), "title": text_mod.search_form([title])}

    def upsert(self, corpus: str, doc: chunking.Document, chunks: Sequence[chunking.Chunk], *,
               extra: dict[str, Any] | None = None, feedback: float = 0.0,
               known: Mapping[str, dict[str, Any]] | None = None,
               vectors: np.ndarray | None = None) -> SyncResult:
        """Write a document's chunks unless its content hash is unchanged; old ones go.

        A bulk caller passes what it already has, to save a round trip and an embedder
        call per document: ``known``, the corpus's records as :meth:`sources` returned
        them, and ``vectors``, one row per chunk.
        """
        record = (known.get(doc.source) if known is not None
                  else self.source_record(corpus, doc.source))
        if record and record.get("hash") == doc.hash:
            return SyncResult("unchanged")
        keys = [self.chunk_key(corpus, chunk.id) for chunk in chunks]
        if vectors is None:
            texts = [embed_text(c.title, ",".join(c.tags), c.text) for c in chunks]
            self.ensure_fitted(texts)
            vectors = (self.embedder.embed(texts) if texts
                       else np.zeros((0, self.embedder.dims), dtype=np.float32))
        elif len(vectors) != len(chunks):
            raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
        stale = set(record.get("keys", [])) - set(keys) if record else set()
        pipe = self.client.pipeline(transaction=True)
        if stale:
            pipe.delete(*stale)
        for key, chunk, vector in zip(keys, chunks, vectors, strict=True):
            mapping: dict[str, str | bytes] = {
                **self._search_fields(chunk),
                "chunk_id": chunk.id, "source": chunk.source, "corpus": corpus,
                "doc_title": chunk.doc_title, "heading": chunk.title, "anchor": chunk.anchor,
                "passage": chunk.text, "lang": chunk.lang, "kind": chunk.kind,
                "tags": ",".join(chunk.tags), "feedback": str(feedback),
                "extra": json.dumps(extra or {}, ensure_ascii=False),
                "position": str(chunk.position), "doc_hash": doc.hash,
                "embedding": np.asarray(vector, dtype=np.float32).tobytes()}
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
        pipe.hset(self._sources_key, f"{corpus}{_SEP}{doc.source}", json.dumps({
            "hash": doc.hash, "keys": keys, "title": doc.title, "lang": doc.lang,
            "kind": doc.kind, "chunks": len(chunks),
            **({"warnings": doc.warnings} if doc.warnings else {})}, ensure_ascii=False))
        pipe.execute()
        return SyncResult("updated" if record else "added", written=len(keys),
                          deleted=len(stale))

    def set_fields(self, corpus: str, source: str, **fields: str | bytes) -> int:
        """Change stored fields (e.g. feedback) of a source's chunks without re-embedding."""
        record = self.source_record(corpus, source)
        if not record:
            return 0
        pipe = self.client.pipeline(transaction=True)
        for key in record.get("keys", []):
            pipe.hset(key, mapping=dict(fields))  # type: ignore[arg-type]
        pipe.execute()
        return len(record.get("keys", []))

    def remove(self, corpus: str, source: str) -> int:
        """Delete a source's chunks; returns how many went."""
        record = self.source_record(corpus, source)
        if record is None:
            return 0
        keys = list(record.get("keys", []))
        pipe = self.client.pipeline(transaction=True)
        if keys:
            pipe.delete(*keys)
        pipe.hdel(self._sources_key, f"{corpus}{_SEP}{source}")
        pipe.execute()
        return len(keys)
