"""`kb ingest DIR`: read a folder of Markdown and bring the index in line with it.

Unchanged files (same content hash) cost one read; a changed file's chunks replace its old
ones; files gone from the folder lose their chunks. Bad input never stops the rest:

- a file that cannot be read, is binary, is not UTF-8, is too large, or fails to parse is
  skipped and named in the report with the reason (and logged as a warning); it keeps the
  chunks an earlier ingest gave it, since we cannot tell what it says now;
- an empty file, or one with nothing but front matter and headings, is skipped the same
  way, and loses its old chunks: it says nothing any more;
- a file indexed despite a problem (front matter that is not valid YAML) is listed under
  ``warnings``, on every ingest until it is fixed.
"""

from __future__ import annotations

import codecs
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge import chunking
from knowledge import index as index_mod

__all__ = ["MAX_FILE_BYTES", "IngestReport", "SkipFile", "ingest_dir", "markdown_files",
           "read_markdown"]

log = logging.getLogger(__name__)

# READMEs document a folder for people; they are not runbooks.
_SKIP_NAMES = {"readme.md"}
# The largest shipped runbook is under 6 KB; a file of megabytes is an export or a log
# that happens to end in .md, and would only flood the index with noise.
MAX_FILE_BYTES = 2 * 1024 * 1024


class SkipFile(Exception):
    """A file that is not indexed; the message is the reason shown in the report.

    ``keep_chunks``: whether chunks an earlier ingest made of the file stay in the index.
    """

    def __init__(self, reason: str, *, keep_chunks: bool = True) -> None:
        super().__init__(reason)
        self.keep_chunks = keep_chunks


@dataclass
class IngestReport:
    """What one ingest did, by source path relative to the folder."""

    root: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # indexed, but (path, why)
    chunks_written: int = 0
    chunks_deleted: int = 0
    refitted: bool = False
    took_s: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict[str, Any]:
        """The `opsbot kb ingest --json` contract: these keys, always all of them; paths
        are relative to ``root`` and every list is sorted."""
        return {"root": self.root, "added": self.added, "updated": self.updated,
                "unchanged": self.unchanged, "removed": self.removed,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "warnings": [{"path": p, "reason": r} for p, r in self.warnings],
                "chunks_written": self.chunks_written, "chunks_deleted": self.chunks_deleted,
                "refitted": self.refitted, "took_s": round(self.took_s, 3)}

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated",
                 f"{len(self.unchanged)} unchanged", f"{len(self.removed)} removed"]
        line = (f"Indexed {self.root}: " + ", ".join(parts)
                + f" ({self.chunks_written} chunks written, {self.chunks_deleted} deleted"
                + (", vectoriser refitted" if self.refitted else "") + f") in {self.took_s:.2f}s")
        if not (self.changed or self.unchanged or self.skipped):
            line += "\nno Markdown files (*.md) found there"
        for path, why in self.skipped:
            line += f"\nskipped {path}: {why}"
        for path, why in self.warnings:
            line += f"\nwarning {path}: {why}"
        return line


def markdown_files(root: Path) -> list[Path]:
    """Markdown files under ``root``, hidden folders and READMEs left out, sorted."""
    found = []
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.lower() in _SKIP_NAMES:
            continue
        if path.is_dir():  # a folder named like a file ("notes.md/") holds no text itself
            continue
        found.append(path)
    return found


def read_markdown(path: Path) -> str:
    """The text of a Markdown file; raises :class:`SkipFile` with the reason it is not one.

    The checks come before decoding so that the reason names the real problem: a PNG
    renamed to .md is "binary", not "not UTF-8", and an all-zero file (valid UTF-8!) is
    not indexed as text.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SkipFile(f"too large for a runbook ({size / 2**20:.1f} MiB, the limit is "
                           f"{MAX_FILE_BYTES / 2**20:.0f} MiB)")
        data = path.read_bytes()
    except OSError as exc:
        raise SkipFile(f"cannot be read: {exc.strerror or exc}") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SkipFile("UTF-16 text: save it as UTF-8")
    if b"\x00" in data:
        raise SkipFile("binary file, not Markdown text")
    try:
        # utf-8-sig: a byte-order mark some editors write would hide the front matter.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipFile(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _parse(source: str, raw: str) -> tuple[chunking.Document, list[chunking.Chunk]]:
    if not raw.strip():
        raise SkipFile("empty file", keep_chunks=False)
    try:
        doc = chunking.parse_document(source, raw)
        chunks = chunking.split_document(doc)
    except Exception as exc:
        # The parsers are lenient by design (bad front matter is a warning, not a failure),
        # so this is a bug meeting an odd file: log its traceback, name the file, and let
        # the other files ingest.
        log.warning("parsing %s failed", source, exc_info=True)
        raise SkipFile(f"could not be parsed: {type(exc).__name__}: {exc}") from exc
    if not chunks:
        raise SkipFile("no text to index (only front matter or headings)", keep_chunks=False)
    return doc, chunks


def _skip(report: IngestReport, source: str, exc: SkipFile, seen: set[str]) -> None:
    log.warning("skipping %s/%s: %s", report.root.rstrip("/"), source, exc)
    report.skipped.append((source, str(exc)))
    if exc.keep_chunks:
        seen.add(source)  # seen files keep their chunks; the others are removed below


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
            raw = read_markdown(path)
        except SkipFile as exc:
            # Unreadable is not deleted: a permission slip must not drop a runbook.
            _skip(report, source, exc, seen)
            continue
        record = known.get(source)
        # The hash before parsing: an unchanged corpus costs a read and a hash per file.
        if record is not None and record.get("hash") == chunking.content_hash(raw):
            seen.add(source)
            report.unchanged.append(source)
            report.warnings.extend((source, w) for w in record.get("warnings", []))
            continue
        try:
            doc, chunks = _parse(source, raw)
        except SkipFile as exc:
            _skip(report, source, exc, seen)
            continue
        seen.add(source)
        for warning in doc.warnings:
            log.warning("%s/%s: %s", report.root.rstrip("/"), source, warning)
            report.warnings.append((source, warning))
        pending.append((doc, chunks))
    texts = [index_mod.embed_text(c.title, ",".join(c.tags), c.text)
             for _, chunks in pending for c in chunks]
    # One batch for every changed file: an unfitted vectoriser is fitted on all of them,
    # not on the first file alone, and nothing is embedded file by file.
    fitted_now, vectors = index.embed_batch(texts)
    offset = 0
    for doc, chunks in pending:
        result = index.upsert(corpus, doc, chunks, known=known,
                              vectors=vectors[offset:offset + len(chunks)])
        offset += len(chunks)
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
    for names in (report.added, report.updated, report.unchanged, report.removed):
        names.sort()
    report.skipped.sort()
    report.warnings.sort()
    report.took_s = time.monotonic() - started
    return report
