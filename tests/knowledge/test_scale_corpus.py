"""The generated corpus of bench/kb_scale_bench.py: deterministic and marked as generated."""

from __future__ import annotations

from pathlib import Path

from bench import kb_scale_bench
from knowledge import chunking, ingest


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.md"))}


def test_generation_is_deterministic_and_marked(tmp_path: Path) -> None:
    first = kb_scale_bench.generate_corpus(tmp_path / "a", target_chunks=900)
    second = kb_scale_bench.generate_corpus(tmp_path / "b", target_chunks=900)
    assert _files(first.root) == _files(second.root)
    assert first.derived_from == second.derived_from
    assert 900 <= first.chunks < 900 + 60  # stops at the first file past the target

    generated = [p for p in ingest.markdown_files(first.root)
                 if p.relative_to(first.root).parts[0] == kb_scale_bench.GENERATED_DIR]
    assert len(generated) == len(first.derived_from)
    chunks = 0
    for path in generated:
        source = path.relative_to(first.root).as_posix()
        doc = chunking.parse_document(source, path.read_text(encoding="utf-8"))
        assert doc.meta.get("generated") is True and not doc.warnings
        assert first.derived_from[source] <= set(first.shipped)
        chunks += len(chunking.split_document(doc))
    assert chunks == first.generated_chunks
    # The shipped runbooks sit at the top, under the names the question set expects.
    assert set(first.shipped) <= {p.name for p in first.root.glob("*.md")}
