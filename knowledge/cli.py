"""`opsbot kb ingest DIR` and `opsbot kb search QUERY` (DESIGN.md section 3).

``bot/cli.py`` owns the parser and calls these with its parsed arguments and the loaded
settings. Redis is ``settings.redis.url``; when that is empty the embedded Redis is started
on the state directory for the length of the command, so a later `opsbot demo` or `serve`
finds the same index there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from knowledge import embedders, retrieval, service
from tools import errors

__all__ = ["add_parser", "kb_ingest", "kb_search", "open_knowledge_base", "run_kb"]


@contextlib.contextmanager
def open_knowledge_base(settings: Any, index_name: str = service.DEFAULT_INDEX
                        ) -> Iterator[service.KnowledgeBase]:
    """A KnowledgeBase on the configured Redis, or on an embedded one while in use.

    ``settings`` is ``bot.settings.Settings`` (``redis.url``, ``llm``, ``state_path``).
    """
    url = str(settings.redis.url or "")
    embedded = None
    if not url:
        from tools.embedded import redis_server

        embedded = redis_server.EmbeddedRedis(Path(settings.state_path) / "redis")
        url = embedded.start()
    kb = service.KnowledgeBase(url, embedders.from_settings(settings.llm),
                               index_name=index_name)
    try:
        yield kb
    finally:
        kb.close()
        if embedded is not None:
            embedded.stop()


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``kb ingest`` and ``kb search`` to the ``opsbot`` subparsers ``sub``."""
    kb = sub.add_parser("kb", help="index runbooks and search them")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    p = kb_sub.add_parser("ingest", help="index a folder of Markdown runbooks")
    p.add_argument("dir", help="folder to index; paths in results are relative to it")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _index_argument(p)
    p = kb_sub.add_parser("search", help="search the indexed runbooks")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="how many results (default 5)")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="only this language")
    p.add_argument("--kind", choices=["runbook", "incident"], default=None)
    p.add_argument("--tag", action="append", default=[], help="only chunks with this tag "
                   "(repeatable; any of them)")
    p.add_argument("--json", action="store_true",
                   help='print [{"source","title","score","text"}]')
    _index_argument(p)
    return kb


def _index_argument(p: argparse.ArgumentParser) -> None:
    # A second index keeps a trial set of runbooks (or a test run) apart from the one
    # `opsbot serve` answers from.
    p.add_argument("--index", default=service.DEFAULT_INDEX, metavar="NAME",
                   help=f"index name in Redis (default {service.DEFAULT_INDEX}, the one "
                   "opsbot serve uses)")


def run_kb(args: argparse.Namespace, settings: Any) -> int:
    """Dispatch ``opsbot kb ...`` to :func:`kb_ingest` or :func:`kb_search`."""
    if args.kb_command == "ingest":
        return kb_ingest(args, settings)
    return kb_search(args, settings)


def kb_ingest(args: argparse.Namespace, settings: Any) -> int:
    root = Path(args.dir).expanduser()
    if not root.is_dir():
        raise errors.NotFound(f"{root} is not a folder of Markdown runbooks")
    with open_knowledge_base(settings, _index(args)) as kb:
        report = kb.ingest(root)
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        print(report.summary())
    return 0


def _index(args: argparse.Namespace) -> str:
    return str(getattr(args, "index", None) or service.DEFAULT_INDEX)


def kb_search(args: argparse.Namespace, settings: Any) -> int:
    filters = retrieval.Filters(lang=getattr(args, "lang", None),
                                kind=getattr(args, "kind", None),
                                tags=list(getattr(args, "tag", None) or []))
    as_json = bool(getattr(args, "json", False))
    with open_knowledge_base(settings, _index(args)) as kb:
        if kb.is_empty():
            if as_json:
                sys.stdout.write("[]\n")
            print("opsbot: no runbooks indexed yet, run `opsbot kb ingest DIR`",
                  file=sys.stderr)
            return 1
        hits = kb.search(args.query, k=max(1, int(getattr(args, "k", 5))), filters=filters)
    if as_json:
        sys.stdout.write(json.dumps([h.to_json() for h in hits], ensure_ascii=False,
                                    indent=2) + "\n")
        return 0
    if not hits:
        print("no match")
    for rank, hit in enumerate(hits, start=1):
        snippet = " ".join(hit.text.split())[:160]
        print(f"{rank}. [{hit.score:.2f}] {hit.source} — {hit.title}\n   {snippet}")
    return 0
