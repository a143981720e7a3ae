"""Shared checks for the embedded-server tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools import errors
from tools.embedded import binaries


def _zombie(pid: int) -> bool:
    # An orphan is reaped by init, which some container inits do only now and then;
    # until then it is a zombie: dead, but still answering signal 0.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def process_gone(pid: int | None, timeout: float = 10.0, *, orphan: bool = False) -> bool:
    """True once no process with ``pid`` exists (signal 0 probes without signalling).

    ``orphan=True`` also accepts a zombie, for a child whose parent was killed.
    """
    assert pid is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if orphan and _zombie(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def redis_available() -> None:
    try:
        binaries.find_redis_binaries()
    except errors.MissingBinary as exc:
        pytest.skip(str(exc))


@pytest.fixture
def prometheus_available() -> None:
    try:
        binaries.find_prometheus()
    except errors.MissingBinary as exc:
        pytest.skip(str(exc))


@pytest.fixture
def gone() -> Callable[..., bool]:
    """The :func:`process_gone` check, for asserting that stop() left no process."""
    return process_gone
