"""Kubernetes resource quantities ("250m", "1.5", "256Mi", "1G") as plain numbers."""

from __future__ import annotations

import re

__all__ = ["format_bytes", "format_cpu", "parse"]

_SUFFIX = {
    "": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "P": 1e15, "E": 1e18, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
    "Pi": 2.0**50, "Ei": 2.0**60,
}
_PATTERN = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse(value: object) -> float:
    """Cores for CPU quantities, bytes for memory; 0 for anything unparsable."""
    if isinstance(value, int | float):
        return float(value)
    match = _PATTERN.match(str(value).strip())
    if not match or match.group(2) not in _SUFFIX:
        return 0.0
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def format_cpu(cores: float) -> str:
    """The way the API server prints CPU: whole cores, else millicores."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_bytes(value: float) -> str:
    """Binary-suffixed memory, the largest exact unit."""
    n = round(value)
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)
