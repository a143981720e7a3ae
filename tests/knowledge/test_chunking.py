"""Front matter, heading split with title paths, stable ids, language and glossary."""

from __future__ import annotations

from pathlib import Path

from knowledge import chunking, glossary, ingest, text

RUNBOOK = """---
title: Disk full on a node
tags: [disk, node, DiskPressure]
lang: en
---

# Disk full

Intro that says what this runbook is for.

## Symptoms

Pods are evicted with `DiskPressure`.

## Remediation

### Clean images

```bash
# not a heading: a shell comment inside a fence
crictl rmi --prune
```

### Expand the volume

Grow the disk.
"""


def test_front_matter_and_title_paths() -> None:
    doc = chunking.parse_document("ops/disk-full.md", RUNBOOK)
    assert doc.title == "Disk full on a node"
    assert doc.tags == ["disk", "node", "diskpressure"]
    assert doc.lang == "en"
    chunks = chunking.split_document(doc)
    # The single H1 is the document title: it is not repeated in every path.
    assert [c.headings for c in chunks] == [
        [], ["Symptoms"], ["Remediation", "Clean images"], ["Remediation", "Expand the volume"]]
    assert chunks[2].title == "Disk full on a node › Remediation › Clean images"
    assert "crictl rmi --prune" in chunks[2].text  # the fenced '#' line did not split it
    assert chunks[1].anchor == "symptoms"
    assert all(c.source == "ops/disk-full.md" and c.doc_hash == doc.hash for c in chunks)


def test_ids_are_stable_and_hash_tracks_content() -> None:
    first = chunking.split_document(chunking.parse_document("a.md", RUNBOOK))
    again = chunking.split_document(chunking.parse_document("a.md", RUNBOOK))
    assert [c.id for c in first] == [c.id for c in again]
    edited = chunking.parse_document("a.md", RUNBOOK.replace("Grow the disk.", "Grow it."))
    assert edited.hash != first[0].doc_hash
    # Same headings, same ids: an edit overwrites the very keys it wrote before.
    assert [c.id for c in chunking.split_document(edited)] == [c.id for c in first]
    assert len({c.id for c in first}) == len(first)
    assert chunking.chunk_id("b.md", ["Symptoms"]) != chunking.chunk_id("a.md", ["Symptoms"])


def test_front_matter_is_optional_and_language_is_detected() -> None:
    doc = chunking.parse_document("notes/证书.md",
                                  "# 证书过期\n\n## 处置步骤\n\n续期证书，然后重启 ingress。\n")
    assert doc.title == "证书过期"
    assert doc.lang == "zh"
    assert doc.tags == []
    assert [c.headings for c in chunking.split_document(doc)] == [["处置步骤"]]
    broken = chunking.parse_document("x.md", "---\n: [unclosed\n---\nbody text\n")
    assert broken.title == "x.md" and "body text" in broken.body


def test_long_sections_are_cut_at_paragraphs_not_inside_code() -> None:
    paragraphs = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(12))
    code = "```\n" + "\n\n".join(f"line {i}" for i in range(40)) + "\n```"
    doc = chunking.parse_document("long.md", f"# Long\n\n## Steps\n\n{paragraphs}\n\n{code}\n")
    chunks = chunking.split_document(doc, max_chars=800)
    assert len(chunks) > 3
    assert len({c.id for c in chunks}) == len(chunks)
    assert all(c.text.count("```") % 2 == 0 for c in chunks)


def test_readmes_and_hidden_folders_are_not_runbooks(tmp_path: Path) -> None:
    for name in ("a.md", "README.md", "sub/b.md", "sub/readme.md", ".git/c.md", "d.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# x\n\ny\n")
    found = [p.relative_to(tmp_path).as_posix() for p in ingest.markdown_files(tmp_path)]
    assert found == ["a.md", "sub/b.md"]


def test_tokens_split_chinese_into_bigrams_and_keep_metric_names() -> None:
    assert text.tokens("节点磁盘满了") == ["节点", "点磁", "磁盘", "盘满", "满了"]
    toks = text.tokens("How is container_memory_working_set_bytes computed?")
    assert "container_memory_working_set_bytes" in toks and "memory" in toks
    assert "how" not in toks and "is" not in toks
    assert text.detect_lang("kubectl rollout undo 回滚到上一个版本") == "zh"
    assert text.detect_lang("roll back with kubectl rollout undo") == "en"


def test_glossary_bridges_both_ways() -> None:
    terms = glossary.load_default()
    assert "内存" in terms.expand("The pod restarts: out of memory")
    assert "重启" in terms.expand("pods keep restarting")
    assert "rollback" in terms.expand("如何回滚发布")
    assert "certificate" in terms.expand("证书过期了")
    # Nothing is added for a language the text already covers.
    assert "内存" not in terms.expand("memory 内存")
    assert glossary.stem("certificates") == glossary.stem("certificate")
