"""`kb ingest DIR`: read a folder of Markdown and bring the index in line with it.

Unchanged files (same content hash) cost one read; a changed file's chunks replace its old
ones; files gone from the folder lose their chunks. A file that cannot be read or decoded
is named in the report and skipped; it never stops the rest.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge import chunking
from knowledge import index as index_mod

__all__ = ["IngestReport", "ingest_dir", "markdown_files"]

log = logging.getLogger(__name__)

# READMEs document a folder for people; they are not runbooks.
_SKIP_NAMES = {"readme.md"}


@dataclass
class IngestReport:
    """What one ingest did, by source path relative to the folder."""

    root: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    chunks_written: int = 0
    chunks_deleted: int = 0
    refitted: bool = False
    took_s: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "removed": self.removed,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "chunks_written": self.chunks_written, "chunks_deleted": self.chunks_deleted,
                "refitted": self.refitted, "took_s": round(self.took_s, 3)}

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated",
                 f"{len(self.unchanged)} unchanged", f"{len(self.removed)} removed"]
        line = (f"Indexed {self.root}: " + ", ".join(parts)
                + f" ({self.chunks_written} chunks written, {self.chunks_deleted} deleted"
                + (", vectoriser refitted" if self.refitted else "") + f") in {self.took_s:.2f}s")
        for path, why in self.skipped:
            line += f"\nskipped {path}: {why}"
        return line


def markdown_files(root: Path) -> list[Path]:
    """Markdown files under ``root``, hidden folders and READMEs left out, sorted."""
    found = []
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.lower() in _SKIP_NAMES:
            continue
        found.append(path)
    return found


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def ingest_dir(index: index_mod.KnowledgeIndex, root: Path, *, corpus: str) -> IngestReport:
    """Sync ``corpus`` in the index with the Markdown files under ``root``."""
    started = time.monotonic()
    root = root.expanduser()
    report = IngestReport(root=str(root))
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    known = index.sources(corpus)
    pending: list[tuple[chunking.Document, list[chunking.Chunk]]] = []
    seen: set[str] = set()
    for path in markdown_files(root):
        source = path.relative_to(root).as_posix()
        try:
            raw = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = (f"not UTF-8 text ({exc.reason})" if isinstance(exc, UnicodeDecodeError)
                      else exc.strerror or str(exc))
            log.warning("skipping %s: %s", path, reason)
            report.skipped.append((source, reason))
            # An unreadable file keeps its old chunks: a permission slip is not a deletion.
            seen.add(source)
            continue
        seen.add(source)
        doc = chunking.parse_document(source, raw)
        if known.get(source, {}).get("hash") == doc.hash:
            report.unchanged.append(source)
            continue
        pending.append((doc, chunking.split_document(doc)))
    # Fit an unfitted vectoriser on the whole batch, not on the first file alone.
    fitted_now = index.ensure_fitted([index_mod.embed_text(c.title, ",".join(c.tags), c.text)
                                      for _, chunks in pending for c in chunks])
    for doc, chunks in pending:
        result = index.upsert(corpus, doc, chunks)
        (report.added if result.status == "added" else report.updated).append(doc.source)
        report.chunks_written += result.written
        report.chunks_deleted += result.deleted
    for source in sorted(set(known) - seen):
        report.chunks_deleted += index.remove(corpus, source)
        report.removed.append(source)
    # Chunks written with an older fit keep working (new words are simply unknown to it),
    # but once most of the corpus is new the old latent axes describe the wrong corpus.
    if (report.chunks_written and not fitted_now and index.embedder.needs_fit
            and report.chunks_written > index_mod.REFIT_SHARE * max(index.count(), 1)):
        index.refit()
        report.refitted = True
    report.refitted = report.refitted or fitted_now
    report.took_s = time.monotonic() - started
    return report
