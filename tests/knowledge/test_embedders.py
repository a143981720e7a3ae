"""The offline embedder's fast paths give the vectors of its reference path."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge import chunking, embedders, ingest, service
from knowledge import index as index_mod
from tests.knowledge.test_accuracy import _questions


@pytest.fixture(scope="module")
def shipped_texts() -> list[str]:
    texts = []
    for path in ingest.markdown_files(service.DEFAULT_RUNBOOKS):
        doc = chunking.parse_document(path.name, path.read_text(encoding="utf-8"))
        texts += [index_mod.embed_text(c.title, ",".join(c.tags), c.text)
                  for c in chunking.split_document(doc)]
    return texts


def _reference(embedder: embedders.OfflineEmbedder, question: str) -> np.ndarray:
    # scikit-learn's transform, as documents are embedded
    return embedder._embed([embedder._prepare(question, query=True)])[0]


def test_query_vectors_equal_the_scikit_learn_ones(shipped_texts: list[str]) -> None:
    fitted = embedders.OfflineEmbedder()
    fitted.fit(shipped_texts)
    loaded = embedders.OfflineEmbedder()
    loaded.load_state(fitted.state())
    questions = [q for _, q in _questions()] + ["", "zzzz qqqq", "内存", "OOMKilled 137"]
    for question in questions:
        expected = _reference(fitted, question)
        assert np.allclose(fitted.embed_query(question), expected, atol=1e-6), question
        assert np.array_equal(loaded.embed_query(question), fitted.embed_query(question))


def test_large_corpora_use_randomised_svd_repeatably(shipped_texts: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedders, "EXACT_SVD_MAX_DOCS", 50)
    first, second = embedders.OfflineEmbedder(), embedders.OfflineEmbedder()
    first.fit(shipped_texts)
    second.fit(shipped_texts)
    assert first.state() == second.state()
    vectors = first.embed(shipped_texts)
    query = first.embed_query("container killed with exit code 137, OOMKilled")
    best = shipped_texts[int(np.argmax(vectors @ query))]
    assert "OOMKilled" in best.splitlines()[0]


def test_fit_embed_gives_the_vectors_of_fit_then_embed(shipped_texts: list[str]) -> None:
    embedder = embedders.OfflineEmbedder()
    together = embedder.fit_embed(shipped_texts)
    assert together.shape == (len(shipped_texts), embedder.dims)
    assert np.allclose(together, embedder.embed(shipped_texts), atol=1e-6)
