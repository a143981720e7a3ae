"""Label and field selectors, in the string form of the API and the object form of specs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tools.sandbox import apierrors

__all__ = ["FieldSelector", "LabelSelector", "field_value", "selector_string"]


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # =, !=, in, notin, exists, !
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _parse_requirement(text: str) -> _Requirement:
    for op in (" notin ", " in "):
        if op in text:
            key, _, rest = text.partition(op)
            rest = rest.strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise apierrors.bad_request(f"unable to parse requirement: {text!r}")
            values = tuple(v.strip() for v in rest[1:-1].split(",") if v.strip())
            return _Requirement(key.strip(), op.strip(), values)
    for op, name in (("!=", "!="), ("==", "="), ("=", "=")):
        if op in text:
            key, _, value = text.partition(op)
            return _Requirement(key.strip(), name, (value.strip(),))
    if text.startswith("!"):
        return _Requirement(text[1:].strip(), "!")
    if not text.replace("-", "").replace(".", "").replace("/", "").replace("_", "").isalnum():
        raise apierrors.bad_request(f"unable to parse requirement: {text!r}")
    return _Requirement(text, "exists")


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[_Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text:
            return cls()
        return cls(tuple(_parse_requirement(p) for p in _split_top_level(text)))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> LabelSelector:
        """A LabelSelector object (matchLabels, matchExpressions) or a plain map."""
        if not spec:
            return cls()
        if "matchLabels" not in spec and "matchExpressions" not in spec:
            return cls(tuple(_Requirement(k, "=", (str(v),)) for k, v in spec.items()))
        reqs = [_Requirement(k, "=", (str(v),))
                for k, v in (spec.get("matchLabels") or {}).items()]
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expr in spec.get("matchExpressions") or []:
            reqs.append(_Requirement(expr["key"], ops.get(expr["operator"], "exists"),
                                     tuple(expr.get("values") or ())))
        return cls(tuple(reqs))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


def selector_string(spec: Mapping[str, Any] | None) -> str:
    """The string form kubectl shows (scale status, wide output)."""
    parts = []
    for req in LabelSelector.from_spec(spec).requirements:
        if req.op == "=":
            parts.append(f"{req.key}={req.values[0]}")
        elif req.op in ("in", "notin"):
            parts.append(f"{req.key} {req.op} ({','.join(req.values)})")
        elif req.op == "exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A dotted field of an object as a string ("" when absent)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return str(current).lower()
    return str(current)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (path, equal, value)

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        if not text:
            return cls()
        terms = []
        for part in _split_top_level(text):
            if "!=" in part:
                path, _, value = part.partition("!=")
                terms.append((path.strip(), False, value.strip()))
            elif "=" in part:
                path, _, value = part.replace("==", "=").partition("=")
                terms.append((path.strip(), True, value.strip()))
            else:
                raise apierrors.bad_request(f"invalid selector: {text!r}")
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal
                   for path, equal, value in self.terms)
