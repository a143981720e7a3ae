"""What the RCA subgraph works with: collected facts, evidence, causes and actions.

Everything is a plain dataclass convertible to JSON, because causes travel through
checkpoints, chat cards and the `opsbot replay --json` contract.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["KINDS", "RISKS", "Action", "Cause", "Evidence", "WorkloadFacts"]

# The cause taxonomy of DESIGN.md section 4.
KINDS = (
    "CrashLoop", "OOMKilled", "ImagePull", "ConfigError", "ProbeFailure", "Unschedulable",
    "NodeFailure", "CPUSaturation", "MemoryLeak", "BadRollout", "DependencyFailure",
    "PVCPending", "QuotaExceeded", "HPAMaxed", "NetworkPolicy", "Unknown",
)
RISKS = ("low", "medium", "high", "critical")


@dataclass
class Evidence:
    source: str  # status | event | log | metric | config | rollout | dependency
    text: str
    at: str = ""  # ISO 8601 time, when the fact has one

    def __str__(self) -> str:
        return f"[{self.source}{' ' + self.at if self.at else ''}] {self.text}"


@dataclass
class Action:
    """A remediation the approval flow can turn into a card."""

    action: str  # rollback | set_resources | scale | restart | delete_pod | set_env | ...
    resource: str  # Kind/namespace/name
    params: dict[str, Any]
    risk: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Cause:
    kind: str
    resource: str
    summary: str
    score: float  # raw strength of the evidence, before calibration
    evidence: list[Evidence] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    confidence: float = 0.0
    # Where the failure starts: a cause found downstream of the target outranks what the
    # target shows as a symptom.
    depth: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "resource": self.resource,
            "confidence": round(self.confidence, 2), "summary": self.summary,
            "evidence": [str(e) for e in self.evidence],
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass
class WorkloadFacts:
    """Everything collected about one workload (or a lone pod) for the detectors."""

    kind: str
    namespace: str
    name: str
    obj: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: dict[str, dict[str, str]] = field(default_factory=dict)  # pod/container -> text
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    configmaps: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    pvcs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    hpa: dict[str, Any] | None = None
    quotas: list[dict[str, Any]] = field(default_factory=list)
    network_policies: list[dict[str, Any]] = field(default_factory=list)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def containers(self) -> list[dict[str, Any]]:
        spec = (self.obj or {}).get("spec", {})
        template = spec.get("template", {}).get("spec") if "template" in spec else spec
        return list((template or {}).get("containers") or [])
