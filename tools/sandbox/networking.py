"""Endpoints and EndpointSlices for Services: ready pods serve, others are listed as not
ready, exactly what `kubectl get ep` and `describe svc` show during an incident."""

from __future__ import annotations

from typing import Any

from tools.sandbox import ids
from tools.sandbox.objects import Objects, owner_ref
from tools.sandbox.selection import LabelSelector
from tools.sandbox.workloads import pod_ready

__all__ = ["sync_service"]

Obj = dict[str, Any]


def _target_port(port: Obj, pod: Obj) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in pod["spec"].get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target:
                return int(cport["containerPort"])
    return None


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
            "targetRef": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                          "uid": meta["uid"]}}


def sync_service(objs: Objects, svc: Obj, pods: list[Obj]) -> None:
    spec = svc.get("spec") or {}
    if not spec.get("selector"):
        return  # endpoints of selector-less services are managed by hand
    meta = svc["metadata"]
    selector = LabelSelector.from_spec(spec["selector"])
    members = [p for p in pods if selector.matches(p["metadata"].get("labels"))
               and (p.get("status") or {}).get("podIP")]
    ready = [p for p in members if pod_ready(p)]
    waiting = [p for p in members if not pod_ready(p)]
    ports = []
    for port in spec.get("ports") or []:
        number = _target_port(port, members[0]) if members else None
        if number is None and isinstance(port.get("targetPort"), int):
            number = port["targetPort"]
        entry = {"port": number or port.get("port"), "protocol": port.get("protocol", "TCP")}
        if port.get("name"):
            entry["name"] = port["name"]
        ports.append(entry)
    subset: Obj = {}
    if ready:
        subset["addresses"] = [_address(p) for p in ready]
    if waiting:
        subset["notReadyAddresses"] = [_address(p) for p in waiting]
    endpoints: Obj = {"metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                   "labels": dict(meta.get("labels") or {})}}
    if subset:
        subset["ports"] = ports
        endpoints["subsets"] = [subset]
    existing = objs.get("Endpoints", meta["namespace"], meta["name"])
    if existing is None:
        objs.create("Endpoints", endpoints)
    elif existing.get("subsets") != endpoints.get("subsets"):
        updated = {k: v for k, v in existing.items() if k != "subsets"}
        if "subsets" in endpoints:
            updated["subsets"] = endpoints["subsets"]
        objs.replace(updated)
    _sync_slice(objs, svc, members, ports)


def _sync_slice(objs: Objects, svc: Obj, members: list[Obj], ports: list[Obj]) -> None:
    meta = svc["metadata"]
    name = f"{meta['name']}-{ids.safe_suffix(5, meta['namespace'], meta['name'])}"
    endpoints = []
    for pod in members:
        ready = pod_ready(pod)
        address = _address(pod)
        endpoints.append({"addresses": [address["ip"]],
                          "conditions": {"ready": ready, "serving": ready,
                                         "terminating": False},
                          "nodeName": address["nodeName"], "targetRef": address["targetRef"]})
    body: Obj = {"addressType": "IPv4", "endpoints": endpoints,
                 "ports": [{k: v for k, v in p.items()} for p in ports]}
    existing = objs.get("EndpointSlice", meta["namespace"], name)
    if existing is None:
        objs.create("EndpointSlice", {
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": {"kubernetes.io/service-name": meta["name"],
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"},
                         "ownerReferences": [owner_ref(svc)]},
            **body})
    elif any(existing.get(k) != v for k, v in body.items()):
        objs.replace(dict(existing, **body))
