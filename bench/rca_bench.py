"""RCA benchmark: the incident-bundle suite and a synthetic namespace at scale.

    python -m bench.rca_bench [--bundles DIR] [--no-degraded] [--no-scale]
                              [--pods 2000] [--series 20000] [--json]

Suite: every bundle of tests/rca_bundles is replayed the way `opsbot replay` does (sandbox
cluster, local Prometheus shared by the bundles, the RCA subgraph) and graded against its
`expected` cause: top-1 kind, resource and both, top-3, and time per bundle (replay: the
sandbox, tool server and RCA; rca: the RCA alone; the shared Prometheus start is counted
once, apart). Degraded variants replay each bundle again without its logs, without its
metrics and without its events (rotated logs, no Prometheus, events past their one-hour
TTL), which is where the RCA gets things wrong; the reliability table (confidence of the
top cause against how often it is right) is drawn over all of them.

Scale: a namespace of `--pods` pods in Deployments of ten, one of them crash-looping, with
ten series per pod (`--series` at least), two hours at a two-minute step. Measured: the
RCA of the namespace and of the faulty workload, with peak Python memory (tracemalloc)
and the process's maximum resident set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from bench import _rca_scale  # noqa: E402
from bot import replay  # noqa: E402
from tools import bundles  # noqa: E402

__all__ = ["Run", "degrade", "main", "reliability", "run_scale", "run_suite"]

SUITE = ROOT / "tests" / "rca_bundles"
VARIANTS = ("full", "no-logs", "no-metrics", "no-events")
BUCKETS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


@dataclass(frozen=True)
class Run:
    bundle: str
    variant: str
    expected: dict[str, str]
    grade: bundles.Grade
    top: str
    took_s: float
    rca_s: float


def degrade(bundle: bundles.Bundle, variant: str) -> bundles.Bundle:
    """The bundle as an on-call would find it with part of the evidence gone."""
    if variant == "no-logs":
        return replace(bundle, logs={})
    if variant == "no-metrics":
        return replace(bundle, metrics="")
    if variant == "no-events":
        return replace(bundle, objects=[o for o in bundle.objects if o["kind"] != "Event"])
    return bundle


def run_suite(folder: Path, variants: tuple[str, ...]) -> list[Run]:
    loaded = [bundles.load_bundle(p) for p in sorted(folder.iterdir()) if p.is_dir()]
    runs: list[Run] = []
    for variant in variants:
        batch = [degrade(b, variant) for b in loaded]
        results = asyncio.run(replay.replay_bundles(batch))
        for bundle, result in zip(batch, results, strict=True):
            expected = bundle.expected or {"kind": "none"}
            top = result["causes"][0] if result["causes"] else None
            runs.append(Run(bundle.name, variant, expected,
                            bundles.grade(expected, result["causes"]),
                            f"{top['kind']}:{top['resource']}" if top else "nothing",
                            float(result["took_s"]), float(result.get("rca_s") or 0.0)))
    return runs


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def accuracy(runs: list[Run]) -> dict[str, Any]:
    n = len(runs)
    return {"bundles": n,
            "top1_kind": sum(r.grade.kind for r in runs) / n,
            "top1_resource": sum(r.grade.resource for r in runs) / n,
            "top1": sum(r.grade.correct for r in runs) / n,
            "top3": sum(1 for r in runs if r.grade.rank and r.grade.rank <= 3) / n}


def reliability(runs: list[Run]) -> list[dict[str, Any]]:
    """Confidence of the top cause against accuracy, positives only (a negative control
    is right exactly when the confidence is low, which would say nothing)."""
    rows = []
    positives = [r for r in runs if r.expected.get("kind") != "none"]
    for lo, hi in BUCKETS:
        chosen = [r for r in positives if lo <= r.grade.confidence < hi]
        if chosen:
            rows.append({"bucket": f"[{lo:.1f}, {min(hi, 1.0):.1f})", "n": len(chosen),
                         "mean_confidence": statistics.fmean(r.grade.confidence
                                                             for r in chosen),
                         "accuracy": sum(r.grade.correct for r in chosen) / len(chosen)})
    return rows


def run_scale(pods: int, series: int) -> dict[str, Any]:
    built = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    bundle, count = _rca_scale.scale_bundle(pods, series, end=now)
    built_s = time.perf_counter() - built
    workload = replace(bundle, meta={**bundle.meta, "target": _rca_scale.FAULTY,
                                     "question": f"why is {_rca_scale.FAULTY} failing?"})
    figures: dict[str, Any] = {"pods": pods, "series": count, "objects": len(bundle.objects),
                               "metrics_mb": round(len(bundle.metrics) / 2**20, 1),
                               "build_s": round(built_s, 2)}
    with tempfile.TemporaryDirectory(prefix="opsbot-rca-scale-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        with replay.prometheus_for([bundle], work / "prom") as url:
            figures["prometheus_start_s"] = round(time.perf_counter() - began, 2)
            for label, case in (("namespace", bundle), ("workload", workload)):
                folder = work / label
                folder.mkdir()
                began = time.perf_counter()
                result = asyncio.run(replay.replay_shifted(case, folder, url, now.timestamp()))
                top = result["causes"][0] if result["causes"] else None
                figures[label] = {"replay_s": round(time.perf_counter() - began, 2),
                                  "rca_s": result["rca_s"], "target": result["target"],
                                  "top": f"{top['kind']}:{top['resource']}" if top else None,
                                  "checked": len(result.get("checked") or [])}
            folder = work / "traced"
            folder.mkdir()
            tracemalloc.start()
            asyncio.run(replay.replay_shifted(bundle, folder, url, now.timestamp()))
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    figures["peak_traced_mb"] = round(peak / 2**20, 1)
    # ru_maxrss is in KiB on Linux: the whole process, bundle and sandbox included.
    figures["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return figures


def _print_suite(runs: list[Run], shown: tuple[str, ...]) -> None:
    full = [r for r in runs if r.variant == "full"]
    print(f"{'bundle':44} {'expected':58} {'top cause':58} conf   s")
    for r in full:
        mark = "  " if r.grade.correct else "XX"
        expected = f"{r.expected.get('kind')}:{r.expected.get('resource', '')}"
        print(f"{mark}{r.bundle:42} {expected[:57]:58} {r.top[:57]:58} "
              f"{r.grade.confidence:.2f} {r.took_s:4.1f}")
    took = [r.took_s for r in full]
    rca = [r.rca_s for r in full]
    print(f"\ntime per bundle: replay median {statistics.median(took):.2f} s, p95 "
          f"{_pct(took, 0.95):.2f} s; RCA alone median {statistics.median(rca):.2f} s, p95 "
          f"{_pct(rca, 0.95):.2f} s")
    for variant in shown:
        chosen = [r for r in runs if r.variant == variant]
        if chosen:
            a = accuracy(chosen)
            print(f"{variant:11} n={a['bundles']:3}  top-1 kind {a['top1_kind']:.0%}  "
                  f"resource {a['top1_resource']:.0%}  both {a['top1']:.0%}  "
                  f"top-3 {a['top3']:.0%}")
    wrong = Counter(f"{r.variant}: {r.expected.get('kind')} -> {r.top.partition(':')[0]}"
                    for r in runs if not r.grade.correct)
    if wrong:
        print("misses: " + "; ".join(f"{k} (x{v})" for k, v in wrong.most_common(12)))
    print("\nreliability (top cause of positive bundles, all variants):")
    print("  confidence    n  mean conf  accuracy")
    for row in reliability(runs):
        print(f"  {row['bucket']:11} {row['n']:3}  {row['mean_confidence']:9.2f}  "
              f"{row['accuracy']:8.0%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=Path, default=SUITE)
    parser.add_argument("--no-degraded", action="store_true",
                        help="replay only the bundles as recorded")
    parser.add_argument("--no-scale", action="store_true", help="skip the synthetic namespace")
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--series", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the tool server logs every call at INFO
    variants = ("full",) if args.no_degraded else VARIANTS
    began = time.perf_counter()
    runs = run_suite(args.bundles, variants)
    suite_s = time.perf_counter() - began
    scale = None if args.no_scale else run_scale(args.pods, args.series)
    if args.json:
        full = [r for r in runs if r.variant == "full"]
        print(json.dumps({
            "suite": {"seconds": round(suite_s, 1),
                      "replay_median_s": statistics.median(r.took_s for r in full),
                      "replay_p95_s": _pct([r.took_s for r in full], 0.95),
                      "rca_median_s": statistics.median(r.rca_s for r in full),
                      "rca_p95_s": _pct([r.rca_s for r in full], 0.95),
                      **{v: accuracy([r for r in runs if r.variant == v]) for v in variants},
                      "reliability": reliability(runs)},
            "scale": scale}, indent=2))
        return 0
    _print_suite(runs, variants)
    print(f"\nsuite: {len(runs)} replays in {suite_s:.0f} s")
    if scale:
        print(f"\nsynthetic namespace: {scale['pods']} pods, {scale['series']} series "
              f"({scale['metrics_mb']} MB of OpenMetrics), {scale['objects']} objects; "
              f"built in {scale['build_s']} s, Prometheus backfilled and up in "
              f"{scale['prometheus_start_s']} s")
        for label in ("namespace", "workload"):
            row = scale[label]
            print(f"  RCA of the {label:9} {row['rca_s']:.2f} s (replay {row['replay_s']:.2f} s,"
                  f" {row['checked']} workloads checked) -> {row['top']}")
        print(f"  peak Python memory during the namespace RCA {scale['peak_traced_mb']} MB "
              f"(tracemalloc); max RSS of the process {scale['max_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
