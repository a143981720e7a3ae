"""Who may approve what (DESIGN.md section 2).

Approvers are configured per risk level, optionally narrowed to a namespace with a
`risk:namespace` key (e.g. `high:payments`), as user ids or `group:NAME`. The requester
never counts as the only approver of a high or critical action; critical actions need
two distinct approvers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Decision", "Policy", "Verdict"]

_ORDER = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


@dataclass
class Decision:
    """The approvals collected so far for one request."""

    approvers: list[str] = field(default_factory=list)


@dataclass
class Policy:
    approvers: Mapping[str, list[str]] = field(default_factory=dict)
    groups: Mapping[str, list[str]] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    auto_approve_low: bool = False

    def may_approve(self, user: str, risk: str, namespace: str,
                    user_groups: Iterable[str] = ()) -> bool:
        entries = list(self.approvers.get(f"{risk}:{namespace}", [])) or list(
            self.approvers.get(risk, []))
        for entry in entries:
            if entry == user:
                return True
            if entry.startswith("group:"):
                group = entry[6:]
                if group in set(user_groups) or user in self.groups.get(group, []):
                    return True
        return False

    def namespace_allowed(self, namespace: str) -> bool:
        if not namespace:
            return True  # cluster-scoped (nodes): governed by risk alone
        if self.namespaces:
            return namespace in self.namespaces
        return namespace != "kube-system"

    def needs_approval(self, risk: str) -> bool:
        return not (risk == "low" and self.auto_approve_low)

    def approvals_needed(self, risk: str) -> int:
        return 2 if risk == "critical" else 1

    def configured_for(self, risk: str, namespace: str) -> bool:
        return bool(self.approvers.get(f"{risk}:{namespace}") or self.approvers.get(risk))

    def check_approval(self, *, user: str, user_groups: Iterable[str], risk: str,
                       namespace: str, requester: str, already: list[str]) -> Verdict:
        """May `user` add an approval now, given who approved already?"""
        if risk not in _ORDER:
            return Verdict(False, f"unknown risk level {risk!r}")
        if not self.may_approve(user, risk, namespace, user_groups):
            return Verdict(False, f"{user} may not approve {risk}-risk actions"
                           + (f" in {namespace}" if namespace else ""))
        if user in already:
            return Verdict(False, f"{user} has already approved this request")
        if risk in ("high", "critical") and user == requester:
            others = [a for a in already if a != requester]
            if self.approvals_needed(risk) - len(already) <= 1 and not others:
                return Verdict(False, f"{user} asked for this {risk}-risk action and cannot be "
                               "its only approver")
        return Verdict(True)

    def complete(self, risk: str, requester: str, approvers: list[str]) -> bool:
        distinct = set(approvers)
        if len(distinct) < self.approvals_needed(risk):
            return False
        if risk in ("high", "critical"):
            return bool(distinct - {requester})
        return True
