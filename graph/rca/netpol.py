"""Whether NetworkPolicies let one workload's pods reach another's, by the API's rules.

Policies are additive: a pod that no policy selects (for a direction) is open; once any
policy selects it, only what some selecting policy's rules admit gets through. When
traffic is refused, the policy to blame is the newest of those isolating the pod: it is
the change that closed the door.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Endpoint", "blocking_policy", "selector_matches"]

Obj = dict[str, Any]
_NAMESPACE_NAME = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """One side of a connection: the pods' labels and namespace."""

    namespace: str
    labels: dict[str, str]
    namespace_labels: dict[str, str] = field(default_factory=dict)
    """The namespace's labels, as far as known; its name label is implied."""


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector against labels; an empty selector matches everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _types(policy: Obj) -> list[str]:
    spec = policy.get("spec") or {}
    declared = spec.get("policyTypes")
    if declared:
        return list(declared)
    # The API's default: Ingress always, Egress when egress rules are given.
    return ["Ingress", *(["Egress"] if spec.get("egress") is not None else [])]


def _peer_admits(peer: Obj, other: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return True  # addresses are not labels: assume the block may cover the pods
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is None:
        in_namespace = other.namespace == policy_namespace
    else:
        # Every namespace carries its name as a label, whatever else was read of it.
        in_namespace = selector_matches(ns_selector, {**other.namespace_labels,
                                                      _NAMESPACE_NAME: other.namespace})
    pod_selector = peer.get("podSelector")
    return in_namespace and (pod_selector is None or selector_matches(pod_selector, other.labels))


def _port_admits(ports: list[Obj] | None, port: int | None) -> bool:
    if not ports or port is None:
        return True
    for entry in ports:
        value = entry.get("port")
        if value is None or isinstance(value, str):
            return True  # all ports, or a named port we cannot resolve
        end = entry.get("endPort") or value
        if int(value) <= port <= int(end):
            return True
    return False


def _admitted(policy: Obj, direction: str, other: Endpoint, port: int | None) -> bool:
    spec = policy.get("spec") or {}
    rules = spec.get("ingress" if direction == "Ingress" else "egress") or []
    peers_key = "from" if direction == "Ingress" else "to"
    namespace = str(policy.get("metadata", {}).get("namespace") or "")
    for rule in rules:
        if not _port_admits(rule.get("ports"), port):
            continue
        peers = rule.get(peers_key)
        if not peers or any(_peer_admits(p, other, namespace) for p in peers):
            return True
    return False


def _newest(policies: list[Obj]) -> Obj:
    return max(policies, key=lambda p: str(p.get("metadata", {}).get("creationTimestamp") or ""))


def blocking_policy(policies: list[Obj], source: Endpoint, destination: Endpoint,
                    port: int | None) -> tuple[Obj, str] | None:
    """(policy, "Ingress" or "Egress") that stops `source` reaching `destination` on
    `port` (the pods' port), or None when the policies let it through."""
    blocked = []
    for direction, subject, other in (("Ingress", destination, source),
                                      ("Egress", source, destination)):
        selecting = [p for p in policies
                     if str(p.get("metadata", {}).get("namespace") or "") == subject.namespace
                     and direction in _types(p)
                     and selector_matches((p.get("spec") or {}).get("podSelector") or {},
                                          subject.labels)]
        if selecting and not any(_admitted(p, direction, other, port) for p in selecting):
            blocked.append((_newest(selecting), direction))
    if not blocked:
        return None
    # Closed both ways: the newer policy is the change that broke the call.
    return max(blocked, key=lambda b: str(b[0].get("metadata", {}).get("creationTimestamp")
                                          or ""))
