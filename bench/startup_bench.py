"""Demo start-up time: how long `opsbot demo` takes until the console is ready, part by
part (embedded Redis, sandbox cluster, metric history + Prometheus, MCP session, graph),
and the first answer through the whole pipeline.

    python bench/startup_bench.py [--runs 3] [--scenario crashloop]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot import runtime
from bot import settings as settings_mod
from graph import chat


async def one_run(state: Path, scenario: str) -> dict[str, float]:
    settings = settings_mod.Settings(OPSBOT_STATE_DIR=str(state))
    began = time.perf_counter()
    async with runtime.Runtime(settings, scenario=scenario) as rt:
        ready = time.perf_counter() - began
        asked = time.perf_counter()
        await rt.handle(chat.ChatRequest(text="list the pods in namespace shop"))
        first_query = time.perf_counter() - asked
        asked = time.perf_counter()
        await rt.handle(chat.ChatRequest(text="/rca worker"))
        first_rca = time.perf_counter() - asked
    return {"ready_s": ready, "first_query_s": first_query, "first_rca_s": first_rca,
            "total_s": time.perf_counter() - began}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="crashloop")
    args = parser.parse_args()
    rows = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="opsbot-startup-") as tmp:
            # A fresh state dir each run: the first start also indexes the runbooks.
            rows.append(asyncio.run(one_run(Path(tmp), args.scenario)))
        print(f"run {run + 1}: " + "  ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()))
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(f"{key:<14} median {statistics.median(values):.2f} s  "
              f"min {min(values):.2f} s  max {max(values):.2f} s")


if __name__ == "__main__":
    main()
