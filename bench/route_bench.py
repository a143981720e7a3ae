"""Speed and accuracy of the offline router.

    python bench/route_bench.py [--file TSV] [--calls N]

Prints the classifier's training time (first in the process, which includes loading the
scikit-learn code it uses, and warm), the throughput and p50/p99 latency of
`router.route_message` over the messages of the file (cycled to N calls), and the
accuracy per route on the file (`route<TAB>text` lines; default: the evaluation set).
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))  # run as a script: make the project importable

from graph import intents, router  # noqa: E402

__all__ = ["main"]

DEFAULT_FILE = ROOT / "tests" / "graph" / "data" / "route_eval.tsv"


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=pathlib.Path, default=DEFAULT_FILE,
                        help="labelled messages, route<TAB>text (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=5000,
                        help="route_message calls for the latency figures (default: 5000)")
    args = parser.parse_args(argv)

    rows = intents.parse_rows(args.file.read_text(encoding="utf-8"))
    if not rows:
        parser.error(f"{args.file} holds no rows")
    training = intents.load_rows("utterances.tsv")

    started = time.perf_counter()
    classifier = intents.IntentClassifier.train(training)
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        intents.IntentClassifier.train(training)
        warm.append(time.perf_counter() - started)
    print(f"training: {len(training)} utterances, first {cold * 1000:.0f} ms, "
          f"warm median {statistics.median(warm) * 1000:.0f} ms")

    texts = [text for _, text in rows]
    latencies = []
    started = time.perf_counter()
    for i in range(args.calls):
        t0 = time.perf_counter_ns()
        router.route_message(texts[i % len(texts)], classifier)
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
    total = time.perf_counter() - started
    latencies.sort()
    print(f"route_message: {args.calls} calls, {args.calls / total:.0f} messages/s, "
          f"p50 {_percentile(latencies, 0.5):.3f} ms, p99 {_percentile(latencies, 0.99):.3f} ms")

    decided = [router.route_message(text, classifier) for text in texts]
    totals: collections.Counter[str] = collections.Counter(route for route, _ in rows)
    hits: collections.Counter[str] = collections.Counter(
        route for (route, _), d in zip(rows, decided, strict=True) if d.route == route)
    confusions: collections.Counter[tuple[str, str]] = collections.Counter(
        (route, d.route) for (route, _), d in zip(rows, decided, strict=True)
        if d.route != route)
    print(f"accuracy on {args.file.name}: {sum(hits.values()) / len(rows):.3f} "
          f"({sum(hits.values())}/{len(rows)})")
    for route in intents.ROUTES:
        if totals[route]:
            print(f"  {route:9} {hits[route] / totals[route]:.3f} "
                  f"({hits[route]}/{totals[route]})")
    if confusions:
        print("most frequent confusions (expected -> routed):")
        for (expected, got), count in confusions.most_common(5):
            print(f"  {expected} -> {got}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
