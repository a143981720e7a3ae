"""A minimal OpenAPI v3 description: just enough for kubectl to learn that the server
validates fields itself (`fieldValidation`), so `kubectl apply` and `create` need no
schemas. `kubectl explain` is not supported."""

from __future__ import annotations

from typing import Any

from tools.sandbox import ids
from tools.sandbox.resources import Registry

__all__ = ["group_version_document", "root_document"]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document(registry: Registry) -> dict[str, Any]:
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash="
                                                f"{ids.digest(path):016X}"}
    return {"paths": paths}


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    served = [t for t in registry.types if (t.group, t.version) == (group, version)
              and t.view_of is None and "patch" in t.verbs]
    if not served and not any((t.group, t.version) == (group, version)
                              for t in registry.types):
        return None
    paths: dict[str, Any] = {}
    for rtype in served:
        item = (f"{rtype.prefix}/namespaces/{{namespace}}/{rtype.plural}/{{name}}"
                if rtype.namespaced else f"{rtype.prefix}/{rtype.plural}/{{name}}")
        paths[item] = {"patch": {
            "operationId": f"patch{rtype.kind}",
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}}
                           for name in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": rtype.group, "version": rtype.version,
                                                "kind": rtype.kind},
        }}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.31.4"},
            "paths": paths, "components": {"schemas": {}}}
