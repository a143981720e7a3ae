"""Bad input through the API: every bad file is named with its reason, the rest ingest."""

from __future__ import annotations

import codecs
import logging
import os
from pathlib import Path

import pytest

from knowledge import chunking, ingest, service
from tests.knowledge.conftest import write_runbook

# The eight bytes every PNG starts with, then a header chunk: NUL bytes, invalid UTF-8.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06"


def _skipped(report: ingest.IngestReport) -> dict[str, str]:
    return dict(report.skipped)


def test_empty_files_are_skipped_with_a_warning(kb: service.KnowledgeBase, corpus: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.md").write_text("  \n\n\t\n")
    (corpus / "front-only.md").write_text("---\ntitle: Nothing yet\ntags: [todo]\n---\n")
    (corpus / "headings-only.md").write_text("# Title\n\n## Symptoms\n\n## Remediation\n")
    with caplog.at_level(logging.WARNING, logger="knowledge.ingest"):
        report = kb.ingest(corpus)
    skipped = _skipped(report)
    assert skipped["empty.md"] == "empty file" and skipped["blank.md"] == "empty file"
    assert "no text to index" in skipped["front-only.md"]
    assert "no text to index" in skipped["headings-only.md"]
    assert report.added == ["cert.zh.md", "disk.md", "team/dns.md"]
    assert kb.index.count() == 6
    logged = caplog.text
    assert all(f"{name}: " in logged for name in ("empty.md", "blank.md", "front-only.md"))
    assert "skipped empty.md: empty file" in report.summary()

    # A runbook emptied since the last ingest says nothing any more: its chunks go.
    (corpus / "disk.md").write_text("")
    again = kb.ingest(corpus)
    assert _skipped(again)["disk.md"] == "empty file"
    assert again.removed == ["disk.md"] and again.chunks_deleted == 2
    assert all(h.source != "disk.md" for h in kb.search("crictl prune images", k=5))


def test_binary_files_named_md_are_skipped(kb: service.KnowledgeBase, corpus: Path) -> None:
    (corpus / "diagram.md").write_bytes(PNG)
    (corpus / "zeros.md").write_bytes(b"\x00" * 64)  # valid UTF-8, still not text
    (corpus / "notepad.md").write_bytes(codecs.BOM_UTF16_LE + "# Runbook\n".encode("utf-16-le"))
    (corpus / "latin1.md").write_bytes("# Caf\xe9\n\nbody\n".encode("latin-1"))
    report = kb.ingest(corpus)
    skipped = _skipped(report)
    assert skipped["diagram.md"] == "binary file, not Markdown text"
    assert skipped["zeros.md"] == "binary file, not Markdown text"
    assert skipped["notepad.md"] == "UTF-16 text: save it as UTF-8"
    assert skipped["latin1.md"].startswith("not UTF-8 text (invalid continuation byte")
    assert report.added == ["cert.zh.md", "disk.md", "team/dns.md"]


def test_a_byte_order_mark_does_not_hide_the_front_matter(kb: service.KnowledgeBase,
                                                          tmp_path: Path) -> None:
    root = tmp_path / "bom"
    root.mkdir()
    (root / "win.md").write_bytes(codecs.BOM_UTF8 + b"---\ntitle: Saved on Windows\n"
                                  b"tags: [windows]\n---\n\n## Steps\n\nReboot it.\n")
    report = kb.ingest(root)
    assert report.added == ["win.md"] and not report.warnings
    hit = kb.search("reboot windows", k=1)[0]
    assert hit.title == "Saved on Windows › Steps" and hit.tags == ["windows"]


def test_invalid_front_matter_is_named_and_the_body_indexed(kb: service.KnowledgeBase,
                                                             corpus: Path) -> None:
    # An unquoted colon in a title is the usual way to break YAML.
    (corpus / "redis.md").write_text("---\ntitle: Redis: connection exhaustion\ntags: [redis]\n"
                                     "---\n\n# Redis connections\n\n## Symptoms\n\n"
                                     "ERR max number of clients reached.\n")
    (corpus / "deep.md").write_text("---\ntags: " + "[" * 5000 + "]" * 5000 + "\n---\n\n"
                                    "## Steps\n\nFlatten the nesting.\n")
    (corpus / "list.md").write_text("---\n- just\n- a list\n---\n\n## Steps\n\nUse fields.\n")
    report = kb.ingest(corpus)
    warnings = dict(report.warnings)
    assert warnings["redis.md"] == ("front matter ignored, not valid YAML: mapping values are "
                                    "not allowed here (line 2)")
    assert warnings["deep.md"] == "front matter ignored: nested too deeply to parse"
    assert warnings["list.md"] == "front matter ignored: a YAML list, not a mapping of fields"
    assert {"redis.md", "deep.md", "list.md", "disk.md"} <= set(report.added)
    assert not report.skipped
    hit = kb.search("max number of clients reached", k=1)[0]
    assert (hit.source, hit.title) == ("redis.md", "Redis connections › Symptoms")
    assert "warning redis.md: front matter ignored" in report.summary()

    # Reported again while unchanged, so that it is not forgotten; gone once fixed.
    again = kb.ingest(corpus)
    assert "redis.md" in again.unchanged and "redis.md" in dict(again.warnings)
    (corpus / "redis.md").write_text("---\ntitle: 'Redis: connection exhaustion'\n---\n\n"
                                     "## Symptoms\n\nERR max number of clients reached.\n")
    fixed = kb.ingest(corpus)
    assert fixed.updated == ["redis.md"] and "redis.md" not in dict(fixed.warnings)


def test_a_file_that_fails_to_parse_names_itself(kb: service.KnowledgeBase, corpus: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    original = chunking.split_document

    def split(doc: chunking.Document, **kw: int) -> list[chunking.Chunk]:
        if doc.source == "disk.md":
            raise IndexError("a parser bug on this file")
        return original(doc, **kw)

    monkeypatch.setattr(chunking, "split_document", split)
    report = kb.ingest(corpus)
    assert _skipped(report) == {"disk.md": "could not be parsed: IndexError: a parser bug on "
                                           "this file"}
    assert report.added == ["cert.zh.md", "team/dns.md"]


def test_unreadable_files_are_skipped_and_keep_their_chunks(kb: service.KnowledgeBase,
                                                             corpus: Path) -> None:
    assert kb.ingest(corpus).added == ["cert.zh.md", "disk.md", "team/dns.md"]
    # A dangling link is unreadable for every user, root included.
    (corpus / "disk.md").unlink()
    (corpus / "disk.md").symlink_to(corpus / "moved-away.md")
    locked = write_runbook(corpus, "locked.md", "Locked", "## Steps\n\nNobody reads this.\n")
    locked.chmod(0)
    try:
        report = kb.ingest(corpus)
    finally:
        locked.chmod(0o644)
    skipped = _skipped(report)
    assert skipped["disk.md"] == "cannot be read: No such file or directory"
    if os.geteuid() != 0:  # root reads any file whatever its mode
        assert skipped["locked.md"] == "cannot be read: Permission denied"
    # Unreadable is not deleted: the runbook stays searchable until it can be read again.
    assert report.removed == [] and "disk.md" not in report.unchanged
    assert kb.search("crictl prune images", k=1)[0].source == "disk.md"


def test_oversized_files_and_folders_named_md(kb: service.KnowledgeBase, corpus: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 1024)
    (corpus / "export.md").write_text("# Export\n\n" + "row\n" * 1000)
    (corpus / "notes.md").mkdir()
    report = kb.ingest(corpus)
    assert _skipped(report)["export.md"].startswith("too large for a runbook")
    assert "notes.md" not in _skipped(report) and "notes.md" not in report.added


def test_an_empty_folder_says_so(kb: service.KnowledgeBase, tmp_path: Path) -> None:
    report = kb.ingest(tmp_path)
    assert not report.changed
    assert "no Markdown files (*.md) found there" in report.summary()
