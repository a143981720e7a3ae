"""Small PromQL text helpers."""

from __future__ import annotations

import re

__all__ = ["regex_literal"]

_META = re.compile(r"([.*+?()\[\]{}|^$\\])")


def regex_literal(text: str) -> str:
    """`text` matched literally inside a PromQL `=~"..."` selector.

    PromQL strings take Go escapes, so Python's re.escape (which escapes '-') is rejected;
    regex metacharacters get a backslash that is itself escaped for the string literal.
    """
    return _META.sub(r"\\\\\1", text)
