"""`opsbot replay BUNDLE`: load an incident bundle into a sandbox cluster and a local
Prometheus (timestamps shifted so its end is now), run the RCA subgraph, rank causes.

The same path serves the CLI, the scenario-suite tests and the RCA benchmark, so what is
measured is what users run. `replay_bundles` replays many bundles against one shared
Prometheus: starting Prometheus costs more than a whole RCA.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import alerts
from bot import settings as settings_mod
from graph import rca, router, targets
from tools import bundles, kube, prom, read_tools, server, session

__all__ = ["metric_namespaces", "prometheus_for", "replay_bundle", "replay_bundles",
           "replay_shifted", "run_replay"]

_NAMESPACE_LABEL = re.compile(r'namespace="([^"]*)"')


def _pod_namespaces(bundle: bundles.Bundle) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"].get("namespace", bundle.namespace)
            for o in bundle.objects if o.get("kind") == "Pod"}


def metric_namespaces(bundle: bundles.Bundle) -> set[str]:
    """Namespaces the bundle's series carry: bundles sharing one Prometheus must not mix
    series of the same namespace."""
    return set(_NAMESPACE_LABEL.findall(bundle.metrics))


@contextlib.contextmanager
def _cluster(bundle: bundles.Bundle, work: Path) -> Iterator[kube.KubeApi]:
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
        yield kube_api


@contextlib.contextmanager
def prometheus_for(shifted: Sequence[bundles.Bundle], work: Path) -> Iterator[str]:
    """One embedded Prometheus backfilled with the (already shifted) bundles' metrics;
    yields its URL."""
    from tools.embedded import prometheus_server

    work.mkdir(parents=True, exist_ok=True)
    files = []
    for number, bundle in enumerate(shifted):
        if bundle.metrics.strip():
            path = work / f"metrics-{number}.om"
            path.write_text(bundle.metrics)
            files.append(path)
    with prometheus_server.EmbeddedPrometheus(work / "prometheus", backfill=files) as server_:
        yield server_.url


async def _target(tools: session.ToolSession, bundle: bundles.Bundle) -> targets.Target:
    """What the on-call asked about: the alert's object, the bundle's `target`, the
    question; an alert that names only a namespace is the weakest hint."""
    resolver = targets.TargetResolver(tools)
    alert = bundle.meta.get("alert") or {}
    labels: dict[str, str] = {}
    if isinstance(alert, dict):
        labels = {**(alert.get("commonLabels") or {}),
                  **((alert.get("alerts") or [{}])[0].get("labels") or {})}
    specific: list[tuple[str | None, str | None]] = []
    fallback: list[tuple[str | None, str | None]] = []
    if labels.get("horizontalpodautoscaler"):
        # kube-state-metrics names the HPA; it is named after the workload it scales.
        specific.append((labels["horizontalpodautoscaler"],
                         labels.get("namespace") or bundle.namespace))
    found = alerts.target_from_labels(labels) if labels else None
    if found:
        (fallback if found[0] and found[0].startswith("namespace/") else specific).append(found)
    if bundle.meta.get("target"):
        specific.append((str(bundle.meta["target"]), bundle.namespace))
    if bundle.question:
        specific.append((router.extract_target(bundle.question), bundle.namespace))
    for phrase, namespace in specific + fallback:
        resolution = await resolver.resolve(phrase, namespace=namespace,
                                            text=bundle.question)
        if resolution.status == "found" and resolution.target is not None:
            return resolution.target
    return targets.Target("Namespace", "", bundle.namespace)


async def replay_shifted(shifted: bundles.Bundle, work: Path, prom_url: str | None,
                         now: float) -> dict[str, Any]:
    """The RCA of a bundle already shifted to end at `now` (epoch seconds), its metrics
    served at `prom_url` (see `prometheus_for`)."""
    began = time.perf_counter()
    with _cluster(shifted, work) as kube_api:
        prom_api = prom.PromApi(prom_url) if prom_url else None
        reader = read_tools.ReadTools(kube_api, prom_api)
        async with session.ToolSession(server=server.build_server(reader)) as tools:
            target = await _target(tools, shifted)
            alert = shifted.meta.get("alert") or {}
            started = ""
            if isinstance(alert, dict) and alert.get("alerts"):
                started = str(alert["alerts"][0].get("startsAt") or "")
            # The bundle's end is `now`; the clock runs on from there, so a replay late in
            # a long suite sees the same incident as the first one.
            deps = rca.RcaDeps(tools=tools, clock=lambda: now + time.perf_counter() - began)
            result = await rca.run_rca(deps, target, question=shifted.question,
                                       started_at=started)
    if not prom_url and not shifted.metrics.strip():  # no Prometheus: nothing to serve
        result["missing"] = [m for m in result.get("missing", [])
                             if not m.startswith("metrics:")]
        result["missing"].append("metrics: none recorded in this bundle (no metrics.om)")
    result["target"] = target.ref
    result["rca_s"] = result.get("took_s", 0.0)  # the RCA alone; took_s becomes the replay's
    return result


async def replay_bundle(bundle: bundles.Bundle, *, work_dir: Path | None = None,
                        with_prometheus: bool = True) -> dict[str, Any]:
    """Ranked causes for a (not yet shifted) bundle, as the RCA JSON contract."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    shifted = bundles.shift_bundle(bundle, now)
    with contextlib.ExitStack() as stack:
        work = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="opsbot-replay-")))
        url = None
        if with_prometheus and shifted.metrics.strip():
            url = stack.enter_context(prometheus_for([shifted], work))
        result = await replay_shifted(shifted, work, url, now.timestamp())
    result["bundle"] = bundle.name
    result["took_s"] = round(time.perf_counter() - began, 3)
    return result


def _groups(shifted: Sequence[bundles.Bundle]) -> list[list[int]]:
    """Bundle indexes split so that no two bundles of a group share a metric namespace."""
    groups: list[tuple[list[int], set[str]]] = []
    for index, bundle in enumerate(shifted):
        spaces = metric_namespaces(bundle)
        home = next((g for g in groups if not g[1] & spaces), None)
        if home is None:
            groups.append(([index], set(spaces)))
        else:
            home[0].append(index)
            home[1].update(spaces)
    return [g[0] for g in groups]


async def replay_bundles(many: Sequence[bundles.Bundle], *,
                         work_dir: Path | None = None) -> list[dict[str, Any]]:
    """Replay several bundles, sharing one Prometheus among bundles whose series do not
    collide. Results come back in the order given; `took_s` is the RCA time per bundle
    (the shared Prometheus start is not charged to any bundle)."""
    now = datetime.now(UTC)
    shifted = [bundles.shift_bundle(b, now) for b in many]
    results: list[dict[str, Any]] = [{} for _ in many]
    with contextlib.ExitStack() as stack:
        work = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="opsbot-replay-")))
        for number, group in enumerate(_groups(shifted)):
            folder = work / f"group-{number}"
            folder.mkdir(parents=True, exist_ok=True)
            with_metrics = [shifted[i] for i in group if shifted[i].metrics.strip()]
            with contextlib.ExitStack() as inner:
                url = inner.enter_context(prometheus_for(with_metrics, folder)) \
                    if with_metrics else None
                for index in group:
                    began = time.perf_counter()
                    bundle_work = folder / f"bundle-{index}"
                    bundle_work.mkdir()
                    result = await replay_shifted(shifted[index], bundle_work, url,
                                                   now.timestamp())
                    result["bundle"] = many[index].name
                    result["took_s"] = round(time.perf_counter() - began, 3)
                    results[index] = result
    return results


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
