"""Knowledge-base benchmark: ingest time, search latency, retrieval accuracy.

Runs on an embedded Redis (or ``REDIS_URL``) against the shipped runbooks and the question
set ``tests/knowledge/data/kb_questions.tsv`` (``expected_source<TAB>question``). Accuracy
is measured per distinct runbook, as `opsbot kb search` lists them: top-1, top-3 and MRR,
for all questions and split into English, Chinese and cross-lingual ones (question
language differs from the expected runbook's).

    python bench/kb_bench.py                  # the default configuration
    python bench/kb_bench.py --variants all   # every retrieval option side by side
    python bench/kb_bench.py --json

bench/kb_scale_bench.py measures latency and accuracy with ~10,000 chunks around them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from knowledge import embedders, ingest, retrieval  # noqa: E402
from knowledge import glossary as glossary_mod  # noqa: E402
from knowledge import index as index_mod  # noqa: E402
from knowledge import text as text_mod  # noqa: E402

RUNBOOKS = ROOT / "knowledge" / "runbooks"
QUESTIONS = ROOT / "tests" / "knowledge" / "data" / "kb_questions.tsv"


@dataclass
class Variant:
    """One retrieval configuration to measure."""

    name: str
    offline: embedders.OfflineConfig = field(default_factory=embedders.OfflineConfig)
    search: retrieval.SearchConfig = field(default_factory=retrieval.SearchConfig)
    expand_documents: bool = True


def variants() -> dict[str, Variant]:
    off = embedders.OfflineConfig()
    search = retrieval.SearchConfig()
    no_gloss = replace(off, expand_documents=False, expand_queries=False, glossary_docs=False)
    bm25 = replace(search, vector_weight=0.0)
    vec = replace(search, text_weight=0.0)
    docs_too = replace(off, expand_documents=True)
    docs_only = replace(off, expand_documents=True, expand_queries=False)
    return {v.name: v for v in [
        Variant("hybrid (default)"),
        Variant("bm25 only", search=bm25),
        Variant("vector only", search=vec),
        Variant("hybrid, no glossary", offline=no_gloss,
                search=replace(search, expand_query=False)),
        Variant("bm25 only, no glossary", search=replace(bm25, expand_query=False)),
        Variant("vector only, no glossary", offline=no_gloss, search=vec),
        Variant("glossary on documents too", offline=docs_too, expand_documents=True),
        Variant("glossary on documents instead of questions", offline=docs_only,
                search=replace(search, expand_query=False), expand_documents=True),
        Variant("no glossary entries in the fit", offline=replace(off, glossary_docs=False)),
        Variant("no char n-grams", offline=replace(off, char_ngrams=False)),
        Variant("per-chunk fusion", search=replace(search, fuse_sources=False)),
        Variant("128 dims", offline=replace(off, dims=128)),
        Variant("rrf k=10", search=replace(search, rrf_k=10)),
        Variant("text weight 1.5", search=replace(search, text_weight=1.5)),
        Variant("per-language bm25", search=replace(search, split_languages=True)),
        Variant("per-language bm25, vector weight 1.5",
                search=replace(search, split_languages=True, vector_weight=1.5)),
        Variant("per-language bm25, vector weight 2",
                search=replace(search, split_languages=True, vector_weight=2.0)),
        Variant("vector weight 1.5", search=replace(search, vector_weight=1.5)),
        Variant("vector weight 2", search=replace(search, vector_weight=2.0)),
        Variant("vector weight 3", search=replace(search, vector_weight=3.0)),
        Variant("no translation preference",
                search=replace(search, prefer_asker_language=False)),
    ]}


@dataclass
class Question:
    expected: set[str]
    text: str
    lang: str
    cross: bool


def load_questions(path: Path, langs: dict[str, str]) -> list[Question]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or "\t" not in line:
            continue
        expected, _, question = line.partition("\t")
        if expected.strip() == "expected_source":
            continue  # header row
        sources = {s.strip() for s in expected.replace(",", "|").split("|") if s.strip()}
        lang = text_mod.detect_lang(question)
        out.append(Question(sources, question.strip(), lang,
                            cross=all(langs.get(s, lang) != lang for s in sources)))
    return out


@contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from tools.embedded import redis_server

    with tempfile.TemporaryDirectory() as tmp, redis_server.EmbeddedRedis(Path(tmp)) as server:
        yield server.url


def _ranks(questions: list[Question], search: Callable[[str], list[str]]
           ) -> tuple[list[int | None], list[float]]:
    ranks: list[int | None] = []
    latencies: list[float] = []
    for q in questions:
        started = time.perf_counter()
        sources = search(q.text)
        latencies.append(time.perf_counter() - started)
        rank = next((i for i, s in enumerate(sources, start=1) if s in q.expected), None)
        ranks.append(rank)
    return ranks, latencies


def _scores(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {"n": len(ranks),
            "top1": sum(1 for r in ranks if r == 1) / n,
            "top3": sum(1 for r in ranks if r is not None and r <= 3) / n,
            "mrr": sum(1.0 / r for r in ranks if r) / n}


def _evaluate(idx: index_mod.KnowledgeIndex, questions: list[Question],
              config: retrieval.SearchConfig) -> tuple[dict[str, Any], list[int | None],
                                                       list[float]]:
    def search(query: str) -> list[str]:
        return [h.source for h in retrieval.hybrid_search(idx, query, k=10, config=config)]

    search(questions[0].text if questions else "warm up")
    ranks, latencies = _ranks(questions, search)
    groups = {"all": [True] * len(questions),
              "en": [q.lang == "en" for q in questions],
              "zh": [q.lang == "zh" for q in questions],
              "cross-lingual": [q.cross for q in questions],
              "same-language": [not q.cross for q in questions]}
    accuracy = {name: _scores([r for r, keep in zip(ranks, mask, strict=True) if keep])
                for name, mask in groups.items()}
    return accuracy, ranks, latencies


def _ingest(client: redis.Redis, offline: embedders.OfflineConfig, expand_documents: bool
            ) -> tuple[index_mod.KnowledgeIndex, ingest.IngestReport, float, float]:
    embedder = embedders.OfflineEmbedder(offline)
    idx = index_mod.KnowledgeIndex(client, embedder, name="kb-bench",
                                   expand_documents=expand_documents)
    idx.drop()
    idx.open()
    started = time.perf_counter()
    report = ingest.ingest_dir(idx, RUNBOOKS, corpus="bench")
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    again = ingest.ingest_dir(idx, RUNBOOKS, corpus="bench")
    noop_s = time.perf_counter() - started
    assert again.chunks_written == 0, "re-ingest of an unchanged corpus wrote chunks"
    return idx, report, ingest_s, noop_s


def _questions(idx: index_mod.KnowledgeIndex, path: Path) -> list[Question]:
    return load_questions(path, {s: r["lang"] for s, r in idx.sources("bench").items()})


def run_variant(client: redis.Redis, variant: Variant, questions_path: Path,
                *, misses: bool = False) -> dict[str, Any]:
    idx, report, ingest_s, noop_s = _ingest(client, variant.offline, variant.expand_documents)
    questions = _questions(idx, questions_path)
    accuracy, ranks, latencies = _evaluate(idx, questions, variant.search)
    result: dict[str, Any] = {
        "variant": variant.name, "files": len(report.added), "chunks": idx.count(),
        "ingest_s": round(ingest_s, 3), "reingest_noop_s": round(noop_s, 3),
        "search_p50_ms": round(1000 * statistics.median(latencies), 2) if latencies else 0,
        "search_p95_ms": round(1000 * _p95(latencies), 2) if latencies else 0,
        "accuracy": accuracy,
    }
    if misses:
        result["misses"] = [
            {"question": q.text, "expected": sorted(q.expected), "rank": r,
             "got": [h.source for h in retrieval.hybrid_search(idx, q.text, k=3,
                                                               config=variant.search)]}
            for q, r in zip(questions, ranks, strict=True) if r != 1]
    idx.drop()
    return result


def run_grid(client: redis.Redis, questions_path: Path) -> list[dict[str, Any]]:
    """Every combination of where the glossary applies, the fit, char n-grams and fusion.

    Index-side options need a fresh ingest; query-side ones reuse it (the embedder's
    query expansion is switched on the fitted object, which only this benchmark does).
    """
    rows: list[dict[str, Any]] = []
    flags = (False, True)
    for bm25_docs, vec_docs, gloss_fit, chars in itertools.product(flags, repeat=4):
        offline = embedders.OfflineConfig(expand_documents=vec_docs, glossary_docs=gloss_fit,
                                          char_ngrams=chars)
        idx, _, _, _ = _ingest(client, offline, bm25_docs)
        questions = _questions(idx, questions_path)
        embedder = idx.embedder
        assert isinstance(embedder, embedders.OfflineEmbedder)
        for bm25_q, vec_q, by_source, text_weight in itertools.product(
                flags, flags, flags, (1.0, 1.5)):
            embedder.config = replace(offline, expand_queries=vec_q)
            config = retrieval.SearchConfig(expand_query=bm25_q, fuse_sources=by_source,
                                            text_weight=text_weight)
            accuracy, _, _ = _evaluate(idx, questions, config)
            rows.append({"bm25_docs": bm25_docs, "bm25_query": bm25_q, "vec_docs": vec_docs,
                         "vec_query": vec_q, "glossary_fit": gloss_fit, "char_ngrams": chars,
                         "fuse_sources": by_source, "text_weight": text_weight,
                         "accuracy": accuracy})
        idx.drop()
    rows.sort(key=lambda r: (-r["accuracy"]["all"]["mrr"], -r["accuracy"]["all"]["top3"]))
    return rows


def _print_grid(rows: list[dict[str, Any]]) -> None:
    keys = ("bm25_docs", "bm25_query", "vec_docs", "vec_query", "glossary_fit", "char_ngrams",
            "fuse_sources")
    print("  ".join(k for k in keys) + "  tw   | all t1/t3/mrr      | cross t1/t3/mrr")
    for row in rows:
        a, c = row["accuracy"]["all"], row["accuracy"]["cross-lingual"]
        print("  ".join(f"{'y' if row[k] else '-':>{len(k)}}" for k in keys)
              + f"  {row['text_weight']:.1f}  | {a['top1']:.3f} {a['top3']:.3f} {a['mrr']:.3f}"
              + f"  | {c['top1']:.3f} {c['top3']:.3f} {c['mrr']:.3f}")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _print(result: dict[str, Any]) -> None:
    print(f"== {result['variant']}")
    print(f"   ingest {result['files']} files / {result['chunks']} chunks: "
          f"{result['ingest_s']:.2f}s (unchanged re-ingest {result['reingest_noop_s']:.3f}s); "
          f"search p50 {result['search_p50_ms']:.1f} ms, p95 {result['search_p95_ms']:.1f} ms")
    for name, s in result["accuracy"].items():
        print(f"   {name:<14} n={s['n']:<3} top1={s['top1']:.3f} top3={s['top3']:.3f} "
              f"mrr={s['mrr']:.3f}")
    for miss in result.get("misses", []):
        print(f"   miss (rank {miss['rank']}): {miss['question']} -> expected "
              f"{miss['expected']}, got {miss['got']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="default",
                        help="'default', 'all', or variant names separated by ';'")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    parser.add_argument("--glossary", type=Path, default=None,
                        help="measure with another glossary TSV instead of the shipped one")
    parser.add_argument("--grid", action="store_true",
                        help="measure every combination of the glossary and fusion options")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.glossary is not None:
        # Everything loads the glossary through this cached loader; swap what it returns.
        alternative = glossary_mod.Glossary.from_tsv(args.glossary)
        glossary_mod.load_default.cache_clear()
        glossary_mod.load_default = lambda: alternative  # type: ignore[assignment]
    if not args.questions.exists():
        print(f"no question set at {args.questions}", file=sys.stderr)
        return 2
    table = variants()
    if args.variants == "default":
        chosen = [table["hybrid (default)"]]
    elif args.variants == "all":
        chosen = list(table.values())
    else:
        chosen = [table[name.strip()] for name in args.variants.split(";")]
    results = []
    with redis_url() as url:
        client = redis.Redis.from_url(url)
        if args.grid:
            rows = run_grid(client, args.questions)
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                _print_grid(rows)
            return 0
        for variant in chosen:
            result = run_variant(client, variant, args.questions, misses=args.misses)
            results.append(result)
            if not args.json:
                _print(result)
        client.close()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
