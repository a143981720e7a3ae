"""Text -> vectors: an offline default and OpenAI-compatible embeddings.

The offline embedder needs no download: a TF-IDF vectoriser over English words, Chinese
character bigrams and the bilingual glossary's expansions, reduced by truncated SVD (latent
semantic analysis) to a fixed width. It is fitted on the indexed corpus plus the glossary
entries, each entry being a tiny two-language document, so that SVD learns that "memory"
and "内存" go together. The fitted state (vocabulary, idf, SVD components) is plain arrays,
stored in Redis with the index so that another process searches with the same vectors;
it is never pickled, so nothing executable is ever loaded from Redis.

Every embedder has a ``name`` that the index records: a different name means different
vectors, and the index is rebuilt instead of mixing them.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import openai
from pydantic import SecretStr
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge import glossary as glossary_mod
from knowledge import text as text_mod
from tools import errors

__all__ = [
    "Embedder",
    "OfflineConfig",
    "OfflineEmbedder",
    "OpenAIEmbedder",
    "from_settings",
]

log = logging.getLogger(__name__)

# Up to this many fitted texts (chunks plus glossary entries) the LSA is computed exactly;
# beyond it, by randomised SVD (see _top_components).
EXACT_SVD_MAX_DOCS = 2000


class Embedder(Protocol):
    """What the index needs from an embedder."""

    @property
    def name(self) -> str:
        """Identifies the vectors: recorded with the index; a change triggers a rebuild."""
        ...

    @property
    def dims(self) -> int: ...

    @property
    def needs_fit(self) -> bool:
        """True when vectors depend on the corpus (the offline one) and must be refitted
        before a corpus-wide re-embedding."""
        ...

    def fit(self, texts: Sequence[str]) -> None: ...

    def fit_embed(self, texts: Sequence[str]) -> np.ndarray:
        """``fit(texts)`` then ``embed(texts)``, in one pass where the embedder can."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Documents -> float32 rows, L2-normalised, one per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """A question -> one L2-normalised float32 vector (may differ from a document's)."""
        ...

    def state(self) -> bytes: ...

    def load_state(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class OfflineConfig:
    """The knobs of the offline embedder; all of them are part of its name."""

    dims: int = 256
    # Defaults measured in bench/kb_bench.py --grid: expanding questions only beats
    # expanding documents too (double expansion drowns the words actually written).
    expand_documents: bool = False  # add the other language's terms to indexed texts
    expand_queries: bool = True     # ... and to questions
    glossary_docs: bool = True      # fit on the glossary entries as extra documents
    char_ngrams: bool = True        # char 3-4-grams: inflections, ids, partial names
    sublinear_tf: bool = True


def _l2(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (rows / norms).astype(np.float32)


def _analyzer(doc: str) -> list[str]:
    return text_mod.tokens(doc)


class OfflineEmbedder:
    """TF-IDF over words, Chinese bigrams and glossary terms, then LSA to ``dims``."""

    def __init__(self, config: OfflineConfig | None = None,
                 glossary: glossary_mod.Glossary | None = None) -> None:
        self.config = config or OfflineConfig()
        self.glossary = glossary or glossary_mod.load_default()
        self._words: TfidfVectorizer | None = None
        self._chars: TfidfVectorizer | None = None
        self._components: np.ndarray | None = None
        # (vectoriser, its analyser, first column in the stacked matrix) for embed_query;
        # built on first use after each fit or load_state.
        self._query_plan: list[tuple[TfidfVectorizer, Callable[[str], list[str]], int]] = []

    @property
    def name(self) -> str:
        c = self.config
        flags = "".join(flag for flag, on in (
            ("e", c.expand_documents), ("q", c.expand_queries), ("d", c.glossary_docs),
            ("c", c.char_ngrams), ("s", c.sublinear_tf)) if on)
        return f"offline-lsa-v1:{c.dims}:{flags}:{self.glossary.fingerprint()}"

    @property
    def dims(self) -> int:
        return self.config.dims

    @property
    def needs_fit(self) -> bool:
        return True

    @property
    def fitted(self) -> bool:
        return self._words is not None and self._components is not None

    def _prepare(self, text: str, *, query: bool = False) -> str:
        if not (self.config.expand_queries if query else self.config.expand_documents):
            return text
        return text + "\n" + " ".join(self.glossary.expand(text))

    def _glossary_docs(self) -> list[str]:
        if not self.config.glossary_docs:
            return []
        return [" ".join(en + zh) for en, zh in self.glossary.entries]

    def _new_vectorisers(self) -> tuple[TfidfVectorizer, TfidfVectorizer | None]:
        words = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=self.config.sublinear_tf,
                                min_df=1, dtype=np.float32)
        chars = (TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), min_df=2,
                                 sublinear_tf=self.config.sublinear_tf, dtype=np.float32)
                 if self.config.char_ngrams else None)
        return words, chars

    def _sparse(self, prepared: Sequence[str]) -> Any:
        assert self._words is not None
        blocks = [self._words.transform(prepared)]
        if self._chars is not None:
            blocks.append(self._chars.transform(prepared))
        return self._stack(blocks)

    @staticmethod
    def _stack(blocks: list[Any]) -> Any:
        from scipy import sparse  # scikit-learn's own dependency

        return blocks[0] if len(blocks) == 1 else sparse.hstack(blocks).tocsr()

    def fit(self, texts: Sequence[str]) -> None:
        self._fit(texts)

    def fit_embed(self, texts: Sequence[str]) -> np.ndarray:
        # The fit's own tf-idf rows: transforming the texts again would repeat the slowest
        # step of a first ingest (a quarter of it at 10,000 chunks).
        return self._reduce(self._fit(texts)[: len(texts)])

    def _fit(self, texts: Sequence[str]) -> Any:
        """Fit on ``texts`` (plus the glossary entries); returns their tf-idf matrix."""
        prepared = [self._prepare(t) for t in texts] + self._glossary_docs()
        if not prepared:
            prepared = ["empty"]
        self._words, self._chars = self._new_vectorisers()
        self._query_plan = []
        # fit_transform, not fit then transform: analysing every text (char n-grams above
        # all) is the slow part of a large ingest, and this does it once.
        matrix = self._stack([self._words.fit_transform(prepared),
                              *([self._chars.fit_transform(prepared)]
                                if self._chars is not None else [])])
        rank = min(self.config.dims, matrix.shape[0] - 1, matrix.shape[1] - 1)
        if rank < 1:
            # A one-document corpus has nothing to reduce: keep the identity on its terms.
            self._components = np.eye(1, matrix.shape[1], dtype=np.float32)
            return matrix
        # Rounded to the float16 that state() stores, so that this process and one that
        # loads the state produce the very same vectors.
        self._components = _top_components(matrix, rank).astype(np.float16).astype(np.float32)
        return matrix

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self._prepare(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        """The same vector as ``_embed`` would give, computed without scikit-learn.

        For a single short text, scikit-learn's transform is mostly input validation
        (about 1.5 ms of the 2 ms a question took); the arithmetic is a few hundred
        dictionary lookups and one small product, done here directly.
        """
        if not self.fitted:
            raise RuntimeError("the offline embedder is used before fit() or load_state()")
        assert self._components is not None
        prepared = self._prepare(text, query=True)
        columns: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        for vectoriser, analyse, offset in self._plan():
            cols, values = self._tfidf_row(vectoriser, analyse(prepared))
            columns.append(cols + offset)
            weights.append(values)
        cols, values = np.concatenate(columns), np.concatenate(weights)
        out = np.zeros((1, self.config.dims), dtype=np.float32)
        if len(cols):
            reduced = self._components[:, cols].astype(np.float64) @ values
            out[0, : reduced.shape[0]] = reduced
        return _l2(out)[0]

    def _plan(self) -> list[tuple[TfidfVectorizer, Callable[[str], list[str]], int]]:
        if not self._query_plan:
            offset = 0
            for vectoriser in (self._words, self._chars):
                if vectoriser is None:
                    continue
                self._query_plan.append((vectoriser, vectoriser.build_analyzer(), offset))
                offset += len(vectoriser.vocabulary_)
        return self._query_plan

    def _tfidf_row(self, vectoriser: TfidfVectorizer, terms: list[str]
                   ) -> tuple[np.ndarray, np.ndarray]:
        """One text's tf-idf row as TfidfVectorizer.transform computes it: counts of known
        terms, 1 + log(tf) when sublinear, times idf, L2-normalised."""
        vocabulary = vectoriser.vocabulary_
        counts: dict[int, int] = {}
        for term in terms:
            column = vocabulary.get(term)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.config.sublinear_tf:
            tf = np.log(tf) + 1.0
        values = tf * np.asarray(vectoriser.idf_, dtype=np.float64)[cols]
        norm = float(np.linalg.norm(values))
        return cols, (values / norm if norm else values)

    def _embed(self, prepared: Sequence[str]) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("the offline embedder is used before fit() or load_state()")
        return self._reduce(self._sparse(prepared))

    def _reduce(self, matrix: Any) -> np.ndarray:
        """tf-idf rows -> the L2-normalised LSA vectors."""
        assert self._components is not None
        reduced = np.asarray(matrix @ self._components.T)
        # Zero-pad to the fixed width: the index schema must not depend on corpus size,
        # and zeros change no cosine.
        out = np.zeros((matrix.shape[0], self.config.dims), dtype=np.float32)
        out[:, : reduced.shape[1]] = reduced
        return _l2(out)

    def state(self) -> bytes:
        if not self.fitted:
            raise RuntimeError("nothing to save: the offline embedder is not fitted")
        assert self._words is not None and self._components is not None
        arrays: dict[str, np.ndarray] = {
            "meta": np.array(json.dumps({"name": self.name, "config": asdict(self.config)})),
            "words_vocab": np.array(json.dumps(_vocab_list(self._words))),
            "words_idf": self._words.idf_.astype(np.float64),
            # float16 halves the stored size; LSA axes need no more precision than that.
            "components": self._components.astype(np.float16),
        }
        if self._chars is not None:
            arrays["chars_vocab"] = np.array(json.dumps(_vocab_list(self._chars)))
            arrays["chars_idf"] = self._chars.idf_.astype(np.float64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def load_state(self, data: bytes) -> None:
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            if meta.get("name") != self.name:
                raise ValueError(f"saved state belongs to {meta.get('name')}, not {self.name}")
            words, chars = self._new_vectorisers()
            _restore(words, json.loads(str(saved["words_vocab"])), saved["words_idf"])
            if chars is not None:
                _restore(chars, json.loads(str(saved["chars_vocab"])), saved["chars_idf"])
            self._words, self._chars = words, chars
            self._query_plan = []
            self._components = saved["components"].astype(np.float32)


def _top_components(matrix: Any, rank: int) -> np.ndarray:
    """The top ``rank`` right singular vectors of a documents x terms matrix.

    A corpus of hundreds of chunks has thousands of terms, so the eigen-decomposition of
    the small documents x documents Gram matrix is exact and ~50x faster than randomised
    SVD over the terms. That decomposition grows with the cube of the chunk count (four
    minutes at 10,000 chunks), so past ``EXACT_SVD_MAX_DOCS`` randomised SVD takes over:
    linear in the matrix's size, and with a fixed seed just as repeatable.
    """
    if matrix.shape[0] > EXACT_SVD_MAX_DOCS:
        from sklearn.utils.extmath import randomized_svd

        # Four power iterations: the 256th singular value is within 1% of the exact one
        # on the 10k-chunk benchmark corpus, at half the time of sklearn's default seven.
        _, _, components = randomized_svd(matrix, rank, n_iter=4, random_state=0)
    else:
        dense = matrix.astype(np.float64)
        gram = np.asarray((dense @ dense.T).todense())
        values, vectors = np.linalg.eigh(gram)
        order = np.argsort(values)[::-1][:rank]
        values, vectors = values[order], vectors[:, order]
        keep = values > 1e-10
        singular = np.sqrt(values[keep])
        components = np.asarray(dense.T @ vectors[:, keep]).T / singular[:, None]
    # Fix each axis's sign so that refits on the same corpus give identical vectors.
    signs = np.sign(components[np.arange(len(components)),
                               np.abs(components).argmax(axis=1)])
    return (components * signs[:, None]).astype(np.float32)


def _vocab_list(vectoriser: TfidfVectorizer) -> list[str]:
    vocab: list[str] = [""] * len(vectoriser.vocabulary_)
    for term, column in vectoriser.vocabulary_.items():
        vocab[column] = term
    return vocab


def _restore(vectoriser: TfidfVectorizer, vocab: list[str], idf: np.ndarray) -> None:
    # A fixed vocabulary plus idf_ is a fitted vectoriser; no need to see the corpus again.
    vectoriser.vocabulary_ = {term: i for i, term in enumerate(vocab)}
    vectoriser.fixed_vocabulary_ = True
    vectoriser.idf_ = idf


class OpenAIEmbedder:
    """Embeddings from any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, ...)."""

    def __init__(self, model: str, *, base_url: str = "", api_key: str = "",
                 timeout_s: float = 30.0, dims: int = 0) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.model = model
        self.base_url = base_url
        self._dims = dims
        # check_embedding_ctx_length would fetch a tiktoken table from the internet and
        # send token ids, which non-OpenAI servers reject: send plain strings.
        self._client = OpenAIEmbeddings(
            model=model, openai_api_base=base_url or None,
            openai_api_key=SecretStr(api_key or "unused"), request_timeout=timeout_s,
            max_retries=1, check_embedding_ctx_length=False)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def dims(self) -> int:
        if not self._dims:
            self._dims = int(self._call(["dimension probe"]).shape[1])
        return self._dims

    @property
    def needs_fit(self) -> bool:
        return False

    def fit(self, texts: Sequence[str]) -> None:
        """Nothing to learn from the corpus."""

    def fit_embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def _call(self, texts: Sequence[str]) -> np.ndarray:
        try:
            vectors = self._client.embed_documents(list(texts))
        except openai.OpenAIError as exc:
            raise errors.BackendUnavailable(
                "embeddings", f"{self.base_url or 'OpenAI'} ({self.model}): {exc}") from exc
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        rows = self._call(texts)
        self._dims = self._dims or rows.shape[1]
        return _l2(rows)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def state(self) -> bytes:
        return json.dumps({"name": self.name, "dims": self.dims}).encode()

    def load_state(self, data: bytes) -> None:
        self._dims = int(json.loads(data).get("dims") or 0) or self._dims


def from_settings(llm: Any) -> Embedder:
    """OpenAI-compatible embeddings when ``llm.embeddings_model`` is set, else offline.

    ``llm`` is ``bot.settings.LLMSettings`` (typed loosely so this package does not import
    the bot package).
    """
    model = str(getattr(llm, "embeddings_model", "") or "")
    if not model:
        return OfflineEmbedder()
    return OpenAIEmbedder(model, base_url=str(getattr(llm, "base_url", "") or ""),
                          api_key=str(getattr(llm, "api_key", "") or ""),
                          timeout_s=float(getattr(llm, "timeout_s", 30.0) or 30.0))
