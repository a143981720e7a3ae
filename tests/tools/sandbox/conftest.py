"""Fixtures for the sandbox cluster tests: started clusters on a manual clock, the
official client built from the written kubeconfig, and kubectl."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools.sandbox.testing import ManualClock, SandboxHandle, connect


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., SandboxHandle]]:
    started: list[SandboxHandle] = []

    def make(scenario: str = "crashloop", clock: ManualClock | None = None) -> SandboxHandle:
        handle = connect(scenario, tmp_path / f"kubeconfig-{len(started)}", clock)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.close()


@pytest.fixture
def kubectl(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed")

    def run(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"),
             *args], capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    return run
