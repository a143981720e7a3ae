"""Turn a fix request into one concrete action.

From the text ("scale orders to 6", "roll back checkout", "raise the memory limit of
orders to 512Mi", "回滚 worker"), or, when the text names no change ("/fix worker"),
from the top cause an RCA of the target finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from graph import actions, targets
from graph.rca import model

__all__ = ["PlanError", "plan_from_text", "tool_call_for"]


class PlanError(Exception):
    """The request cannot be turned into an action; the message says why."""


@dataclass(frozen=True)
class _Pattern:
    name: str
    regex: re.Pattern[str]


_P = [
    _Pattern("scale", re.compile(r"(?:scale|replicas?|扩容|缩容|扩到|缩到|副本)\D{0,40}?(\d{1,3})"
                                 r"|(\d{1,3})\s*(?:replicas|个副本|副本)", re.I)),
    _Pattern("rollback", re.compile(r"roll\s*-?back|rollout undo|undo|revert|回滚|回退", re.I)),
    _Pattern("restart", re.compile(r"restart|bounce|recycle|重启", re.I)),
    _Pattern("memory", re.compile(r"(?:memory|mem|内存)\D{0,40}?(\d+(?:\.\d+)?\s*(?:Mi|Gi|M|G))",
                                  re.I)),
    _Pattern("cpu", re.compile(r"cpu\D{0,40}?(\d+(?:\.\d+)?m?)\b", re.I)),
    _Pattern("image", re.compile(r"image\D{0,30}?\s(?:to\s+)?([\w./:-]+:[\w.-]+)", re.I)),
    _Pattern("hpa", re.compile(r"hpa\D{0,40}?(\d{1,3})", re.I)),
    _Pattern("delete_pod", re.compile(r"delete|kill|删除", re.I)),
    _Pattern("uncordon", re.compile(r"uncordon", re.I)),
    _Pattern("cordon", re.compile(r"cordon|隔离节点", re.I)),
    _Pattern("pause", re.compile(r"\bpause\b|暂停", re.I)),
    _Pattern("resume", re.compile(r"\bresume\b|恢复发布", re.I)),
]
_REVISION = re.compile(r"(?:revision|rev|版本)\s*#?(\d+)", re.I)


def _normalise_memory(text: str) -> str:
    value = text.replace(" ", "")
    return value[:-1] + "i" if value[-1] in "MG" else value


async def _history(tools: targets.ToolCaller, target: targets.Target) -> list[dict[str, Any]]:
    result = await tools.call("rollout_history", name=target.name, namespace=target.namespace)
    return list(result.get("data") or []) if result.get("status") == "ok" else []


async def _first_container(tools: targets.ToolCaller, target: targets.Target) -> str:
    result = await tools.call("describe", kind=target.kind, name=target.name,
                              namespace=target.namespace)
    if result.get("status") != "ok":
        raise PlanError(f"I can't read {target.ref}: {result.get('message')}")
    containers = result["data"]["object"]["spec"]["template"]["spec"]["containers"]
    return str(containers[0]["name"])


async def plan_from_text(tools: targets.ToolCaller, text: str,
                         target: targets.Target) -> model.Action | None:
    """The action the text asks for, or None when it names no change."""
    ref = target.ref
    for pattern in _P:
        match = pattern.regex.search(text)
        if not match:
            continue
        if pattern.name == "uncordon" or pattern.name == "cordon":
            if target.kind != "Node":
                raise PlanError("cordon and uncordon apply to nodes, e.g. `/fix node-2 cordon`")
            return (actions.cordon(target.name) if pattern.name == "cordon" else model.Action(
                "uncordon", ref, {}, actions.RISK_OF["uncordon"], f"Uncordon node {target.name}"))
        if target.kind in ("Namespace", "Node"):
            raise PlanError(f"{ref} is not a workload; name the workload to change")
        if pattern.name == "scale":
            replicas = int(match.group(1) or match.group(2))
            return actions.scale(ref, replicas)
        if pattern.name == "rollback":
            if target.kind != "Deployment":
                raise PlanError("rollback works on Deployments")
            history = await _history(tools, target)
            wanted = _REVISION.search(text)
            if wanted:
                revision = int(wanted.group(1))
                if history and revision not in {r["revision"] for r in history}:
                    known = ", ".join(str(r["revision"]) for r in history)
                    raise PlanError(f"{target.name} has no revision {revision} (it has {known})")
                return actions.rollback(ref, revision)
            current = next((r for r in history if r["current"]), None)
            older = [r for r in history if current and r["revision"] < current["revision"]]
            if not older:
                raise PlanError(f"{target.name} has no earlier revision to roll back to")
            previous = max(older, key=lambda r: r["revision"])
            return actions.rollback(ref, previous["revision"],
                                    f"back to {', '.join(previous['images'])}")
        if pattern.name == "restart":
            return actions.restart(ref)
        if pattern.name == "memory":
            container = await _first_container(tools, target)
            return actions.set_resources(ref, container,
                                         limits={"memory": _normalise_memory(match.group(1))})
        if pattern.name == "cpu":
            container = await _first_container(tools, target)
            return actions.set_resources(ref, container, limits={"cpu": match.group(1)})
        if pattern.name == "image":
            container = await _first_container(tools, target)
            return actions.set_image(ref, container, match.group(1))
        if pattern.name == "hpa":
            return actions.set_hpa_max(f"HorizontalPodAutoscaler/{target.namespace}/"
                                       f"{target.name}", int(match.group(1)))
        if pattern.name == "delete_pod":
            if target.kind != "Pod":
                raise PlanError("delete works on one pod: name the pod, e.g. "
                                "`/fix worker-6d4f9-x2x7q delete`")
            return actions.delete_pod(ref)
        if pattern.name in ("pause", "resume"):
            verb = "pause_rollout" if pattern.name == "pause" else "resume_rollout"
            return model.Action(verb, ref, {}, actions.RISK_OF[verb],
                                f"{pattern.name.capitalize()} the rollout of {target.name}")
    return None


def tool_call_for(action: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The MCP write tool and arguments that carry out an action."""
    try:
        resource = targets.Target.parse(action["resource"])
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
    kind, namespace, name = resource.kind, resource.namespace, resource.name
    params = action.get("params") or {}
    name_of = action["action"]
    if name_of == "rollback":
        return "rollback", {"namespace": namespace, "name": name,
                            "revision": int(params["revision"])}
    if name_of == "scale":
        return "scale", {"kind": kind, "namespace": namespace, "name": name,
                         "replicas": int(params["replicas"])}
    if name_of == "restart":
        return "rollout_restart", {"kind": kind, "namespace": namespace, "name": name}
    if name_of == "set_resources":
        return "set_resources", {"kind": kind, "namespace": namespace, "name": name,
                                 "container": params["container"],
                                 "limits": params.get("limits") or None,
                                 "requests": params.get("requests") or None}
    if name_of == "set_image":
        return "set_image", {"kind": kind, "namespace": namespace, "name": name,
                             "container": params["container"], "image": params["image"]}
    if name_of == "set_env":
        env = params.get("env") or {}
        return "set_env", {"kind": kind, "namespace": namespace, "name": name,
                           "container": params["container"], "env_name": env.get("name"),
                           "value": env.get("value", ""), "configmap": env.get("configmap", ""),
                           "key": env.get("key", "")}
    if name_of == "delete_pod":
        return "delete_pod", {"namespace": namespace, "name": name}
    if name_of in ("cordon", "uncordon"):
        return name_of, {"node": name}
    if name_of == "set_hpa_max":
        return "set_hpa_max", {"namespace": namespace, "name": name,
                               "max_replicas": int(params["max_replicas"])}
    if name_of in ("pause_rollout", "resume_rollout"):
        return name_of, {"namespace": namespace, "name": name}
    raise PlanError(f"unknown action {name_of!r}")
