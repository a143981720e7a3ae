"""Kubernetes events with the API's aggregation: a repeat of the same reason and message
on the same object bumps `count` and `lastTimestamp` instead of adding an event.

Like a real cluster (kube-apiserver --event-ttl=1h), events the sandbox records vanish an
hour after they last happened; events loaded from a bundle are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.sandbox import ids
from tools.sandbox.resources import Registry
from tools.sandbox.store import ObjectStore

__all__ = ["EVENT_TTL_S", "EventRecorder", "Occurrence", "ref", "to_events_v1"]

EVENT_TTL_S = 3600.0


@dataclass(frozen=True)
class Occurrence:
    """One or more identical happenings between `first` and `last`."""

    involved: tuple[tuple[str, str], ...]  # involvedObject as sorted items (hashable)
    type: str
    reason: str
    message: str
    component: str
    first: float
    last: float
    count: int = 1
    host: str = ""


def ref(obj: dict[str, Any], field_path: str = "") -> tuple[tuple[str, str], ...]:
    """An involvedObject reference to a stored object."""
    meta = obj.get("metadata", {})
    items = {"kind": obj.get("kind", ""), "name": meta.get("name", ""),
             "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", "v1")}
    if meta.get("namespace"):
        items["namespace"] = meta["namespace"]
    if field_path:
        items["fieldPath"] = field_path
    return tuple(sorted(items.items()))


class EventRecorder:
    def __init__(self, store: ObjectStore, registry: Registry,
                 ttl_s: float = EVENT_TTL_S) -> None:
        self._store = store
        found = registry.find("", "v1", "events")
        assert found is not None
        self._type = found
        self._ttl = ttl_s
        self._index: dict[tuple[Any, ...], tuple[str, str]] = {}

    def record(self, occ: Occurrence, now: float) -> None:
        if occ.count <= 0 or occ.last < now - self._ttl:
            return  # would be expired already: a real cluster would show nothing either
        key = (occ.involved, occ.type, occ.reason, occ.message, occ.component, occ.host)
        involved = dict(occ.involved)
        where = self._index.get(key)
        existing = self._store.get(self._type, *where) if where else None
        if existing is not None:
            updated = dict(existing)
            updated["count"] = int(existing.get("count", 1)) + occ.count
            updated["lastTimestamp"] = ids.rfc3339(max(occ.last, ids.parse_time(
                existing["lastTimestamp"])))
            self._store.replace(self._type, updated)
            return
        namespace = involved.get("namespace", "default")
        stamp = int(occ.first * 1e9) + ids.digest(*key) % 1_000_000
        name = f"{involved.get('name', 'event')}.{stamp:x}"
        source = {"component": occ.component}
        if occ.host:
            source["host"] = occ.host
        event = {
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": ids.rfc3339(occ.first)},
            "involvedObject": involved,
            "reason": occ.reason,
            "message": occ.message,
            "source": source,
            "firstTimestamp": ids.rfc3339(occ.first),
            "lastTimestamp": ids.rfc3339(occ.last),
            "count": occ.count,
            "type": occ.type,
            "eventTime": None,
            "reportingComponent": occ.component,
            "reportingInstance": occ.host,
        }
        self._store.create(self._type, event, keep_metadata=True)
        self._index[key] = (namespace, name)

    def prune(self, now: float) -> None:
        for key, where in list(self._index.items()):
            event = self._store.get(self._type, *where)
            if event is None:
                del self._index[key]
            elif ids.parse_time(event["lastTimestamp"]) < now - self._ttl:
                self._store.delete(self._type, *where)
                del self._index[key]


def to_events_v1(event: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 Event as events.k8s.io/v1 shows it."""
    first = event.get("firstTimestamp") or event.get("metadata", {}).get("creationTimestamp")
    source = event.get("source") or {}
    out: dict[str, Any] = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": event.get("metadata", {}),
        "eventTime": event.get("eventTime") or (
            ids.rfc3339_micro(ids.parse_time(first)) if first else None),
        "regarding": event.get("involvedObject", {}),
        "reason": event.get("reason", ""), "note": event.get("message", ""),
        "type": event.get("type", "Normal"),
        "reportingController": event.get("reportingComponent") or source.get("component", ""),
        "reportingInstance": event.get("reportingInstance") or source.get("host", ""),
        "deprecatedSource": source,
        "deprecatedFirstTimestamp": event.get("firstTimestamp"),
        "deprecatedLastTimestamp": event.get("lastTimestamp"),
        "deprecatedCount": event.get("count", 1),
    }
    if event.get("action"):
        out["action"] = event["action"]
    return out

