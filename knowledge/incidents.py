"""Incident memory: resolved remediations as searchable documents.

Each resolved incident (symptoms, cause kind, resource, what was done, how it ended, and
the on-call's feedback) is one chunk of kind ``incident`` in the knowledge index, so the
same hybrid search finds it from a new incident's symptoms. Feedback moves an incident up
or down among equally similar ones: a fix that was marked as not helping should not be the
first thing RCA suggests next time.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from graph import chat
from knowledge import chunking, retrieval
from knowledge import index as index_mod
from knowledge import text as text_mod

__all__ = [
    "CORPUS",
    "FEEDBACK_WEIGHT",
    "IncidentRecord",
    "SimilarIncident",
    "from_remediation",
    "incident_section",
    "set_feedback",
    "similar",
    "store",
]

CORPUS = "incidents"
# How far feedback (-1 .. +1) scales an incident's fused score.
FEEDBACK_WEIGHT = 0.3
_CAUSE = re.compile(r"^\s*([A-Z][A-Za-z]+)\s*\(\d+%\)\s*:?\s*(.*)$")


@dataclass
class IncidentRecord:
    """A resolved incident, as remembered."""

    id: str
    symptoms: str
    cause_kind: str = "Unknown"
    resource: str = ""
    action: str = ""
    action_summary: str = ""
    outcome: str = ""            # verified | unverified | failed | rejected | expired
    feedback_score: float = 0.0  # +1 helped, -1 did not, 0 unknown
    created_at: float = field(default_factory=time.time)

    @property
    def source(self) -> str:
        return f"incident/{self.id}"

    def title(self) -> str:
        where = f" on {self.resource}" if self.resource else ""
        return f"Incident {self.id}: {self.cause_kind}{where}"

    def body(self) -> str:
        """What is searched and embedded; feedback is left out since it says nothing
        about what happened."""
        return "\n".join(line for line in (
            f"Symptoms: {self.symptoms}",
            f"Cause: {self.cause_kind}",
            f"Resource: {self.resource}" if self.resource else "",
            f"Fix: {self.action_summary}" + (f" ({self.action})" if self.action else ""),
            f"Outcome: {self.outcome}" if self.outcome else "",
        ) if line)


def _score(verdict: Any) -> float:
    # Compare strings and booleans by type: 0 == False in Python, and "no feedback yet"
    # (0) must not read as "bad".
    if verdict is True or (isinstance(verdict, str) and verdict in ("good", "helpful")):
        return 1.0
    if verdict is False or (isinstance(verdict, str) and verdict in ("bad", "unhelpful")):
        return -1.0
    try:
        return max(-1.0, min(1.0, float(verdict)))
    except (TypeError, ValueError):
        return 0.0


def from_remediation(record: dict[str, Any]) -> IncidentRecord:
    """An incident from the remediation flow's approval record (graph/fix/store.py).

    Its ``evidence`` starts with "Kind (NN%): summary" when RCA proposed the action.
    """
    if not record.get("id"):
        raise ValueError("a remediation record without an id cannot be remembered")
    action = record.get("action") or {}
    evidence = [str(line) for line in record.get("evidence") or []]
    cause = str(record.get("cause_kind") or "")
    if not cause and evidence:
        match = _CAUSE.match(evidence[0])
        cause = match.group(1) if match else ""
    if record.get("verified") is True:
        outcome = "verified"
    elif record.get("verified") is False:
        outcome = "unverified"
    else:
        outcome = str(record.get("outcome") or record.get("status") or "")
    symptoms = str(record.get("symptoms") or "") or "; ".join(evidence) or str(
        action.get("summary", ""))
    return IncidentRecord(
        id=str(record["id"]), symptoms=symptoms, cause_kind=cause or "Unknown",
        resource=str(action.get("resource") or record.get("resource") or ""),
        action=str(action.get("action") or ""),
        action_summary=str(action.get("summary") or record.get("action_summary") or ""),
        outcome=outcome, feedback_score=_score(record.get("feedback", 0)),
        created_at=float(record.get("created_at") or time.time()))


def store(index: index_mod.KnowledgeIndex, incident: IncidentRecord) -> index_mod.SyncResult:
    """Insert or replace the incident's chunk (a no-op when nothing changed)."""
    body = incident.body()
    doc = chunking.Document(
        source=incident.source, title=incident.title(), body=body,
        lang=text_mod.detect_lang(incident.symptoms), kind="incident",
        tags=[t for t in (incident.cause_kind.lower(), incident.action) if t],
        hash=chunking.content_hash(json.dumps(asdict(incident), sort_keys=True)))
    # One chunk per incident: it is short, and splitting it would separate the symptoms
    # (what a new incident matches on) from the fix (what the on-call wants to see).
    chunk = chunking.Chunk(id=chunking.chunk_id(doc.source, []), source=doc.source,
                           doc_title=doc.title, headings=[], text=body, lang=doc.lang,
                           tags=doc.tags, kind="incident", doc_hash=doc.hash, position=0)
    index.ensure_fitted([index_mod.embed_text(chunk.title, ",".join(chunk.tags), body)])
    return index.upsert(CORPUS, doc, [chunk], extra=asdict(incident),
                        feedback=incident.feedback_score)


def set_feedback(index: index_mod.KnowledgeIndex, incident_id: str, verdict: Any) -> bool:
    """Record feedback on a stored incident; False when there is no such incident."""
    source = f"incident/{incident_id}"
    record = index.source_record(CORPUS, source)
    if not record or not record.get("keys"):
        return False
    raw = index.client.hget(record["keys"][0], "extra")
    extra = json.loads(raw) if raw else {}
    extra["feedback_score"] = _score(verdict)
    index.set_fields(CORPUS, source, feedback=str(extra["feedback_score"]),
                     extra=json.dumps(extra, ensure_ascii=False))
    return True


@dataclass
class SimilarIncident:
    incident: IncidentRecord
    score: float        # fused search score scaled by feedback
    similarity: float   # cosine similarity of the vectors


def similar(index: index_mod.KnowledgeIndex, text: str, *, k: int = 3,
            min_similarity: float = 0.0,
            config: retrieval.SearchConfig | None = None) -> list[SimilarIncident]:
    """The past incidents most like ``text`` (symptoms, a cause, an RCA summary)."""
    hits = retrieval.hybrid_search(index, text, k=max(k * 3, 10), config=config,
                                   filters=retrieval.Filters(kind="incident"))
    found: list[SimilarIncident] = []
    for hit in hits:
        if hit.similarity < min_similarity and hit.text_rank is None:
            continue
        fields = {f: hit.extra[f] for f in IncidentRecord.__dataclass_fields__
                  if f in hit.extra}
        if "id" not in fields or "symptoms" not in fields:
            continue
        incident = IncidentRecord(**fields)
        incident.feedback_score = hit.feedback
        score = hit.score * (1.0 + FEEDBACK_WEIGHT * max(-1.0, min(1.0, hit.feedback)))
        found.append(SimilarIncident(incident, score, hit.similarity))
    found.sort(key=lambda s: -s.score)
    return found[:k]


def incident_section(items: list[SimilarIncident]) -> chat.Section | None:
    """"Similar past incidents" for an RCA card; None when there are none."""
    if not items:
        return None
    marks = {1.0: " 👍", -1.0: " 👎"}
    lines = [f"• `{s.incident.id}` {s.incident.cause_kind} on {s.incident.resource or '?'}: "
             f"{s.incident.action_summary or 'no action'} → {s.incident.outcome or '?'}"
             f"{marks.get(s.incident.feedback_score, '')}" for s in items]
    return chat.Section(title="Similar past incidents", text="\n".join(lines))
