"""Incident memory: remediation records in, similar incidents out, feedback re-ranks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from knowledge import incidents, service


def _remediation(approval_id: str, kind: str, resource: str, summary: str, action: str,
                 evidence: list[str], **extra: Any) -> dict[str, Any]:
    # The shape graph/fix/store.py saves and FixDeps.on_resolved passes on.
    return {"id": approval_id, "requester": "alice", "risk": "high", "status": "executed",
            "action": {"action": action, "resource": resource, "summary": summary,
                       "risk": "high", "params": {}},
            "evidence": [f"{kind} (87%): {evidence[0]}", *evidence[1:]],
            "created_at": 1_700_000_000.0, "verified": True, **extra}


def test_remediation_record_becomes_an_incident() -> None:
    record = _remediation("a1b2c3", "OOMKilled", "Deployment/shop/checkout",
                          "Set memory limit 1Gi on checkout/app", "set_resources",
                          ["checkout-api container killed with exit code 137",
                           "working set at 98% of the 512Mi limit"], feedback="bad")
    incident = incidents.from_remediation(record)
    assert incident.id == "a1b2c3"
    assert incident.cause_kind == "OOMKilled"
    assert incident.resource == "Deployment/shop/checkout"
    assert incident.action == "set_resources"
    assert incident.outcome == "verified"
    assert incident.feedback_score == -1.0
    assert "exit code 137" in incident.symptoms


def test_round_trip_and_feedback(kb: service.KnowledgeBase, corpus: Path) -> None:
    kb.ingest(corpus)  # incidents share the index with runbooks
    oom = _remediation("inc001", "OOMKilled", "Deployment/shop/checkout",
                       "Set memory limit 1Gi on checkout/app", "set_resources",
                       ["checkout container OOMKilled, exit code 137, memory at the limit"])
    oom2 = _remediation("inc002", "OOMKilled", "Deployment/shop/worker",
                        "Set memory limit 2Gi on worker/app", "set_resources",
                        ["worker container OOMKilled, exit code 137, memory at the limit"])
    rollout = _remediation("inc003", "BadRollout", "Deployment/shop/payments",
                           "Roll back payments to revision 4", "rollback",
                           ["5xx error rate jumped after rollout of payments v2.3"])
    for record in (oom, oom2, rollout):
        asyncio.run(kb.on_remediation_resolved(record))

    found = kb.similar_incidents("pod killed with exit code 137 (out of memory)", k=3)
    assert {s.incident.id for s in found[:2]} == {"inc001", "inc002"}
    assert found[0].incident.outcome == "verified"
    assert kb.similar_incidents("errors after the new release", k=1)[0].incident.id == "inc003"
    # Chinese symptoms find the English incident through the glossary.
    assert kb.similar_incidents("发布之后错误率升高，需要回滚", k=1)[0].incident.id == "inc003"

    # Feedback: the fix that did not help drops below an equally similar one that did.
    first = found[0].incident.id
    other = "inc002" if first == "inc001" else "inc001"
    assert kb.record_feedback(first, "bad") and kb.record_feedback(other, "good")
    again = kb.similar_incidents("pod killed with exit code 137 (out of memory)", k=3)
    assert [s.incident.id for s in again[:2]] == [other, first]
    assert again[0].incident.feedback_score == 1.0 and again[1].incident.feedback_score == -1.0
    assert kb.record_feedback("nope", "good") is False

    # Incidents never crowd runbook answers; re-recording an unchanged one writes nothing.
    assert "incident" not in kb.answer("disk pressure exit code 137").text.lower()
    assert incidents.store(kb.index, incidents.from_remediation(rollout)).status == "unchanged"
    sources = kb.index.sources(incidents.CORPUS)
    assert sorted(sources) == ["incident/inc001", "incident/inc002", "incident/inc003"]
    section = incidents.incident_section(again)
    assert section is not None and "inc001" in section.text and "👍" in section.text


def test_no_feedback_yet_is_neutral() -> None:
    record = _remediation("n0n0n0", "CrashLoop", "Deployment/shop/x", "Restart x", "restart",
                          ["x restarted 5x"])
    record.pop("feedback", None)
    assert incidents.from_remediation(record).feedback_score == 0.0
    record["feedback"] = 0
    assert incidents.from_remediation(record).feedback_score == 0.0
