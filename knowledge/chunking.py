"""Markdown runbooks -> chunks: front matter, a split at headings, stable ids and hashes.

A chunk is one section under its heading path ("OOMKilled › Remediation › Raise the
limit"), because an on-call question is answered by a section, not by a whole file, and
the path tells the reader where the quote comes from. Ids derive from the source and the
heading path, so re-ingesting an edited file overwrites the same keys; the file's content
hash tells whether it changed at all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from knowledge import text as text_mod

__all__ = [
    "MAX_CHARS",
    "Chunk",
    "Document",
    "chunk_id",
    "content_hash",
    "parse_document",
    "parse_front_matter",
    "split_document",
]

# About one screen of a chat card; longer sections are cut at paragraph boundaries.
MAX_CHARS = 1600
# Headings deeper than this stay inside their section: they are usually step labels.
MAX_LEVEL = 3

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")


@dataclass
class Document:
    """One source file (or one incident) before chunking."""

    source: str
    title: str
    body: str
    lang: str
    tags: list[str] = field(default_factory=list)
    kind: str = "runbook"
    meta: dict[str, Any] = field(default_factory=dict)
    hash: str = ""
    # Problems that did not stop the file from being indexed (e.g. front matter that is
    # not valid YAML): the ingest report names the file with them so they get fixed.
    warnings: list[str] = field(default_factory=list)


@dataclass
class Chunk:
    """One section of a document, as indexed."""

    id: str
    source: str
    doc_title: str
    headings: list[str]
    text: str
    lang: str
    tags: list[str]
    kind: str
    doc_hash: str
    position: int

    @property
    def title(self) -> str:
        """The title path shown with a quote: document title, then the section headings."""
        return " › ".join([self.doc_title, *self.headings]) if self.headings else self.doc_title

    @property
    def anchor(self) -> str:
        """The Markdown anchor of the section, for links to the rendered file."""
        if not self.headings:
            return ""
        slug = re.sub(r"[^\w\- ]", "", self.headings[-1].lower()).strip()
        return re.sub(r"\s+", "-", slug)


def content_hash(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def chunk_id(source: str, headings: list[str], part: int = 0) -> str:
    key = "\x1f".join([source, *headings, str(part)])
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def parse_front_matter(raw: str) -> tuple[dict[str, Any], str]:
    """YAML front matter (optional) and the body after it.

    Front matter that is not a mapping or not valid YAML is treated as absent rather than
    failing the file: the body is still worth indexing.
    """
    meta, body, _ = _front_matter(raw)
    return meta, body


def _front_matter(raw: str) -> tuple[dict[str, Any], str, str]:
    """(meta, body, problem): ``problem`` says why front matter present was ignored."""
    match = _FRONT.match(raw)
    if not match:
        return {}, raw, ""
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        return {}, raw[match.end():], "front matter ignored, not valid YAML: " + _yaml_error(exc)
    except RecursionError:  # PyYAML's parser recurses once per level of nesting
        return {}, raw[match.end():], "front matter ignored: nested too deeply to parse"
    if meta is None:
        return {}, raw[match.end():], ""  # an empty block is just no front matter
    if not isinstance(meta, dict):
        return {}, raw[match.end():], (f"front matter ignored: a YAML {type(meta).__name__}, "
                                       "not a mapping of fields")
    return meta, raw[match.end():], ""


def _yaml_error(exc: yaml.YAMLError) -> str:
    """PyYAML's problem and its line in the file (the block starts on the file's line 2)."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 2})" if mark is not None else str(problem)


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[,\s]+", value)
    if not isinstance(value, list):
        return []
    return [str(tag).strip().lower() for tag in value if str(tag).strip()]


def parse_document(source: str, raw: str) -> Document:
    """A document from a Markdown file's text; ``source`` is its path relative to the root."""
    meta, body, problem = _front_matter(raw)
    title = str(meta.get("title") or "").strip()
    if not title:
        first = next((m for m in (_HEADING.match(line) for line in body.splitlines()) if m),
                     None)
        title = first.group(2).strip() if first else source.rsplit("/", 1)[-1]
    lang = str(meta.get("lang") or "").strip().lower() or text_mod.detect_lang(body)
    return Document(source=source, title=title, body=body, lang=lang,
                    tags=_tags(meta.get("tags")), kind=str(meta.get("kind") or "runbook"),
                    meta=meta, hash=content_hash(raw), warnings=[problem] if problem else [])


def _sections(body: str) -> list[tuple[list[tuple[int, str]], str]]:
    """((level, heading) path, text) per heading, ignoring '#' lines inside code fences."""
    path: list[tuple[int, str]] = []
    current: list[str] = []
    out: list[tuple[list[tuple[int, str]], str]] = []
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match and len(match.group(1)) <= MAX_LEVEL:
            out.append((list(path), "\n".join(current).strip()))
            level = len(match.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, match.group(2))]
            current = []
        else:
            current.append(line)
    out.append((list(path), "\n".join(current).strip()))
    return [(headings, text) for headings, text in out if text]


def _pieces(text: str, limit: int) -> list[str]:
    """Cut a long section at blank lines (never inside a code fence) into ~limit pieces."""
    if len(text) <= limit:
        return [text]
    blocks: list[str] = []
    fence_open = False
    for para in re.split(r"\n[ \t]*\n", text):
        if fence_open and blocks:
            blocks[-1] += "\n\n" + para
        else:
            blocks.append(para)
        if para.count("```") % 2:
            fence_open = not fence_open
    pieces: list[str] = []
    for block in blocks:
        if pieces and len(pieces[-1]) + len(block) + 2 <= limit:
            pieces[-1] += "\n\n" + block
        else:
            pieces.append(block)
    return pieces


def split_document(doc: Document, *, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """The document's sections as chunks.

    A single level-1 heading is the document's own title (or a variant of it), so it is
    dropped from every path instead of being repeated in each.
    """
    sections = _sections(doc.body)
    level_one = {path[0][1] for path, _ in sections if path and path[0][0] == 1}
    drop_first = len(level_one) == 1
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for path, text in sections:
        headings = [h for _, h in path]
        if drop_first and path and path[0][0] == 1:
            headings = headings[1:]
        for part, piece in enumerate(_pieces(text, max_chars)):
            ident, bump = chunk_id(doc.source, headings, part), 0
            while ident in seen:  # two sections with the same heading path
                bump += 1
                ident = chunk_id(doc.source, [*headings, f"#{bump}"], part)
            seen.add(ident)
            chunks.append(Chunk(
                id=ident, source=doc.source, doc_title=doc.title, headings=headings,
                text=piece, lang=doc.lang, tags=list(doc.tags), kind=doc.kind,
                doc_hash=doc.hash, position=len(chunks)))
    return chunks
