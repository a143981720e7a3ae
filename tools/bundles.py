"""Incident bundles (DESIGN.md section 4): load, validate, time-shift and write.

A bundle captures an incident so anyone can replay it offline: incident.yaml (name,
namespace, question, end, optional alert), cluster.yaml (objects as the API returns
them), logs/POD_CONTAINER[.previous].log and an optional metrics.om (OpenMetrics with
timestamps). Replay shifts every timestamp so that `end` becomes now.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tools import errors

__all__ = ["QUIET_BELOW", "Bundle", "BundleError", "Grade", "grade", "load_bundle",
           "shift_bundle", "write_bundle"]

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$")
_LOG_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)")
# Kinds the RCA reads; their apiVersion may be left out. Captures hold others too (Jobs,
# StorageClasses, PodDisruptionBudgets, ...): those load as recorded, given an apiVersion.
_KINDS = {"Node", "Namespace", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Pod",
          "Service", "Endpoints", "ConfigMap", "Secret", "PersistentVolumeClaim",
          "HorizontalPodAutoscaler", "ResourceQuota", "Event", "NetworkPolicy"}


class BundleError(errors.OpsbotError):
    """A malformed bundle; the message names the file and the problem."""


@dataclass
class Bundle:
    path: Path
    meta: dict[str, Any]
    objects: list[dict[str, Any]]
    # (pod, container, previous) -> text
    logs: dict[tuple[str, str, bool], str] = field(default_factory=dict)
    metrics: str = ""

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.path.name)

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace") or "")

    @property
    def question(self) -> str:
        return str(self.meta.get("question") or "")

    @property
    def end(self) -> datetime:
        return _parse_time(self.meta["end"], self.path / "incident.yaml", "end")

    @property
    def expected(self) -> dict[str, str] | None:
        """The known answer of a test bundle: {kind, resource}, or {kind: none}."""
        value = self.meta.get("expected")
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


# A ranking whose best cause is below this confidence says "nothing certain is wrong".
QUIET_BELOW = 0.5


@dataclass(frozen=True)
class Grade:
    """How a ranking of causes compares with a bundle's expected answer."""

    kind: bool  # the top cause has the expected kind
    resource: bool  # the top cause names the expected resource
    rank: int | None  # 1-based rank of the first cause right in both, None when absent
    confidence: float  # of the top cause; 0.0 when nothing was found

    @property
    def correct(self) -> bool:
        return self.kind and self.resource


def grade(expected: dict[str, str], causes: list[dict[str, Any]]) -> Grade:
    """Grade causes (the RCA JSON contract) against `expected`. For a negative control
    (kind none) the ranking is right when it is empty or its best cause is quiet."""
    top = causes[0] if causes else None
    confidence = float(top["confidence"]) if top else 0.0
    if expected.get("kind") == "none":
        quiet = top is None or confidence < QUIET_BELOW
        return Grade(quiet, quiet, 1 if quiet else None, confidence)
    rank = next((i for i, c in enumerate(causes, 1) if c["kind"] == expected["kind"]
                 and c["resource"] == expected.get("resource")), None)
    return Grade(bool(top and top["kind"] == expected["kind"]),
                 bool(top and top["resource"] == expected.get("resource")), rank, confidence)


def _parse_time(value: Any, where: Path, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise BundleError(f"{where}: {what} {value!r} is not an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read_yaml_docs(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise BundleError(f"{path}: not valid YAML: {exc}") from exc


def _check_object(doc: Any, path: Path, index: int) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise BundleError(f"{path}: document {index + 1} is not a mapping")
    kind = str(doc.get("kind", ""))
    if kind.endswith("List") and isinstance(doc.get("items"), list):
        items = []
        for item in doc["items"]:
            item.setdefault("kind", kind[:-4])
            item.setdefault("apiVersion", doc.get("apiVersion", "v1"))
            items += _check_object(item, path, index)
        return items
    if not kind:
        raise BundleError(f"{path}: document {index + 1} has no kind")
    if kind not in _KINDS and not doc.get("apiVersion"):
        raise BundleError(f"{path}: document {index + 1} has kind {kind!r} but no apiVersion; "
                          "objects other than the usual kinds "
                          f"({', '.join(sorted(_KINDS))}) need one")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise BundleError(f"{path}: document {index + 1} ({kind}) has no metadata.name")
    if kind == "Secret" and any((doc.get("data") or {}).values()):
        raise BundleError(f"{path}: Secret {meta['name']} carries values; bundles keep "
                          "Secret keys only")
    return [doc]


def _check_expected(value: Any, where: Path) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not value.get("kind"):
        raise BundleError(f"{where}: expected must be a mapping with kind (and resource), "
                          "or {kind: none}")
    if value["kind"] == "none":
        return
    resource = str(value.get("resource") or "")
    if len(resource.split("/")) not in (2, 3) or not all(resource.split("/")):
        raise BundleError(f"{where}: expected.resource {resource!r} is not Kind/namespace/name "
                          "(or Kind/name for cluster-scoped objects)")


def load_bundle(path: Path) -> Bundle:
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: not a bundle folder")
    incident = path / "incident.yaml"
    if not incident.is_file():
        raise BundleError(f"{incident}: missing (name, namespace, question, end)")
    docs = _read_yaml_docs(incident)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise BundleError(f"{incident}: must be one YAML mapping")
    meta = dict(docs[0])
    for key in ("name", "namespace", "end"):
        if not meta.get(key):
            raise BundleError(f"{incident}: {key} is missing")
    _parse_time(meta["end"], incident, "end")
    _check_expected(meta.get("expected"), incident)
    cluster = path / "cluster.yaml"
    if not cluster.is_file():
        raise BundleError(f"{cluster}: missing (the Kubernetes objects of the incident)")
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(_read_yaml_docs(cluster)):
        objects += _check_object(doc, cluster, index)
    logs: dict[tuple[str, str, bool], str] = {}
    log_dir = path / "logs"
    if log_dir.is_dir():
        for file in sorted(log_dir.glob("*.log")):
            stem = file.name.removesuffix(".log")
            previous = stem.endswith(".previous")
            stem = stem.removesuffix(".previous")
            pod, sep, container = stem.rpartition("_")
            if not sep or not pod or not container:
                raise BundleError(f"{file}: log files are named POD_CONTAINER.log or "
                                  "POD_CONTAINER.previous.log")
            try:
                logs[(pod, container, previous)] = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise BundleError(f"{file}: cannot be read: {exc}") from exc
    metrics = ""
    om = path / "metrics.om"
    if om.is_file():
        metrics = om.read_text(encoding="utf-8")
        if metrics.strip() and not metrics.rstrip().endswith("# EOF"):
            raise BundleError(f"{om}: OpenMetrics must end with '# EOF'")
    return Bundle(path=path, meta=meta, objects=objects, logs=logs, metrics=metrics)


def _shift_value(value: Any, delta: timedelta) -> Any:
    if isinstance(value, dict):
        # A pod template is configuration: its hash names the revision its pods carry
        # (a `restartedAt` annotation moved would make a new revision of every workload).
        return {k: v if k == "template" and isinstance(v, dict) and "spec" in v
                else _shift_value(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift_value(v, delta) for v in value]
    if isinstance(value, datetime):
        moved = (value if value.tzinfo else value.replace(tzinfo=UTC)) + delta
        return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and _ISO.match(value):
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
        return moved.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _shift_log(text: str, delta: timedelta) -> str:
    lines = []
    for line in text.splitlines():
        match = _LOG_TIME.match(line)
        if match:
            moved = datetime.fromisoformat(match.group(1).replace("Z", "+00:00")) + delta
            line = moved.strftime("%Y-%m-%dT%H:%M:%SZ") + line[match.end():]
        lines.append(line)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _shift_metrics(text: str, seconds: float) -> str:
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            head, _, stamp = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                line = f"{head} {float(stamp) + seconds:.3f}"
        out.append(line)
    return "\n".join(out) + "\n"


def shift_bundle(bundle: Bundle, now: datetime) -> Bundle:
    """A copy with every timestamp moved so that the bundle's end is `now`."""
    delta = now - bundle.end
    meta = _shift_value(bundle.meta, delta)
    return Bundle(path=bundle.path, meta=meta,
                  objects=[_shift_value(o, delta) for o in bundle.objects],
                  logs={k: _shift_log(v, delta) for k, v in bundle.logs.items()},
                  metrics=_shift_metrics(bundle.metrics, delta.total_seconds())
                  if bundle.metrics.strip() else "")


def write_bundle(bundle: Bundle, out: Path) -> Path:
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "incident.yaml").write_text(yaml.safe_dump(bundle.meta, sort_keys=False,
                                                      allow_unicode=True))
    (out / "cluster.yaml").write_text(yaml.safe_dump_all(bundle.objects, sort_keys=False,
                                                         allow_unicode=True))
    for (pod, container, previous), text in bundle.logs.items():
        suffix = ".previous.log" if previous else ".log"
        (out / "logs" / f"{pod}_{container}{suffix}").write_text(text)
    if bundle.metrics:
        (out / "metrics.om").write_text(bundle.metrics)
    return out
