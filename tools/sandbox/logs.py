"""The pods/log subresource: which container run a request means, as the kubelet decides,
and the query options (container, previous, tailLines, sinceSeconds, sinceTime,
timestamps, limitBytes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tools.sandbox import apierrors, ids, logtext
from tools.sandbox.lifecycle import PodRecord, Run

__all__ = ["LogReader", "StaticLogs"]

Obj = dict[str, Any]
StaticLogs = dict[tuple[str, str, str, bool], str]  # (namespace, pod, container, previous)


def _container(pod: Obj, query: Mapping[str, str]) -> str:
    names = [c["name"] for c in pod["spec"].get("containers") or []]
    wanted = query.get("container", "")
    if wanted:
        if wanted not in names:
            raise apierrors.bad_request(
                f"container {wanted} is not valid for pod {pod['metadata']['name']}")
        return wanted
    default = (pod["metadata"].get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container")
    if default in names:
        return str(default)
    if len(names) != 1:
        raise apierrors.bad_request(
            f"a container name must be specified for pod {pod['metadata']['name']}, choose "
            f"one of: [{' '.join(names)}]")
    return names[0]


def _pick_run(record: PodRecord, container: str, previous: bool, now: float) -> Run:
    """The run whose log the kubelet returns (validateContainerLogStatus)."""
    sim = next(c for c in record.containers if c.name == container)
    runs = sim.timeline.runs_until(now)
    pod = record.name
    current = runs[-1] if runs else None
    running = current is not None and (current.end is None or now < current.end)
    if previous:
        last_terminated = (runs[-2] if running and len(runs) > 1
                           else current if not running else None)
        if last_terminated is None:
            raise apierrors.bad_request(
                f'previous terminated container "{container}" in pod "{pod}" not found')
        return last_terminated
    if current is not None:
        return current  # running, or the last exited run while waiting to restart
    fault = sim.timeline.fault
    reason = {"pull": "ImagePullBackOff", "config": "CreateContainerConfigError"}.get(
        fault.kind, "ContainerCreating")
    if fault.kind == "pull":
        raise apierrors.bad_request(f'container "{container}" in pod "{pod}" is waiting to '
                                    "start: trying and failing to pull image")
    raise apierrors.bad_request(f'container "{container}" in pod "{pod}" is waiting to '
                                f"start: {reason}")


class LogReader:
    def __init__(self, records: Mapping[str, PodRecord], now: Callable[[], float],
                 static: StaticLogs) -> None:
        self.records = records
        self.now = now
        self.static = static

    def __call__(self, pod: Obj, query: Mapping[str, str]) -> str:
        container = _container(pod, query)
        previous = query.get("previous") in ("true", "1", "True")
        meta = pod["metadata"]
        record = self.records.get(meta["uid"])
        tail = int(query["tailLines"]) if query.get("tailLines", "").lstrip("-").isdigit() \
            else None
        if tail is not None and tail < 0:
            tail = None
        now = self.now()
        since = 0.0
        if query.get("sinceSeconds", "").isdigit():
            since = now - int(query["sinceSeconds"])
        elif query.get("sinceTime"):
            since = ids.parse_time(query["sinceTime"])
        if record is None:
            text = self.static.get((meta["namespace"], meta["name"], container, previous))
            if text is None and previous:
                raise apierrors.bad_request(f'previous terminated container "{container}" in '
                                            f'pod "{meta["name"]}" not found')
            raw = (text or "").splitlines(keepends=True)
            body = "".join(raw[-tail:] if tail is not None else raw)
        else:
            run = _pick_run(record, container, previous, now)
            sim = next(c for c in record.containers if c.name == container)
            lines = logtext.run_lines(record, sim, run, since, now, tail)
            runtime = sim.behaviour.runtime if sim.behaviour else ""
            body = logtext.format_lines(lines, query.get("timestamps") in ("true", "1"),
                                        runtime)
        limit = query.get("limitBytes", "")
        if limit.isdigit():
            body = body.encode()[:int(limit)].decode(errors="ignore")
        return body
