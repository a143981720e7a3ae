"""Knowledge-base benchmark at scale: ~10,000 chunks, search latency and accuracy.

The shipped runbooks are few (a few hundred chunks), so this benchmark writes a larger,
GENERATED corpus into a temporary folder: per-service variants of the shipped runbooks
and per-service operations guides that recombine sections of several of them, with
service names, namespaces, teams and figures varied. Generation is deterministic (choices
come from SHA-256 of their inputs, never from a random number generator), so two runs
index the very same text. The shipped runbooks are copied into the same folder, ingested
with it, and the question set ``tests/knowledge/data/kb_questions.tsv`` is asked against
the whole: how fast `opsbot kb search` answers and whether the shipped runbook that
answers each question is still found among the generated ones.

Accuracy is reported twice. "strict" counts only the shipped file the question names.
"derived" also accepts a generated file built from that runbook's sections: a service's
copy of the OOMKilled runbook is a right answer to an OOMKilled question, so strict
accuracy measures how often the original still outranks its copies.

Latency is the wall-clock time of ``KnowledgeBase.search`` (what `opsbot kb search` runs),
after one untimed pass over the questions. Wall-clock time depends on what else the
machine runs, so this process's CPU time and Redis's own time per search are printed too.

    python bench/kb_scale_bench.py                  # ~10,000 chunks
    python bench/kb_scale_bench.py --chunks 20000 --repeat 5 --json
    python bench/kb_scale_bench.py --keep /tmp/kb-scale   # keep the generated folder
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import kb_bench  # noqa: E402
from knowledge import chunking, ingest, service  # noqa: E402

__all__ = ["GeneratedCorpus", "generate_corpus", "main", "run"]

DEFAULT_CHUNKS = 10_000
INDEX_NAME = "kb-scale-bench"
GENERATED_DIR = "generated"

# Service names, their teams and namespaces: enough of them that no one name dominates
# the term statistics, as in an organisation with a few hundred services.
SERVICES = [
    "cart-api", "catalog-api", "search-api", "pricing-engine", "inventory-sync",
    "shipping-quotes", "user-profile", "auth-gateway", "token-store", "notification-hub",
    "email-sender", "sms-relay", "recommendation-svc", "review-api", "media-resizer",
    "image-cdn-origin", "fraud-scorer", "ledger-writer", "invoice-renderer", "tax-calculator",
    "loyalty-points", "coupon-service", "order-router", "fulfilment-worker", "returns-api",
    "warehouse-bridge", "courier-webhooks", "analytics-ingest", "clickstream-collector",
    "report-builder", "feature-flags", "config-server", "audit-trail", "gdpr-exporter",
    "partner-gateway", "b2b-orders", "store-locator", "geo-lookup", "currency-rates",
    "payout-scheduler", "subscription-billing", "chat-support", "ticket-sync",
    "translation-api", "sitemap-generator", "price-alerts", "wishlist-api", "gift-cards",
]
TEAMS = ["storefront", "payments", "logistics", "identity", "growth", "data", "platform",
         "support"]
CLUSTERS = ["prod-eu-1", "prod-eu-2", "prod-us-1", "prod-ap-1"]
PAGERS = ["PagerDuty", "Opsgenie", "the on-call phone"]

# Names the shipped runbooks use for their example service, replaced by the generated
# service's own; longer names first so "checkout-api" is not half-replaced by "checkout".
_SERVICE_NAMES = re.compile(r"\b(checkout-api|payments-api|shop-worker|orders-export)\b")
_NAMESPACE = re.compile(r'(namespace="|NS=|-n |namespace )shop\b')
_MEMORY = re.compile(r"\b(\d+)(Mi|Gi)\b")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_H2 = re.compile(r"^##[ \t]+(.+?)[ \t#]*$")
_DEEPER = re.compile(r"(?m)^###")


def _digest(*parts: object) -> int:
    """A stable integer for a choice: the same inputs choose the same way in every run."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def _pick(options: list[str], *parts: object) -> str:
    return options[_digest(*parts) % len(options)]


@dataclass
class Shipped:
    """A shipped runbook split at its level-2 headings."""

    name: str          # file name, e.g. oomkilled.md
    title: str
    lang: str
    tags: list[str]
    sections: list[tuple[str, str]]  # (heading, Markdown under it, deeper headings kept)


def _split_h2(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _H2.match(line)
        if match:
            out.append((match.group(1), []))
        elif out:
            out[-1][1].append(line)
    return [(heading, "\n".join(lines).strip()) for heading, lines in out
            if "\n".join(lines).strip()]


def load_shipped(root: Path = kb_bench.RUNBOOKS) -> list[Shipped]:
    shipped = []
    for path in ingest.markdown_files(root):
        doc = chunking.parse_document(path.name, path.read_text(encoding="utf-8"))
        sections = _split_h2(doc.body)
        if sections:
            shipped.append(Shipped(path.name, doc.title, doc.lang, doc.tags, sections))
    return shipped


def _vary(text: str, service: str, namespace: str, salt: object) -> str:
    """The example service, namespace and memory figures of a section, made this service's."""
    text = _SERVICE_NAMES.sub(service, text)
    text = _NAMESPACE.sub(lambda m: m.group(1) + namespace, text)

    def memory(match: re.Match[str]) -> str:
        scale = (2, 3, 4, 6, 8)[_digest(salt, match.group(0)) % 5]
        return f"{max(1, int(match.group(1)) * scale // 4)}{match.group(2)}"

    return _MEMORY.sub(memory, text)


def _context(service: str, team: str, namespace: str, lang: str, salt: object) -> str:
    """A service-specific section with owners and figures, as real runbooks carry."""
    n = _digest(salt, "context")
    replicas, memory, cpu = 2 + n % 18, (256, 512, 768, 1024, 2048)[n % 5], 100 * (1 + n % 12)
    slo, latency = ("99.9", "99.5", "99.95", "99")[n % 4], (150, 250, 300, 500, 800)[n % 5]
    cluster, pager = _pick(CLUSTERS, salt, "cluster"), _pick(PAGERS, salt, "pager")
    deps = sorted({_pick(SERVICES, salt, "dep", i) for i in range(3)} - {service})
    port = 8000 + n % 1000
    if lang == "zh":
        return (f"## 服务信息：{service}\n\n"
                f"- 负责团队：{team}（值班频道 #{team}-oncall），通过 {pager} 升级。\n"
                f"- 集群 `{cluster}`，命名空间 `{namespace}`，Deployment `{service}`，"
                f"{replicas} 个副本，内存 limit {memory}Mi，CPU limit {cpu}m，端口 {port}。\n"
                f"- SLO：30 天内 {slo}% 的请求在 {latency} ms 内完成。\n"
                f"- 看板：Grafana /d/{service}-overview；日志："
                f"`{{namespace=\"{namespace}\", app=\"{service}\"}}`。\n"
                f"- 依赖：{'、'.join(deps) or '无'}。")
    return (f"## Service context: {service}\n\n"
            f"- Owned by team {team} (#{team}-oncall); escalate through {pager}.\n"
            f"- Cluster `{cluster}`, namespace `{namespace}`, deployment `{service}`: "
            f"{replicas} replicas, memory limit {memory}Mi, CPU limit {cpu}m, port {port}.\n"
            f"- SLO: {slo}% of requests within {latency} ms over 30 days.\n"
            f"- Dashboards: Grafana /d/{service}-overview; logs: "
            f"`{{namespace=\"{namespace}\", app=\"{service}\"}}`.\n"
            f"- Depends on: {', '.join(deps) or 'nothing'}.")


def _front(title: str, lang: str, tags: list[str]) -> str:
    return (f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\n"
            f"tags: [{', '.join(dict.fromkeys(tags))}]\nlang: {lang}\ngenerated: true\n---\n\n")


def _variant(base: Shipped, service: str, team: str, salt: object) -> str:
    """One service's copy of a runbook: a context section, most of the sections, varied."""
    namespace = team
    kept = [s for i, s in enumerate(base.sections)
            if i == 0 or _digest(salt, "keep", i) % 4 != 0]  # drop about a quarter
    parts = [_context(service, team, namespace, base.lang, salt)]
    parts += [f"## {heading}\n\n{_vary(body, service, namespace, (salt, i))}"
              for i, (heading, body) in enumerate(kept)]
    sep = "（" if base.lang == "zh" else " ("
    close = "）" if base.lang == "zh" else ")"
    title = f"{base.title}{sep}{service}{close}"
    return (_front(title, base.lang, [*base.tags, service, team]) + f"# {title}\n\n"
            + "\n\n".join(parts) + "\n")


def _guide(bases: list[Shipped], service: str, team: str, salt: object) -> str:
    """A service's operations guide: one or two sections of each of several runbooks."""
    lang = bases[0].lang
    namespace = team
    title = (f"{service} 运维手册" if lang == "zh" else f"{service} operations guide")
    parts = [_context(service, team, namespace, lang, salt)]
    for j, base in enumerate(bases):
        first = _digest(salt, "section", j) % len(base.sections)
        chosen = sorted({first, (first + 1) % len(base.sections)})
        # One level down: the runbook becomes a "##" part of the guide and its sections
        # "###" under it (deeper headings stay inside their section when chunked).
        subsections = "\n\n".join(
            f"### {base.sections[k][0]}\n\n"
            + _vary(_DEEPER.sub("####", base.sections[k][1]), service, namespace, (salt, j, k))
            for k in chosen)
        parts.append(f"## {base.title}\n\n{subsections}")
    tags = [service, team, *(t for base in bases for t in base.tags[:2])]
    return _front(title, lang, tags) + f"# {title}\n\n" + "\n\n".join(parts) + "\n"


@dataclass
class GeneratedCorpus:
    """A folder holding the shipped runbooks and generated ones, and what came from what."""

    root: Path
    shipped: list[str]
    derived_from: dict[str, set[str]] = field(default_factory=dict)  # generated -> shipped
    chunks: int = 0
    generated_chunks: int = 0


def _count_chunks(source: str, text: str) -> int:
    return len(chunking.split_document(chunking.parse_document(source, text)))


def _plan() -> Iterator[tuple[int, str, str]]:
    """(item number, service, team) in a stable shuffled order that never repeats a pair."""
    pairs = [(name, i) for name in SERVICES for i in range(64)]
    pairs.sort(key=lambda pair: _digest("plan", *pair))
    for n, (name, _) in enumerate(pairs):
        yield n, name, _pick(TEAMS, "team", name)


def generate_corpus(root: Path, target_chunks: int = DEFAULT_CHUNKS) -> GeneratedCorpus:
    """Write the shipped runbooks and generated ones under ``root`` until the whole folder
    chunks into about ``target_chunks`` chunks."""
    shipped = load_shipped()
    root.mkdir(parents=True, exist_ok=True)
    corpus = GeneratedCorpus(root=root, shipped=[s.name for s in shipped])
    for path in ingest.markdown_files(kb_bench.RUNBOOKS):
        shutil.copyfile(path, root / path.name)
        corpus.chunks += _count_chunks(path.name, path.read_text(encoding="utf-8"))
    (root / GENERATED_DIR).mkdir(exist_ok=True)
    # README files are not ingested; this one tells a reader of a kept folder what it is.
    (root / GENERATED_DIR / "README.md").write_text(
        "Generated by bench/kb_scale_bench.py from the shipped runbooks; not real runbooks.\n",
        encoding="utf-8")
    by_lang: dict[str, list[Shipped]] = {}
    for s in shipped:
        by_lang.setdefault(s.lang, []).append(s)
    for n, name, team in _plan():
        if corpus.chunks >= target_chunks:
            break
        if n % 5 == 4:  # one guide in five; the rest are single-topic variants
            pool = by_lang["zh" if _digest("guide-lang", n) % 3 == 0 else "en"]
            picks = sorted({_digest("guide", n, i) % len(pool) for i in range(5)})
            bases = [pool[i] for i in picks]
            text = _guide(bases, name, team, ("guide", n))
            source = f"{GENERATED_DIR}/{team}/{name}/operations-guide-{n}.md"
        else:
            bases = [shipped[_digest("variant", n) % len(shipped)]]
            text = _variant(bases[0], name, team, ("variant", n))
            source = f"{GENERATED_DIR}/{team}/{name}/{n}-{bases[0].name}"
        path = root / source
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        added = _count_chunks(source, text)
        corpus.chunks += added
        corpus.generated_chunks += added
        corpus.derived_from[source] = {b.name for b in bases}
    return corpus


# -- measuring ------------------------------------------------------------------------------


def _server_usec(kb: service.KnowledgeBase) -> float:
    """Microseconds Redis spent in the commands a search sends (FT.SEARCH, HMGET)."""
    stats = kb.index.client.info("commandstats")
    return float(sum(stats.get(name, {}).get("usec", 0)
                     for name in ("cmdstat_FT.SEARCH", "cmdstat_hmget")))


def _rank(sources: list[str], accepted: set[str]) -> int | None:
    return next((i for i, s in enumerate(sources, start=1) if s in accepted), None)


def run(url: str, target_chunks: int, repeat: int, keep: Path | None,
        k: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kb-scale-") as tmp:
        root = keep or Path(tmp) / "runbooks"
        if keep is not None and keep.exists():
            shutil.rmtree(keep)
        started = time.perf_counter()
        corpus = generate_corpus(root, target_chunks)
        generate_s = time.perf_counter() - started

        kb = service.KnowledgeBase(url, index_name=INDEX_NAME)
        kb.index.drop()
        kb.close()
        kb = service.KnowledgeBase(url, index_name=INDEX_NAME)
        started = time.perf_counter()
        report = kb.ingest(root, corpus="scale")
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = kb.ingest(root, corpus="scale")
        noop_s = time.perf_counter() - started
        assert again.chunks_written == 0, "re-ingest of an unchanged corpus wrote chunks"
        indexed = kb.index.count()

        langs = {s: r["lang"] for s, r in kb.index.sources("scale").items()}
        questions = kb_bench.load_questions(kb_bench.QUESTIONS, langs)
        derived: dict[str, set[str]] = {}
        for generated, bases in corpus.derived_from.items():
            for base in bases:
                derived.setdefault(base, set()).add(generated)
        # Warm-up, untimed: the first query loads the vectoriser, and Redis settles after
        # the bulk write (its append-only file and the index's garbage collection).
        for q in questions:
            kb.search(q.text, k=k)
        # Wall-clock latency depends on what else the machine runs, so the two parts it is
        # made of are measured too: this process's CPU time and Redis's own time.
        load = os.getloadavg()[0]
        server_before = _server_usec(kb)
        cpu_before = time.process_time()
        latencies: list[float] = []
        strict: list[int | None] = []
        lenient: list[int | None] = []
        for attempt in range(repeat):
            for q in questions:
                t0 = time.perf_counter()
                hits = kb.search(q.text, k=k)
                latencies.append(time.perf_counter() - t0)
                if attempt == 0:
                    sources = [h.source for h in hits]
                    strict.append(_rank(sources, q.expected))
                    accepted = set(q.expected).union(*(derived.get(e, set())
                                                       for e in q.expected))
                    lenient.append(_rank(sources, accepted))
        client_cpu = (time.process_time() - cpu_before) / len(latencies)
        server = (_server_usec(kb) - server_before) / 1e6 / len(latencies)
        misses = {kind: [{"question": q.text, "expected": sorted(q.expected), "rank": r}
                         for q, r in zip(questions, ranks, strict=True) if r is None or r > 3]
                  for kind, ranks in (("strict", strict), ("derived", lenient))}
        cross = [q.cross for q in questions]
        kb.index.drop()
        kb.close()
    return {
        "corpus": "generated: shipped runbooks plus deterministic per-service variants",
        "files": len(report.added), "generated_files": len(corpus.derived_from),
        "chunks": indexed, "generated_chunks": corpus.generated_chunks,
        "generate_s": round(generate_s, 2), "ingest_s": round(ingest_s, 2),
        "reingest_noop_s": round(noop_s, 3), "refitted": report.refitted,
        "queries": len(latencies),
        "search_p50_ms": round(1000 * statistics.median(latencies), 2),
        "search_p95_ms": round(1000 * kb_bench._p95(latencies), 2),
        "search_max_ms": round(1000 * max(latencies), 2),
        "search_client_cpu_ms": round(1000 * client_cpu, 2),
        "search_redis_ms": round(1000 * server, 2),
        "load_average": round(load, 2), "cpus": os.cpu_count(),
        "accuracy": {
            "strict": kb_bench._scores(strict),
            "strict cross-lingual": kb_bench._scores(
                [r for r, c in zip(strict, cross, strict=True) if c]),
            "derived": kb_bench._scores(lenient),
        },
        "misses_top3": misses,
    }


def _print(result: dict[str, Any]) -> None:
    print(f"== {result['corpus']}")
    print(f"   {result['files']} files ({result['generated_files']} generated), "
          f"{result['chunks']} chunks ({result['generated_chunks']} generated); "
          f"generated in {result['generate_s']:.1f}s")
    print(f"   ingest {result['ingest_s']:.1f}s (unchanged re-ingest "
          f"{result['reingest_noop_s']:.2f}s)")
    print(f"   search over {result['queries']} queries: p50 {result['search_p50_ms']:.1f} ms, "
          f"p95 {result['search_p95_ms']:.1f} ms, max {result['search_max_ms']:.1f} ms")
    print(f"   per search: {result['search_client_cpu_ms']:.1f} ms CPU here, "
          f"{result['search_redis_ms']:.1f} ms in Redis (load average "
          f"{result['load_average']:.1f} on {result['cpus']} CPUs while measuring)")
    for name, s in result["accuracy"].items():
        print(f"   {name:<21} n={s['n']:<3} top1={s['top1']:.3f} top3={s['top3']:.3f} "
              f"mrr={s['mrr']:.3f}")
    print(f"   {len(result['misses_top3']['strict'])} questions miss the shipped runbook in "
          "the top 3 (most rank a generated copy of it first: see the JSON); missed even "
          "counting copies:")
    for miss in result["misses_top3"]["derived"]:
        print(f"     rank {miss['rank']}: {miss['question']} -> {miss['expected']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS,
                        help=f"chunks to index in all (default {DEFAULT_CHUNKS})")
    parser.add_argument("--repeat", type=int, default=3,
                        help="passes over the question set for the latency figures")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the generated folder here and keep it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    keep: Path | None = args.keep
    if (keep is not None and keep.is_dir() and any(keep.iterdir())
            and not (keep / GENERATED_DIR / "README.md").is_file()):
        # --keep replaces the folder's content: never that of a folder this did not write.
        print(f"{keep} is not empty and was not generated by this benchmark", file=sys.stderr)
        return 2
    with kb_bench.redis_url() as url:
        result = run(url, args.chunks, max(1, args.repeat), keep)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
