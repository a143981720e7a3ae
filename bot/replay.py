"""`opsbot replay BUNDLE`: load an incident bundle into a sandbox cluster and a local
Prometheus (timestamps shifted so its end is now), run the RCA subgraph, rank causes.

The same path serves the CLI, the scenario-suite tests and the RCA benchmark, so what is
measured is what users run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import alerts
from bot import settings as settings_mod
from graph import rca, router, targets
from tools import bundles, kube, prom, read_tools, server, session

__all__ = ["replay_bundle", "run_replay"]


def _pod_namespaces(bundle: bundles.Bundle) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"].get("namespace", bundle.namespace)
            for o in bundle.objects if o.get("kind") == "Pod"}


@contextlib.contextmanager
def _backends(bundle: bundles.Bundle, work: Path, with_prometheus: bool) -> Iterator[
        tuple[kube.KubeApi, prom.PromApi | None]]:
    from tools.sandbox import cluster

    with contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(cluster.SandboxCluster("empty"))
        sandbox.load_objects(bundle.objects)
        namespaces = _pod_namespaces(bundle)
        for (pod, container, previous), text in bundle.logs.items():
            sandbox.set_pod_log(namespaces.get(pod, bundle.namespace), pod, container, text,
                                previous=previous)
        kube_api = kube.connect(kubeconfig=str(sandbox.write_kubeconfig(work / "kubeconfig")))
        stack.callback(kube_api.close)
        prom_api = None
        if with_prometheus and bundle.metrics:
            from tools.embedded import prometheus_server

            history = work / "metrics.om"
            history.write_text(bundle.metrics)
            embedded = stack.enter_context(prometheus_server.EmbeddedPrometheus(
                work / "prometheus", backfill=[history]))
            prom_api = prom.PromApi(embedded.url)
        yield kube_api, prom_api


async def _target(tools: session.ToolSession, bundle: bundles.Bundle) -> targets.Target:
    resolver = targets.TargetResolver(tools)
    alert = bundle.meta.get("alert") or {}
    labels: dict[str, str] = {}
    if isinstance(alert, dict):
        labels = {**(alert.get("commonLabels") or {}),
                  **((alert.get("alerts") or [{}])[0].get("labels") or {})}
    candidates: list[tuple[str | None, str | None]] = []
    found = alerts.target_from_labels(labels) if labels else None
    if found:
        candidates.append(found)
    if bundle.meta.get("target"):
        candidates.append((str(bundle.meta["target"]), bundle.namespace))
    if bundle.question:
        candidates.append((router.extract_target(bundle.question), bundle.namespace))
    for phrase, namespace in candidates:
        resolution = await resolver.resolve(phrase, namespace=namespace,
                                            text=bundle.question)
        if resolution.status == "found" and resolution.target is not None:
            return resolution.target
    return targets.Target("Namespace", "", bundle.namespace)


async def replay_bundle(bundle: bundles.Bundle, *, work_dir: Path | None = None,
                        with_prometheus: bool = True) -> dict[str, Any]:
    """Ranked causes for a (not yet shifted) bundle, as the RCA JSON contract."""
    began = time.perf_counter()
    shifted = bundles.shift_bundle(bundle, datetime.now(UTC))
    with contextlib.ExitStack() as stack:
        work = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="opsbot-replay-")))
        kube_api, prom_api = stack.enter_context(_backends(shifted, work, with_prometheus))
        reader = read_tools.ReadTools(kube_api, prom_api)
        async with session.ToolSession(server=server.build_server(reader)) as tools:
            target = await _target(tools, shifted)
            alert = shifted.meta.get("alert") or {}
            started = ""
            if isinstance(alert, dict) and alert.get("alerts"):
                started = str(alert["alerts"][0].get("startsAt") or "")
            result = await rca.run_rca(rca.RcaDeps(tools=tools), target,
                                       question=shifted.question, started_at=started)
    result["target"] = target.ref
    result["bundle"] = bundle.name
    result["took_s"] = round(time.perf_counter() - began, 3)
    return result


def run_replay(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    bundle = bundles.load_bundle(Path(args.bundle))
    result = asyncio.run(replay_bundle(bundle))
    if args.json:
        sys.stdout.write(json.dumps({k: result[k] for k in (
            "causes", "took_s", "target", "bundle", "missing") if k in result},
            ensure_ascii=False, indent=2) + "\n")
        return 0
    print(f"{bundle.name}: {result['target']} ({result['took_s']:.1f} s)")
    if not result["causes"]:
        print("  nothing wrong found")
    for number, cause in enumerate(result["causes"], 1):
        print(f"  {number}. {cause['kind']:<17} {cause['resource']:<45} "
              f"{cause['confidence']:.0%}  {cause['summary']}")
        for line in cause["evidence"][:3]:
            print(f"       {line}")
    return 0
