"""Detectors over pod and container state: crashes, OOM kills, image pulls, start-up
configuration, probes, scheduling and evictions.

Each detector reads `WorkloadFacts` and returns causes with a raw score in [0, 1] that
reflects how directly the evidence shows the cause (a container state the kubelet
reports scores higher than a pattern in a log line). With an incident window, what ended
before it is history: a container OOM-killed yesterday and running cleanly since is not
today's incident.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from graph import actions
from graph.rca import collect, model, signatures
from tools import summaries

__all__ = ["container_limit", "container_statuses", "detect_pod_causes", "parse_quantity",
           "previous_revision", "probe_reports_own_failure", "probe_timed_out",
           "rollout_context"]

_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_FACTORS = {"": 1, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
# A rollout this long before the window can still be what the window shows failing.
_ROLLOUT_LEAD_S = 3600.0
# Readiness failures of a pod that is ready now are start-up noise unless they go on.
_FLAPPING_S = 300.0
_FLAPPING_COUNT = 5
# Terminations where the runtime never started the process (exec failures).
_START_FAILURES = ("StartError", "ContainerCannotRun", "RunContainerError")
_START_DETAIL = re.compile(r'exec: "[^"]+": [^:]+|no such file or directory|permission denied',
                           re.I)
_PROBE_STATUS = re.compile(r"statuscode: (\d{3})", re.I)
_SIGTERM_EXIT = 143
_SIGKILL_EXIT = 137
_PROBE_KIND = re.compile(r"(liveness|readiness|startup) probe", re.I)
# A probe failing only because the container keeps exiting by itself: listed, far below
# the crash.
_PROBE_SEES_CRASH = 0.35
# What a rollout can change that a process reads at start-up (summaries.template_changes).
_CONFIG_CHANGES = (": env ", ": envFrom", ": command", ": args")
_START_UP_S = 10.0
# A restart that happened in the window but was followed by a clean run counts less.
_RECOVERED = 0.7
_SETTLED = 0.5
_SETTLED_S = 15 * 60.0


def parse_quantity(text: str | int | float | None) -> float | None:
    if text is None:
        return None
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _FACTORS:
        return None
    return float(match.group(1)) * _FACTORS[match.group(2)]


def _mib(value: float) -> str:
    return f"{round(value / 2**20)}Mi"


def _epoch(value: Any) -> float | None:
    when = summaries.parse_time(str(value)) if value else None
    return when.timestamp() if when else None


def previous_revision(facts: model.WorkloadFacts) -> dict[str, Any] | None:
    """The newest revision older than the current one: the usual rollback target."""
    current = next((r for r in facts.history if r["current"]), None)
    if current is None:
        return None
    older = [r for r in facts.history if r["revision"] < current["revision"]]
    return max(older, key=lambda r: r["revision"]) if older else None


def rollout_context(facts: model.WorkloadFacts, failing: list[dict[str, Any]],
                    window: collect.Window | None = None) -> tuple[
        model.Action | None, list[model.Evidence]]:
    """When only the current revision's pods fail and it rolled out shortly before or in
    the window, the rollout brought the failure."""
    current = next((r for r in facts.history if r["current"]), None)
    previous = previous_revision(facts)
    if current is None or previous is None or not failing:
        return None, []
    created = _epoch(current.get("created"))
    if window is not None and (created is None or created < window.start - _ROLLOUT_LEAD_S):
        return None, []  # the revision ran fine long before the failure started
    owners = {_owner(p) for p in failing}
    if owners != {current["replicaset"]}:
        return None, []
    changed = "; ".join(current.get("changes") or []) or (
        f"{', '.join(previous['images'])} -> {', '.join(current['images'])}")
    evidence = [model.Evidence("rollout", f"only pods of the new revision {current['revision']} "
                               f"fail; it changed: {changed}; revision {previous['revision']} "
                               "ran fine", current.get("created") or "")]
    action = actions.rollback(facts.ref, previous["revision"],
                              f"back to {', '.join(previous['images'])}")
    return action, evidence


def _owner(pod: dict[str, Any]) -> str:
    owners = pod.get("metadata", {}).get("ownerReferences") or []
    return str(owners[0].get("name")) if owners else ""


def _recent(events: list[dict[str, Any]], window: collect.Window | None) -> list[dict[str, Any]]:
    if window is None:
        return events
    return [e for e in events if (_epoch(e.get("last_seen")) or window.end) >= window.start]


def _events_for(facts: model.WorkloadFacts, names: set[str], *reasons: str) -> list[dict[str, Any]]:
    return [e for e in facts.events if e["object"].partition("/")[2] in names
            and (not reasons or e["reason"] in reasons)]


def _event_evidence(events: list[dict[str, Any]], limit: int = 2) -> list[model.Evidence]:
    return [model.Evidence("event", f"{e['reason']} on {e['object']} (x{e['count']}): "
                           f"{e['message'][:200]}", e.get("last_seen") or "")
            for e in events[:limit]]


def _log_signals(facts: model.WorkloadFacts, pod: str,
                 container: str = "") -> list[signatures.LogSignal]:
    """Signals in the pod's logs; with `container`, in that container's own when it has
    any (a sidecar that cannot reach the crashing database says nothing of why it died)."""
    found: list[signatures.LogSignal] = []
    own: list[signatures.LogSignal] = []
    for key, texts in facts.logs.items():
        if key.startswith(pod + "/"):
            signals = (signatures.scan_log(texts.get("previous", ""))
                       + signatures.scan_log(texts.get("current", "")))
            found += signals
            if key == f"{pod}/{container}":
                own += signals
    return own or found


def _liveness_kills(facts: model.WorkloadFacts, pod: str, container: str,
                    window: collect.Window | None) -> list[dict[str, Any]]:
    return [e for e in _recent(_events_for(facts, {pod}, "Killing"), window)
            if "liveness probe" in e["message"].lower() and container in e["message"]]


def _crash_cause(facts: model.WorkloadFacts, pod: dict[str, Any], status: dict[str, Any],
                 term: dict[str, Any]) -> model.Cause:
    name = pod["metadata"]["name"]
    container = status["name"]
    reason, code = term.get("reason") or "Error", term.get("exitCode")
    evidence = [model.Evidence("status", f"{name}/{container} restarted "
                               f"{status.get('restartCount', 0)}x, last exit {reason} "
                               f"(code {code})", term.get("finishedAt") or "")]
    if reason in _START_FAILURES or code in (126, 127):
        # The runtime could not start the process: a bad command, args or image entrypoint.
        message = str(term.get("message") or "")
        detail = _START_DETAIL.search(message)
        evidence.append(model.Evidence("status", f"{reason}: {message[:220]}"
                                       if message else f"exit code {code}: the command "
                                       "could not be run"))
        return model.Cause("ConfigError", facts.ref, f"{container} cannot start its command"
                           + (f": {detail.group(0)}" if detail else ""), 0.88, evidence, [])
    signals = _log_signals(facts, name, container)
    missing = [s for s in signals if s.kind == "missing_config"]
    oom_logs = [s for s in signals if s.kind == "oom"]
    if reason == "OOMKilled" or code == 137 or oom_logs:
        limit = container_limit(facts, container, "memory")
        peak = _metric_max(facts, "memory")
        target = max(filter(None, [(peak or 0) * 1.5, (limit or 0) * 2])) if (
            peak or limit) else None
        acts = [actions.set_resources(facts.ref, container,
                                      limits={"memory": _mib(_round_up(target))},
                                      why=f"observed peak {_mib(peak)}" if peak else
                                      "double the current limit")] if target else []
        if limit:
            evidence.append(model.Evidence("config", f"memory limit of {container} is "
                                           f"{_mib(limit)}" + (f", peak working set "
                                                               f"{_mib(peak)}" if peak else "")))
        evidence += [model.Evidence("log", s.line[:240]) for s in oom_logs[:1]]
        return model.Cause("OOMKilled", facts.ref, f"{container} is killed for exceeding its "
                           f"memory limit" + (f" of {_mib(limit)}" if limit else ""),
                           0.92 if reason == "OOMKilled" else 0.75, evidence, acts)
    if missing:
        key = missing[-1].detail
        evidence.append(model.Evidence("log", missing[-1].line[:240]))
        return model.Cause("ConfigError", facts.ref, f"{container} exits at start-up: "
                           f"required configuration {key or ''} is missing".replace("  ", " "),
                           0.9, evidence, [])
    unparsable = [s for s in signals if s.kind == "bad_config"]
    if unparsable:
        path = unparsable[-1].detail
        evidence.append(model.Evidence("log", unparsable[-1].line[:240]))
        source = _mounted_from(facts, container, path) if path else ""
        if source:
            evidence.append(model.Evidence("config", f"{path} comes from {source}"))
        return model.Cause("ConfigError", facts.ref, f"{container} exits at start-up: its "
                           f"configuration {path or 'file'} does not parse"
                           + (f" ({source})" if source else ""), 0.88, evidence, [])
    full = [s for s in signals if s.kind == "disk_full"]
    if full:
        evidence.append(model.Evidence("log", full[-1].line[:240]))
        return model.Cause("CrashLoop", facts.ref, f"{container} exits: no space left on its "
                           "volume", 0.8, evidence, [])
    deps = [s for s in signals if s.kind in ("dependency", "server_refused", "dns")]
    if deps:
        evidence.append(model.Evidence("log", deps[-1].line[:240]))
        return model.Cause("DependencyFailure", facts.ref, f"{container} exits because "
                           f"{deps[-1].detail or 'a dependency'} fails", 0.55, evidence, [])
    exceptions = [s for s in signals if s.kind == "exception"]
    evidence += [model.Evidence("log", s.line[:240]) for s in exceptions[-2:]]
    return model.Cause("CrashLoop", facts.ref, f"{container} keeps exiting with {reason} "
                       f"(code {code})", 0.7 if exceptions else 0.6, evidence, [])


def _mounted_from(facts: model.WorkloadFacts, container: str, path: str) -> str:
    """'ConfigMap NAME' or 'Secret NAME' when `path` lies in a volume mounted from one."""
    spec = next((c for c in facts.containers if c.get("name") == container), {})
    volumes = {v.get("name"): v for v in (((facts.obj or {}).get("spec") or {}).get(
        "template", {}).get("spec", {}).get("volumes") or [])}
    for mount in spec.get("volumeMounts") or []:
        root = str(mount.get("mountPath") or "").rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            volume = volumes.get(mount.get("name")) or {}
            if "configMap" in volume:
                return f"ConfigMap {volume['configMap'].get('name')}"
            if "secret" in volume:
                return f"Secret {volume['secret'].get('secretName')}"
    return ""


def _round_up(value: float) -> float:
    step = 64 * 2**20
    return float(int((value + step - 1) // step) * step)


def container_limit(facts: model.WorkloadFacts, container: str, resource: str) -> float | None:
    for spec in facts.containers:
        if spec.get("name") == container:
            return parse_quantity(((spec.get("resources") or {}).get("limits") or {}).get(
                resource))
    return None


def _metric_max(facts: model.WorkloadFacts, key: str) -> float | None:
    points = (facts.metrics.get(key) or {}).get("points") or []
    return max((v for _, v in points), default=None)


def _waiting_cause(facts: model.WorkloadFacts, pod: dict[str, Any], status: dict[str, Any],
                   waiting: dict[str, Any]) -> model.Cause | None:
    name, container = pod["metadata"]["name"], status["name"]
    reason, message = waiting.get("reason", ""), waiting.get("message", "")
    events = _event_evidence(_events_for(facts, {name}, "Failed", "BackOff", "FailedMount"))
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        return model.Cause("ImagePull", facts.ref, f"image {status.get('image')} of {container} "
                           f"cannot be pulled", 0.95,
                           [model.Evidence("status", f"{name}/{container} {reason}: "
                                           f"{message[:200]}"), *events], [])
    if reason in ("CreateContainerConfigError", "CreateContainerError"):
        return model.Cause("ConfigError", facts.ref, f"{container} cannot start: "
                           f"{message[:160] or reason}", 0.93,
                           [model.Evidence("status", f"{name}/{container} {reason}: "
                                           f"{message[:200]}"), *events], [])
    return None


def _container_cause(facts: model.WorkloadFacts, pod: dict[str, Any], status: dict[str, Any],
                     window: collect.Window | None) -> model.Cause | None:
    """What one container status says, or None when it is healthy or its trouble is over."""
    state = status.get("state") or {}
    waiting = state.get("waiting")
    cause = _waiting_cause(facts, pod, status, waiting) if waiting else None
    if cause is not None:
        return cause
    term = (status.get("lastState") or {}).get("terminated") or state.get("terminated")
    crash_looping = (waiting or {}).get("reason") == "CrashLoopBackOff"
    if not term or term.get("reason") == "Completed" or not (
            int(status.get("restartCount") or 0) > 0 or crash_looping):
        return None
    ended = _epoch(term.get("finishedAt"))
    recovered = not crash_looping and "running" in state and bool(status.get("ready"))
    if window is not None and recovered and ended is not None and ended < window.start:
        return None  # restarted before the window and has run cleanly since
    kills = _liveness_kills(facts, pod["metadata"]["name"], status["name"], window)
    if kills and term.get("reason") != "OOMKilled":
        return None  # the kubelet restarted it for its liveness probe: a probe cause
    cause = _crash_cause(facts, pod, status, term)
    if cause.kind == "CrashLoop" and term.get("exitCode") == _SIGTERM_EXIT and \
            _has_liveness(facts, status["name"]):
        # Stopped by SIGTERM, not crashed: with a liveness probe defined, the kubelet is
        # the usual sender (its Killing events may have expired).
        cause = model.Cause("ProbeFailure", facts.ref, f"{status['name']} is stopped with "
                            "SIGTERM (exit 143), most likely by its failing liveness probe",
                            0.6, cause.evidence, [])
    if recovered:
        since = _epoch((state.get("running") or {}).get("startedAt"))
        now = window.end if window is not None else None
        # Running cleanly for a while since: a past episode more than a present cause.
        settled = since is not None and now is not None and now - since >= _SETTLED_S
        cause.score *= _SETTLED if settled else _RECOVERED
        if " keeps exiting with " in cause.summary:
            cause.summary = cause.summary.replace(" keeps exiting with ", " exited with ") \
                + ", and runs again since"
        cause.evidence.append(model.Evidence("status", f"{pod['metadata']['name']}/"
                                             f"{status['name']} is running and ready again"))
    return cause


def container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers' statuses, then the app containers': a pod stuck in
    Init:CrashLoopBackOff fails in an init container while its app containers only wait."""
    status = pod.get("status", {})
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def detect_pod_causes(facts: model.WorkloadFacts,
                      window: collect.Window | None = None) -> list[model.Cause]:
    causes: list[model.Cause] = []
    failing: list[dict[str, Any]] = []
    for pod in facts.pods:
        status = pod.get("status", {})
        if status.get("reason") == "Evicted":
            causes.append(_eviction(facts, pod))
            continue
        for cstatus in container_statuses(pod):
            cause = _container_cause(facts, pod, cstatus, window)
            if cause is not None:
                causes.append(cause)
                failing.append(pod)
        causes += _pending_causes(facts, pod)
        probe = _probe_causes(facts, pod, window)
        causes += probe
        failing += [pod] * bool(probe)
    action, evidence = rollout_context(facts, failing, window)
    for number, cause in enumerate(causes):
        if action and cause.kind in ("ConfigError", "CrashLoop", "ImagePull", "ProbeFailure"):
            if cause.kind == "CrashLoop" and _config_changed(facts) and _dies_at_start(facts):
                # Nothing in the logs says why; the rollout changed what the process reads
                # at start-up and it exits right away: its configuration is the suspect.
                cause = causes[number] = model.Cause(
                    "ConfigError", cause.resource, f"{cause.summary.split(' keeps ')[0]} exits "
                    "at start-up since the rollout changed its configuration", 0.7,
                    cause.evidence)
            cause.actions.insert(0, action)
            cause.evidence += evidence
            cause.score = min(0.97, cause.score + 0.03)
    return _merge(causes)


def _config_changed(facts: model.WorkloadFacts) -> bool:
    current = next((r for r in facts.history if r["current"]), None)
    return any(word in change for change in (current or {}).get("changes") or []
               for word in _CONFIG_CHANGES)


def _dies_at_start(facts: model.WorkloadFacts) -> bool:
    """Every recent termination came within seconds of the start."""
    runs = []
    for pod in facts.pods:
        for status in pod.get("status", {}).get("containerStatuses") or []:
            term = (status.get("lastState") or {}).get("terminated") or {}
            began, ended = _epoch(term.get("startedAt")), _epoch(term.get("finishedAt"))
            if began and ended:
                runs.append(ended - began)
    return bool(runs) and max(runs) <= _START_UP_S


def _has_liveness(facts: model.WorkloadFacts, container: str) -> bool:
    return any(c.get("name") == container and c.get("livenessProbe") for c in facts.containers)


def _eviction(facts: model.WorkloadFacts, pod: dict[str, Any]) -> model.Cause:
    """An evicted pod blames the node that evicted it (pressure), not the workload."""
    name, status = pod["metadata"]["name"], pod.get("status", {})
    node = pod.get("spec", {}).get("nodeName") or ""
    message = str(status.get("message") or "")
    evidence = [model.Evidence("status", f"{name} Evicted by {node or 'its node'}: "
                               f"{message[:200]}")]
    resource = f"Node/{node}" if node else facts.ref
    return model.Cause("NodeFailure", resource, f"{node or 'a node'} evicted {name}: "
                       f"{message[:120]}", 0.75, evidence,
                       [actions.cordon(node, "keep new pods off it")] if node else [])


def _pending_causes(facts: model.WorkloadFacts, pod: dict[str, Any]) -> list[model.Cause]:
    status = pod.get("status", {})
    if status.get("phase") != "Pending":
        return []
    name = pod["metadata"]["name"]
    scheduled: dict[str, Any] = next((c for c in status.get("conditions") or []
                                      if c.get("type") == "PodScheduled"), {})
    events = _events_for(facts, {name}, "FailedScheduling")
    message = (events[0]["message"] if events else scheduled.get("message", "")) or ""
    if scheduled.get("status") != "False" and not events:
        return []
    evidence = [model.Evidence("status", f"{name} Pending: {scheduled.get('reason', '')} "
                               f"{scheduled.get('message', '')[:160]}".strip()),
                *_event_evidence(events)]
    if "persistentvolumeclaim" in message.lower() or "unbound" in message.lower():
        # The claim is the thing to fix; the workload only waits for it.
        claims = [v["persistentVolumeClaim"]["claimName"]
                  for v in pod.get("spec", {}).get("volumes") or []
                  if "persistentVolumeClaim" in v]
        stuck = [c for c in claims if c in facts.pvcs and (facts.pvcs[c] is None or (
            facts.pvcs[c] or {}).get("status", {}).get("phase") == "Pending")]
        resource = f"PersistentVolumeClaim/{facts.namespace}/{stuck[0]}" if stuck \
            else facts.ref
        return [model.Cause("PVCPending", resource, f"{name} waits for volume claim "
                            f"{stuck[0] if stuck else '(unbound)'}", 0.85, evidence)]
    return [model.Cause("Unschedulable", facts.ref, f"{name} cannot be scheduled: "
                        f"{message[:160] or 'no node fits'}", 0.9, evidence)]


def _probe_causes(facts: model.WorkloadFacts, pod: dict[str, Any],
                  window: collect.Window | None) -> list[model.Cause]:
    name = pod["metadata"]["name"]
    events = [e for e in _recent(_events_for(facts, {name}, "Unhealthy"), window)
              if "probe failed" in e["message"].lower()]
    statuses = pod.get("status", {}).get("containerStatuses") or []
    kills = [e for s in statuses for e in _liveness_kills(facts, name, s["name"], window)]
    if not events and not kills:
        return []
    ready = bool(statuses) and all(c.get("ready") for c in statuses)
    kinds = Counter(_probe_kind(e["message"]) for e in events)
    if kills:
        score = 0.9  # the kubelet kills containers for it: the restarts are the probe's
    elif _exits_on_its_own(statuses):
        # Nothing listens while the process starts and dies again: the probe only sees
        # the crash, whose own cause is the one to report.
        score = _PROBE_SEES_CRASH
    elif not ready:
        score = max(_probe_directness(e["message"]) for e in events)
    else:
        end = window.end if window else None
        going_on = [e for e in events if int(e.get("count") or 1) >= _FLAPPING_COUNT and (
            end is None or (_epoch(e.get("last_seen")) or end) >= end - _FLAPPING_S)]
        if not going_on:
            return []  # a ready pod that failed a probe while it started: noise
        score = 0.5
    evidence = _event_evidence(sorted(kills, key=lambda e: -int(e.get("count") or 1))[:1]
                               + events)
    return [model.Cause("ProbeFailure", facts.ref, f"{' and '.join(sorted(kinds)) or 'Liveness'} "
                        f"probe of {name} fails", score, evidence,
                        [actions.restart(facts.ref, "fresh pods if the probe failure is "
                                         "transient")])]


def _probe_kind(message: str) -> str:
    """Liveness / Readiness / Startup, from the event's leading words (the probed URL may
    say /health/liveness under a startup probe)."""
    match = _PROBE_KIND.match(message.strip())
    return match.group(1).capitalize() if match else "Readiness"


def _exits_on_its_own(statuses: list[dict[str, Any]]) -> bool:
    """A container whose last run ended with its own error exit, not a kill (137, 143)."""
    for status in statuses:
        term = (status.get("lastState") or {}).get("terminated") or {}
        if term.get("reason") not in (None, "Completed", "OOMKilled") and \
                term.get("exitCode") not in (None, 0, _SIGKILL_EXIT, _SIGTERM_EXIT):
            return True
    return False


def probe_reports_own_failure(message: str) -> bool:
    """The probe reached the app and the app said it is unwell (a 5xx, or a server's own
    refusal such as Redis's MISCONF): the probe is the messenger, not the fault."""
    status = _PROBE_STATUS.search(message)
    if status:
        return int(status.group(1)) >= 500
    return any(s.kind == "server_refused" for s in signatures.scan_log(message))


def probe_timed_out(message: str) -> bool:
    lowered = message.lower()
    return any(w in lowered for w in ("timeout", "timed out", "deadline exceeded"))


def _probe_directness(message: str) -> float:
    """How much a failing probe is the cause rather than a messenger: a 404 means the
    probe asks for what the app does not serve (the probe is wrong); a 5xx means the app
    reports itself unwell, usually because of something else."""
    status = _PROBE_STATUS.search(message)
    if status:
        code = int(status.group(1))
        return 0.85 if 400 <= code < 500 else 0.65
    if probe_reports_own_failure(message):
        return 0.65
    lowered = message.lower()
    if "connection refused" in lowered:
        return 0.8  # nothing listens on the probed port
    return 0.75  # timeouts: slow, or stuck


def _merge(causes: list[model.Cause]) -> list[model.Cause]:
    """One cause per (kind, resource): the strongest, with evidence from the others."""
    merged: dict[tuple[str, str], model.Cause] = {}
    for cause in sorted(causes, key=lambda c: -c.score):
        key = (cause.kind, cause.resource)
        if key not in merged:
            merged[key] = cause
            continue
        kept = merged[key]
        for item in cause.evidence:
            if len(kept.evidence) < 6 and str(item) not in {str(e) for e in kept.evidence}:
                kept.evidence.append(item)
        kept.score = min(0.98, kept.score + 0.01)
    return list(merged.values())
