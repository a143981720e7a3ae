"""Ingest idempotence, rebuild on an embedder switch, the search contract, bad input."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from knowledge import answer, cli, embedders, retrieval, service
from knowledge import index as index_mod
from tests.knowledge.conftest import FakeOpenAI, new_kb, write_runbook
from tools import errors


def _hset_calls(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_hset", {}).get("calls", 0))


def test_ingest_is_idempotent_and_tracks_changes(kb: service.KnowledgeBase, corpus: Path,
                                                 redis_url: str) -> None:
    first = kb.ingest(corpus)
    assert sorted(first.added) == ["cert.zh.md", "disk.md", "team/dns.md"]
    assert first.chunks_written == 6 and kb.index.count() == 6

    before = _hset_calls(redis_url)
    again = kb.ingest(corpus)
    assert again.unchanged == ["cert.zh.md", "disk.md", "team/dns.md"]
    assert (again.chunks_written, again.chunks_deleted, again.changed) == (0, 0, False)
    assert _hset_calls(redis_url) == before  # not one write

    write_runbook(corpus, "disk.md", "Node disk full",
                  "## Remediation\n\nExpand the volume instead.\n", tags="[disk]")
    (corpus / "team" / "dns.md").unlink()
    changed = kb.ingest(corpus)
    assert changed.updated == ["disk.md"] and changed.removed == ["team/dns.md"]
    assert changed.unchanged == ["cert.zh.md"]
    assert changed.chunks_written == 1
    assert changed.chunks_deleted == 3  # disk.md's Symptoms and both dns.md chunks
    assert kb.index.count() == 3
    texts = [h.text for h in kb.search("disk", k=5, per_source=None)]
    assert "Expand the volume instead." in texts
    assert not any("Prune images" in t for t in texts)
    assert all(h.source != "team/dns.md" for h in kb.search("NXDOMAIN coredns", k=5))


def test_a_new_process_searches_with_the_stored_vectoriser(kb: service.KnowledgeBase,
                                                           corpus: Path, redis_url: str) -> None:
    kb.ingest(corpus)
    here = [(h.source, round(h.score, 4)) for h in kb.search("证书过期 TLS", k=3)]
    script = (
        "import json, sys\n"
        "from knowledge import service\n"
        "kb = service.KnowledgeBase(sys.argv[1], index_name=sys.argv[2])\n"
        "print(json.dumps([(h.source, round(h.score, 4)) for h in kb.search(sys.argv[3], k=3)]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, redis_url, kb.index_name, "证书过期 TLS"],
                          capture_output=True, text=True, timeout=60, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    assert [tuple(row) for row in json.loads(done.stdout)] == here
    assert here[0][0] == "cert.zh.md"


def test_unreadable_file_is_named_and_skipped(kb: service.KnowledgeBase, corpus: Path) -> None:
    (corpus / "latin1.md").write_bytes("# Caf\xe9\n\nbody\n".encode("latin-1"))
    locked = corpus / "locked.md"
    locked.write_text("# Locked\n\nbody\n")
    locked.chmod(0)
    try:
        report = kb.ingest(corpus)
    finally:
        locked.chmod(0o644)
    skipped = dict(report.skipped)
    assert "not UTF-8" in skipped["latin1.md"]
    if os.geteuid() != 0:  # root reads any file
        assert "locked.md" in skipped
    assert "disk.md" in report.added
    assert "skipped latin1.md" in report.summary()


def test_embedder_switch_rebuilds_instead_of_mixing(redis_url: str, corpus: Path,
                                                    fake_openai: FakeOpenAI) -> None:
    offline = new_kb(redis_url)
    offline.ingest(corpus)
    name = offline.index_name
    assert offline.index.meta()["embedder"].startswith("offline-lsa")
    offline.close()

    # Another process with the same embedder: loads the fitted state, no rebuild.
    same = service.KnowledgeBase(redis_url, index_name=name)
    assert same.search("disk pressure eviction", k=1)[0].source == "disk.md"
    assert same.rebuilt is False
    same.close()

    remote = embedders.OpenAIEmbedder("fake-embed", base_url=fake_openai.base_url,
                                      api_key="k")
    switched = service.KnowledgeBase(redis_url, remote, index_name=name)
    assert switched.index.count() == 6
    assert switched.rebuilt is True
    meta = switched.index.meta()
    assert (meta["embedder"], meta["dims"]) == ("openai:fake-embed", "64")
    assert switched.search("crictl prune images", k=1)[0].source == "disk.md"
    # Nothing was re-ingested from disk: the stored chunks were embedded again.
    assert switched.ingest(corpus).chunks_written == 0
    switched.index.drop()
    switched.close()


def test_search_contract_json(shipped_kb: service.KnowledgeBase, redis_url: str,
                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(redis_url, tmp_path)
    args = argparse.Namespace(query="container killed with exit code 137", k=3, json=True,
                              lang=None, kind=None, tag=[])
    with pytest.MonkeyPatch.context() as patch:
        # The CLI opens its own KnowledgeBase on the default index: point it at ours.
        patch.setattr(service.KnowledgeBase, "__init__", _on_index(shipped_kb.index_name))
        assert cli.kb_search(args, settings) == 0
    rows = json.loads(capsys.readouterr().out)
    assert 1 <= len(rows) <= 3
    for row in rows:
        assert set(row) == {"source", "title", "score", "text"}
        assert not row["source"].startswith("/") and row["source"].endswith(".md")
        assert 0 < row["score"] <= 1 and row["text"]
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_filters(shipped_kb: service.KnowledgeBase) -> None:
    zh = shipped_kb.search("pod memory limit", k=5, filters=retrieval.Filters(lang="zh"))
    assert zh and all(h.lang == "zh" for h in zh)
    tagged = shipped_kb.search("memory", k=5, filters=retrieval.Filters(tags=["oomkilled"]))
    assert tagged and all("oomkilled" in h.tags for h in tagged)


def test_empty_index_says_how_to_fill_it(kb: service.KnowledgeBase, redis_url: str,
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert kb.is_empty()
    reply = kb.answer("how do I roll back a deployment?")
    assert reply.text == answer.EMPTY_INDEX_TEXT
    assert "no runbooks indexed yet" in reply.text.lower() and "opsbot kb ingest" in reply.text
    settings = _settings(redis_url, tmp_path)
    args = argparse.Namespace(query="rollback", k=3, json=True, lang=None, kind=None, tag=[])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service.KnowledgeBase, "__init__", _on_index(kb.index_name))
        assert cli.kb_search(args, settings) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "no runbooks indexed yet" in captured.err


def test_redis_down_is_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = service.KnowledgeBase(f"redis://127.0.0.1:{port}")
    with pytest.raises(errors.BackendUnavailable) as caught:
        down.search("anything")
    assert caught.value.backend == "redis"
    assert str(caught.value).startswith("redis is unreachable:")
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    args = argparse.Namespace(dir=str(tmp_path / "nope"), json=False)
    with pytest.raises(errors.NotFound, match="not a folder"):
        cli.kb_ingest(args, _settings("redis://127.0.0.1:1", tmp_path))


def _on_index(name: str) -> Any:
    original = service.KnowledgeBase.__init__

    def init(self: service.KnowledgeBase, url: str, *a: Any, **kw: Any) -> None:
        original(self, url, *a, **{**kw, "index_name": name})

    return init


def _settings(redis_url: str, tmp_path: Path) -> Any:
    from bot import settings as settings_mod

    return settings_mod.Settings(OPSBOT_STATE_DIR=str(tmp_path / "state"),
                                 redis={"url": redis_url})


def test_default_corpus_is_ingested_once_at_start_up(kb: service.KnowledgeBase) -> None:
    first = kb.ensure_default_corpus()
    assert first is not None and "oomkilled.md" in first.added
    assert not kb.is_empty()
    assert kb.ensure_default_corpus() is None  # not empty any more: nothing to do


def test_a_mostly_new_corpus_refits_the_vectoriser(kb: service.KnowledgeBase,
                                                   corpus: Path) -> None:
    assert kb.ingest(corpus).refitted  # first fit, on this small corpus
    before = kb.index.meta()["fitted_chunks"]
    report = kb.ingest(service.DEFAULT_RUNBOOKS)
    assert report.refitted  # the shipped runbooks are most of the index now
    assert int(kb.index.meta()["fitted_chunks"]) > int(before)
    assert kb.search("crictl prune images", k=1)[0].source == "disk.md"


@pytest.mark.parametrize("protocol", [2, 3])
def test_search_reads_both_redis_protocols(shipped_kb: service.KnowledgeBase, redis_url: str,
                                           protocol: int) -> None:
    client = redis.Redis.from_url(redis_url, protocol=protocol)
    idx = index_mod.KnowledgeIndex(client, embedders.OfflineEmbedder(),
                                   name=shipped_kb.index_name)
    assert idx.open() is False  # the stored vectoriser, no rebuild
    question = "container killed with exit code 137"
    hits = retrieval.hybrid_search(idx, question, k=3)
    expected = shipped_kb.search(question, k=3)
    assert [(h.source, h.title, h.text, round(h.score, 6)) for h in hits] == [
        (h.source, h.title, h.text, round(h.score, 6)) for h in expected]
    assert hits[0].source == "oomkilled.md" and hits[0].text_rank and hits[0].similarity > 0
    client.close()
