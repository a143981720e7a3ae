"""Errors of the analysis engines."""

from __future__ import annotations

from tools import errors

__all__ = ["BadInput"]


class BadInput(errors.OpsbotError):
    """A series cannot be analysed as given: unparsable rows, an irregular step, too few
    points or an argument out of range. The message names the line or the argument."""

