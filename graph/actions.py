"""The remediation vocabulary shared by RCA (which proposes) and the fix flow (which
plans, approves and executes): action names, their risk, and builders.

Risk follows DESIGN.md section 2: low = delete one pod; medium = scale, restart, cordon,
HPA bounds; high = rollback, resources, image, env; critical = anything touching more
than one workload or a whole namespace.
"""

from __future__ import annotations

from typing import Any

from graph.rca import model

__all__ = [
    "RISK_OF",
    "cordon",
    "delete_pod",
    "restart",
    "rollback",
    "scale",
    "set_env",
    "set_hpa_max",
    "set_image",
    "set_resources",
]

RISK_OF = {
    "delete_pod": "low",
    "scale": "medium",
    "restart": "medium",
    "cordon": "medium",
    "uncordon": "medium",
    "set_hpa_max": "medium",
    "pause_rollout": "medium",
    "resume_rollout": "medium",
    "rollback": "high",
    "set_resources": "high",
    "set_image": "high",
    "set_env": "high",
}


def _action(name: str, resource: str, params: dict[str, Any], summary: str) -> model.Action:
    return model.Action(action=name, resource=resource, params=params, risk=RISK_OF[name],
                        summary=summary)


def rollback(resource: str, revision: int, detail: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("rollback", resource, {"revision": revision},
                   f"Roll back {name} to revision {revision}" + (f" ({detail})" if detail else ""))


def set_resources(resource: str, container: str, *, limits: dict[str, str] | None = None,
                  requests: dict[str, str] | None = None, why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    parts = [f"{k} limit {v}" for k, v in (limits or {}).items()] + [
        f"{k} request {v}" for k, v in (requests or {}).items()]
    return _action("set_resources", resource,
                   {"container": container, "limits": limits or {}, "requests": requests or {}},
                   f"Set {', '.join(parts)} on {name}/{container}" + (f" ({why})" if why else ""))


def scale(resource: str, replicas: int, why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("scale", resource, {"replicas": replicas},
                   f"Scale {name} to {replicas} replicas" + (f" ({why})" if why else ""))


def restart(resource: str, why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("restart", resource, {},
                   f"Rollout restart {name}" + (f" ({why})" if why else ""))


def delete_pod(resource: str, why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("delete_pod", resource, {},
                   f"Delete pod {name} so it is recreated" + (f" ({why})" if why else ""))


def set_env(resource: str, container: str, env: dict[str, Any], why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("set_env", resource, {"container": container, "env": env},
                   f"Set {env.get('name')} on {name}/{container}" + (f" ({why})" if why else ""))


def set_image(resource: str, container: str, image: str, why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("set_image", resource, {"container": container, "image": image},
                   f"Set image of {name}/{container} to {image}" + (f" ({why})" if why else ""))


def cordon(node: str, why: str = "") -> model.Action:
    return _action("cordon", f"Node/{node}", {},
                   f"Cordon node {node}" + (f" ({why})" if why else ""))


def set_hpa_max(resource: str, max_replicas: int, why: str = "") -> model.Action:
    name = resource.rsplit("/", 1)[-1]
    return _action("set_hpa_max", resource, {"max_replicas": max_replicas},
                   f"Raise the HPA maximum of {name} to {max_replicas}"
                   + (f" ({why})" if why else ""))
