"""A generic, in-memory object store with Kubernetes metadata semantics.

Objects are JSON dicts keyed by (group, plural) and (namespace, name). The store assigns
uid, resourceVersion, creationTimestamp and generation, keeps a bounded change log for
watches, and never holds Secret values: a Secret keeps its keys with empty values.

Stored dicts are shared, not copied: callers treat what they get as read-only and hand a
new dict to `replace` (the controller deep-copies before it edits).
"""

from __future__ import annotations

import builtins
import copy
from collections import deque
from collections.abc import Callable
from typing import Any

from tools.sandbox import apierrors, ids
from tools.sandbox.resources import Registry, ResourceType

__all__ = ["Change", "ObjectStore"]

Obj = dict[str, Any]
Change = tuple[int, str, tuple[str, str], Obj]  # (resourceVersion, type, key, object)

_LOG_SIZE = 20000


def _without_volatile(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _scrub_secret(obj: Obj) -> None:
    keys = list(obj.get("data") or {}) + list(obj.get("stringData") or {})
    obj.pop("stringData", None)
    if keys:
        obj["data"] = {key: "" for key in sorted(set(keys))}


class ObjectStore:
    """All API objects of one sandbox cluster."""

    def __init__(self, registry: Registry, now: Callable[[], float]) -> None:
        self.registry = registry
        self.now = now
        self._data: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._versions: dict[tuple[str, str], int] = {}  # writes per kind
        self._sorted: dict[tuple[str, str], builtins.list[tuple[str, str]]] = {}  # key order cache
        self._rv = 1
        self._log: deque[Change] = deque(maxlen=_LOG_SIZE)
        # uids of deleted objects, so that the garbage collector can find orphans
        self.deleted_uids: set[str] = set()
        # How often each name was created: uids depend on it, not on unrelated writes.
        self._incarnations: dict[tuple[str, str, str, str], int] = {}

    # -- reading -----------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        ns = namespace if rtype.namespaced else ""
        return self._data.get(rtype.key, {}).get((ns, name))

    def list(self, rtype: ResourceType, namespace: str | None = None) -> list[Obj]:
        bucket = self._data.get(rtype.key, {})
        keys = self._sorted.get(rtype.key)
        if keys is None:
            keys = self._sorted[rtype.key] = sorted(bucket)
        if namespace and rtype.namespaced:
            keys = [k for k in keys if k[0] == namespace]
        return [bucket[k] for k in keys]

    def version(self, rtype: ResourceType) -> int:
        """A number that changes whenever an object of this kind does."""
        return self._versions.get(rtype.key, 0)

    def changes_since(self, rv: int) -> builtins.list[Change] | None:
        """Changes after `rv`; None when the log no longer reaches back that far."""
        # Every change has its own resourceVersion, so a gap means entries were evicted.
        if len(self._log) == self._log.maxlen and self._log[0][0] > rv + 1:
            return None
        return [c for c in self._log if c[0] > rv]

    # -- writing -----------------------------------------------------------------------
    def create(self, rtype: ResourceType, obj: Obj, *, dry_run: bool = False,
               keep_metadata: bool = False) -> Obj:
        """Store a new object; `keep_metadata` keeps uid and timestamps (loaded objects)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not rtype.namespaced:
            meta.pop("namespace", None)
        namespace = meta.get("namespace", "") if rtype.namespaced else ""
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + ids.safe_suffix(
                5, rtype.plural, namespace, meta["generateName"], self._rv)
        name = meta.get("name", "")
        if not name:
            raise apierrors.invalid(rtype.kind, "", [("metadata.name", "Required value")],
                                    rtype.group)
        bucket = self._data.setdefault(rtype.key, {})
        if (namespace, name) in bucket:
            raise apierrors.already_exists(rtype.plural, name, rtype.group)
        rv = self._rv + 1
        obj["apiVersion"] = rtype.api_version
        obj["kind"] = rtype.kind
        identity = (rtype.group, rtype.plural, namespace, name)
        incarnation = self._incarnations.get(identity, 0)
        if not keep_metadata or "uid" not in meta:
            meta["uid"] = ids.uid(*identity, incarnation)
        if not keep_metadata or "creationTimestamp" not in meta:
            meta["creationTimestamp"] = ids.rfc3339(self.now())
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(rv)
        if rtype.key == ("", "secrets"):
            _scrub_secret(obj)
        if not dry_run:
            self._rv = rv
            self._incarnations[identity] = incarnation + 1
            self._versions[rtype.key] = rv
            bucket[(namespace, name)] = obj
            self._sorted.pop(rtype.key, None)
            self._log.append((rv, "ADDED", rtype.key, obj))
        return obj

    def replace(self, rtype: ResourceType, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new version of an existing object (identity metadata is kept)."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "") if rtype.namespaced else ""
        name = meta.get("name", "")
        old = self.get(rtype, namespace, name)
        if old is None:
            raise apierrors.not_found(rtype.plural, name, rtype.group)
        obj = dict(obj)
        meta = dict(meta)
        obj["metadata"] = meta
        obj["apiVersion"] = old["apiVersion"]
        obj["kind"] = old["kind"]
        old_meta = old["metadata"]
        for field in ("uid", "creationTimestamp", "resourceVersion", "generation"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if not rtype.namespaced:
            meta.pop("namespace", None)
        if rtype.key == ("", "secrets"):
            obj = copy.deepcopy(obj)
            _scrub_secret(obj)
        if obj == old:
            return old
        if _without_volatile(obj) != _without_volatile(old):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        rv = self._rv + 1
        meta["resourceVersion"] = str(rv)
        if not dry_run:
            self._rv = rv
            self._data[rtype.key][(namespace, name)] = obj
            self._versions[rtype.key] = rv
            self._log.append((rv, "MODIFIED", rtype.key, obj))
        return obj

    def delete(self, rtype: ResourceType, namespace: str, name: str, *,
               dry_run: bool = False) -> Obj:
        ns = namespace if rtype.namespaced else ""
        old = self.get(rtype, ns, name)
        if old is None:
            raise apierrors.not_found(rtype.plural, name, rtype.group)
        if dry_run:
            return old
        self._rv += 1
        del self._data[rtype.key][(ns, name)]
        self._sorted.pop(rtype.key, None)
        self._versions[rtype.key] = self._rv
        self.deleted_uids.add(old["metadata"].get("uid", ""))
        gone = dict(old)
        gone["metadata"] = dict(old["metadata"], resourceVersion=str(self._rv))
        self._log.append((self._rv, "DELETED", rtype.key, gone))
        return old
