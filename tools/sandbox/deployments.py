"""The deployment controller: ReplicaSets per pod template, revisions, rolling updates
and the Deployment status and conditions, following kube-controller-manager's rules.

A template change (image, env, resources, the restartedAt annotation of `kubectl rollout
restart`) selects or creates the ReplicaSet for that template. Re-selecting an old one,
as `kubectl rollout undo` does, moves it to revision max+1. The rolling update only scales
old ReplicaSets down as new pods become available, so new pods that never get ready stall
the rollout and it times out after progressDeadlineSeconds.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from tools.sandbox import ids
from tools.sandbox.objects import Objects, owner_ref

__all__ = ["DeploymentController", "equal_ignore_hash", "resolve_rolling", "revision",
           "template_hash"]

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Annotations of a Deployment that are not copied to its ReplicaSets.
_NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION,
               REVISION_HISTORY, "deployment.kubernetes.io/desired-replicas",
               "deployment.kubernetes.io/max-replicas"}


def revision(rs: Obj) -> int:
    try:
        return int(Objects.annotation(rs, REVISION, "0"))
    except ValueError:
        return 0


def _strip_hash(template: Obj) -> Obj:
    """The template without the pod-template-hash label (shallow copies only)."""
    meta = template.get("metadata") or {}
    labels = meta.get("labels") or {}
    if HASH_LABEL not in labels:
        return template
    rest = {k: v for k, v in labels.items() if k != HASH_LABEL}
    return dict(template, metadata=dict(meta, labels=rest))


def template_hash(template: Obj) -> str:
    return ids.safe_suffix(10, json.dumps(_strip_hash(template), sort_keys=True))


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    return _strip_hash(a) == _strip_hash(b)


def _scaled(value: Any, replicas: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = float(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def resolve_rolling(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; never both zero."""
    spec = d["spec"]
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1))
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _status_int(rs: Obj, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0) or 0)


def _spec_replicas(rs: Obj) -> int:
    return int(rs["spec"].get("replicas", 0))


class DeploymentController:
    def __init__(self, objs: Objects) -> None:
        self.objs = objs

    # -- ReplicaSets -------------------------------------------------------------------
    def _scale(self, d: Obj, rs: Obj, replicas: int, t: float) -> Obj:
        old = _spec_replicas(rs)
        if old == replicas:
            return rs
        direction = "up" if replicas > old else "down"
        surge, _ = resolve_rolling(d)

        def change(obj: Obj) -> None:
            obj["spec"]["replicas"] = replicas
            notes = obj["metadata"].setdefault("annotations", {})
            notes["deployment.kubernetes.io/desired-replicas"] = str(d["spec"]["replicas"])
            notes["deployment.kubernetes.io/max-replicas"] = str(
                d["spec"]["replicas"] + surge)

        rs = self.objs.edit(rs, change)
        self.objs.event(d, "Normal", "ScalingReplicaSet",
                        f"Scaled {direction} replica set {rs['metadata']['name']} to "
                        f"{replicas} from {old}", "deployment-controller", at=t)
        return rs

    def _new_rs(self, d: Obj, rss: list[Obj]) -> Obj:
        template = d["spec"]["template"]
        hash_ = template_hash(template)
        meta = d["metadata"]
        name = f"{meta['name']}-{hash_}"
        while self.objs.get("ReplicaSet", meta["namespace"], name) is not None:
            name = f"{meta['name']}-{ids.safe_suffix(10, name)}"
        labels = dict(template.get("metadata", {}).get("labels") or {}, **{HASH_LABEL: hash_})
        new_template = copy.deepcopy(template)
        new_template.setdefault("metadata", {})["labels"] = dict(labels)
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                       if k not in _NOT_COPIED}
        annotations[REVISION] = str(max((revision(r) for r in rss), default=0) + 1)
        rs = {
            "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                         "annotations": annotations, "ownerReferences": [owner_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": new_template},
        }
        return self.objs.create("ReplicaSet", rs)

    def _adopt_revision(self, d: Obj, rs: Obj, rss: list[Obj]) -> Obj:
        """Make `rs` the newest revision (a rollback re-selects an old ReplicaSet)."""
        top = max((revision(r) for r in rss), default=0)
        cause = Objects.annotation(d, CHANGE_CAUSE)
        current = revision(rs)
        if current >= top and (not cause or Objects.annotation(rs, CHANGE_CAUSE) == cause):
            return rs

        def change(obj: Obj) -> None:
            notes = obj["metadata"].setdefault("annotations", {})
            if current < top:
                history = [h for h in notes.get(REVISION_HISTORY, "").split(",") if h]
                notes[REVISION_HISTORY] = ",".join([*history, str(current)])
                notes[REVISION] = str(top + 1)
            if cause:
                notes[CHANGE_CAUSE] = cause

        return self.objs.edit(rs, change)

    # -- sync --------------------------------------------------------------------------
    def sync(self, d: Obj, t: float) -> None:
        rss = self.objs.owned("ReplicaSet", d)
        template = d["spec"]["template"]
        new = next((r for r in rss if equal_ignore_hash(r["spec"]["template"], template)),
                   None)
        paused = bool(d["spec"].get("paused"))
        created = False
        if new is None and not paused:
            new = self._new_rs(d, rss)
            rss.append(new)
            created = True
        elif new is not None:
            new = self._adopt_revision(d, new, rss)
            rss = [new if r["metadata"]["uid"] == new["metadata"]["uid"] else r for r in rss]
        old = sorted((r for r in rss if new is None or r["metadata"]["uid"] !=
                      new["metadata"]["uid"]), key=lambda r: (revision(r), Objects.created(r)))
        if new is not None and not paused:
            if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
                new = self._recreate(d, new, old, t)
            else:
                new = self._rolling(d, new, old, t)
            self._cleanup(d, new, old)
        self._status(d, new, [r for r in self.objs.owned("ReplicaSet", d)
                              if new is None or r["metadata"]["uid"] != new["metadata"]["uid"]],
                     t, created)

    def _recreate(self, d: Obj, new: Obj, old: list[Obj], t: float) -> Obj:
        active = [r for r in old if _spec_replicas(r) > 0]
        for rs in active:
            self._scale(d, rs, 0, t)
        if not active and all(_status_int(r, "replicas") == 0 for r in old):
            new = self._scale(d, new, int(d["spec"]["replicas"]), t)
        return new

    def _rolling(self, d: Obj, new: Obj, old: list[Obj], t: float) -> Obj:
        replicas = int(d["spec"]["replicas"])
        surge, unavailable = resolve_rolling(d)
        new_count = _spec_replicas(new)
        if new_count > replicas:
            new = self._scale(d, new, replicas, t)
        elif new_count < replicas:
            total = new_count + sum(_spec_replicas(r) for r in old)
            room = min(replicas + surge - total, replicas - new_count)
            if room > 0:
                new = self._scale(d, new, new_count + room, t)
        # Scale old ReplicaSets down only as far as availability allows.
        min_available = replicas - unavailable
        all_pods = _status_int(new, "replicas") + sum(_status_int(r, "replicas") for r in old)
        new_unavailable = _spec_replicas(new) - _status_int(new, "availableReplicas")
        budget = all_pods - min_available - new_unavailable
        if budget <= 0:
            return new
        remaining = []
        for rs in old:  # unhealthy replicas first: removing them costs no availability
            unhealthy = _spec_replicas(rs) - _status_int(rs, "availableReplicas")
            cut = min(max(unhealthy, 0), budget)
            if cut > 0:
                rs = self._scale(d, rs, _spec_replicas(rs) - cut, t)
                budget -= cut
            remaining.append(rs)
        available = _status_int(new, "availableReplicas") + sum(
            min(_status_int(r, "availableReplicas"), _spec_replicas(r)) for r in remaining)
        budget = available - min_available
        for rs in remaining:
            if budget <= 0:
                break
            cut = min(_spec_replicas(rs), budget)
            if cut > 0:
                self._scale(d, rs, _spec_replicas(rs) - cut, t)
                budget -= cut
        return new

    def _cleanup(self, d: Obj, new: Obj, old: list[Obj]) -> None:
        limit = int(d["spec"].get("revisionHistoryLimit", 10))
        idle = [r for r in old if _spec_replicas(r) == 0 and _status_int(r, "replicas") == 0]
        for rs in idle[:max(len(idle) - limit, 0)]:
            self.objs.delete(rs)

    # -- status ------------------------------------------------------------------------
    def _status(self, d: Obj, new: Obj | None, old: list[Obj], t: float,
                created: bool) -> None:
        rss = ([new] if new is not None else []) + old
        spec_replicas = int(d["spec"].get("replicas", 1))
        _, unavailable = resolve_rolling(d)
        status: Obj = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": sum(_status_int(r, "replicas") for r in rss),
            "updatedReplicas": _status_int(new, "replicas") if new else 0,
            "readyReplicas": sum(_status_int(r, "readyReplicas") for r in rss),
            "availableReplicas": sum(_status_int(r, "availableReplicas") for r in rss),
        }
        status["unavailableReplicas"] = max(
            sum(_spec_replicas(r) for r in rss) - status["availableReplicas"], 0)
        previous = d.get("status") or {}
        conditions = {c["type"]: c for c in previous.get("conditions") or []}
        stamp = ids.rfc3339(t)

        def condition(kind: str, value: str, reason: str, message: str,
                      force: bool = False) -> None:
            # Like SetDeploymentCondition: the same status and reason is no news, except
            # that progress refreshes Progressing's lastUpdateTime (`force`).
            before = conditions.get(kind)
            if (not force and before is not None and before.get("status") == value
                    and before.get("reason") == reason):
                return
            kept = before.get("lastTransitionTime") if before is not None and before.get(
                "status") == value else None
            conditions[kind] = {
                "type": kind, "status": value, "lastUpdateTime": stamp,
                "lastTransitionTime": kept or stamp,
                "reason": reason, "message": message}

        if status["availableReplicas"] >= spec_replicas - unavailable:
            condition("Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.")
        else:
            condition("Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.")
        self._progress(d, new, status, previous, conditions, condition, t, created)
        status["conditions"] = [conditions[k] for k in ("Available", "Progressing")
                                if k in conditions]
        rev = str(revision(new)) if new is not None else Objects.annotation(d, REVISION)
        if d.get("status") == status and Objects.annotation(d, REVISION) == rev:
            return
        meta = dict(d["metadata"])
        if rev:
            meta["annotations"] = dict(meta.get("annotations") or {}, **{REVISION: rev})
        self.objs.replace(dict(d, metadata=meta, status=status))

    @staticmethod
    def _progress(d: Obj, new: Obj | None, status: Obj, previous: Obj,
                  conditions: dict[str, Obj], condition: Any, t: float,
                  created: bool) -> None:
        if new is None:
            return
        name = new["metadata"]["name"]
        spec_replicas = int(d["spec"].get("replicas", 1))
        complete = (status["updatedReplicas"] == spec_replicas
                    and status["replicas"] == spec_replicas
                    and status["availableReplicas"] == spec_replicas)
        if d["spec"].get("paused"):
            condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
            return
        before = conditions.get("Progressing")
        if complete:
            if before is None or before.get("reason") != "NewReplicaSetAvailable":
                condition("Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{name}" has successfully progressed.')
            return
        old_before = previous.get("replicas", 0) - previous.get("updatedReplicas", 0)
        old_now = status["replicas"] - status["updatedReplicas"]
        progressed = (created or old_now < old_before
                      or status["updatedReplicas"] > previous.get("updatedReplicas", 0)
                      or status["readyReplicas"] > previous.get("readyReplicas", 0)
                      or status["availableReplicas"] > previous.get("availableReplicas", 0)
                      or before is None or before.get("reason") == "NewReplicaSetAvailable"
                      or int(previous.get("observedGeneration", 0))
                      < int(d["metadata"].get("generation", 1)))
        if progressed:
            reason = "NewReplicaSetCreated" if created else "ReplicaSetUpdated"
            message = (f'Created new replica set "{name}"' if created
                       else f'ReplicaSet "{name}" is progressing.')
            condition("Progressing", "True", reason, message, True)
            return
        assert before is not None
        deadline = float(d["spec"].get("progressDeadlineSeconds", 600))
        last = ids.parse_time(before["lastUpdateTime"])
        if before.get("status") == "True" and t - last > deadline:
            expired = ids.rfc3339(last + deadline)
            conditions["Progressing"] = {
                "type": "Progressing", "status": "False", "lastUpdateTime": expired,
                "lastTransitionTime": expired, "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}" has timed out progressing.'}
