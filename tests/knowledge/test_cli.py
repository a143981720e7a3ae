"""`opsbot kb ingest` and `opsbot kb search` as a user runs them: a separate process, Redis
from REDIS_URL, the output parsed as the documented JSON."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge import service
from tests.knowledge.conftest import write_runbook

ROOT = Path(__file__).resolve().parents[2]
REPORT_KEYS = {"root", "added", "updated", "unchanged", "removed", "skipped", "warnings",
               "chunks_written", "chunks_deleted", "refitted", "took_s"}


@pytest.fixture
def index_name(redis_url: str) -> Iterator[str]:
    """An index of the test's own (`--index`), never the default one other tests share."""
    name = f"kb-cli-{uuid.uuid4().hex[:8]}"
    yield name
    kb = service.KnowledgeBase(redis_url, index_name=name)
    kb.index.drop()
    kb.close()


def opsbot(redis_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only this test's settings: no LLM (the offline embedder), no config file or .env.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLM_", "OPSBOT_", "REDIS_"))}
    env.update(REDIS_URL=redis_url, OPSBOT_STATE_DIR=str(tmp_path / "state"),
               PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "bot.cli", "kb", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)


def test_ingest_json_report_and_bad_files(redis_url: str, tmp_path: Path, corpus: Path,
                                          index_name: str) -> None:
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")
    (corpus / "notepad.md").write_bytes(codecs.BOM_UTF16_LE + "# x\n".encode("utf-16-le"))
    write_runbook(corpus, "broken.md", "Redis: too many clients", "## Steps\n\nRaise it.\n")
    locked = write_runbook(corpus, "locked.md", "Locked", "## Steps\n\nNobody reads this.\n")
    locked.chmod(0)
    try:
        done = opsbot(redis_url, tmp_path, "ingest", str(corpus), "--json", "--index",
                      index_name)
    finally:
        locked.chmod(0o644)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == REPORT_KEYS
    assert report["root"] == str(corpus)
    readable = ["locked.md"] if os.geteuid() == 0 else []  # root reads any file
    assert report["added"] == sorted(["broken.md", "cert.zh.md", "disk.md", "team/dns.md",
                                      *readable])
    assert report["updated"] == report["unchanged"] == report["removed"] == []
    skipped = {row["path"]: row["reason"] for row in report["skipped"]}
    assert all(set(row) == {"path", "reason"} for row in report["skipped"])
    assert skipped["empty.md"] == "empty file"
    assert skipped["image.md"] == "binary file, not Markdown text"
    assert skipped["notepad.md"] == "UTF-16 text: save it as UTF-8"
    if os.geteuid() != 0:
        assert skipped["locked.md"] == "cannot be read: Permission denied"
    assert report["warnings"] == [{"path": "broken.md", "reason": (
        "front matter ignored, not valid YAML: mapping values are not allowed here (line 2)")}]
    assert isinstance(report["chunks_written"], int) and report["chunks_written"] >= 7
    assert report["chunks_deleted"] == 0 and report["refitted"] is True
    assert isinstance(report["took_s"], float)
    # Each skipped file is also a warning on stderr, for a run without --json.
    for name in ("empty.md", "image.md", "notepad.md"):
        assert f"skipping {corpus}/{name}: " in done.stderr


def test_search_json_contract_and_empty_index(redis_url: str, tmp_path: Path, corpus: Path,
                                              index_name: str) -> None:
    empty = opsbot(redis_url, tmp_path, "search", "rollback", "--json", "--index", index_name)
    assert empty.returncode == 1
    assert json.loads(empty.stdout) == []
    assert "no runbooks indexed yet" in empty.stderr and "opsbot kb ingest DIR" in empty.stderr

    service_kb = service.KnowledgeBase(redis_url, index_name=index_name)
    service_kb.ingest(corpus)  # the CLI's ingest is tested above; this one is quicker
    service_kb.close()
    done = opsbot(redis_url, tmp_path, "search", "NXDOMAIN from CoreDNS", "-k", "3", "--json",
                  "--index", index_name)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert 1 <= len(rows) <= 3
    assert all(set(row) == {"source", "title", "score", "text"} for row in rows)
    # Paths relative to the ingested folder, as the files are named under it.
    files = {p.relative_to(corpus).as_posix() for p in corpus.rglob("*.md")}
    assert all(row["source"] in files for row in rows)
    assert rows[0]["source"] == "team/dns.md"
    assert rows[0]["title"] == "DNS failures › Symptoms"
    assert rows[0]["text"] == "NXDOMAIN from CoreDNS."
    assert all(isinstance(row["score"], float) and 0 < row["score"] <= 1 for row in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
