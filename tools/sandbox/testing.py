"""Test support for code that drives the sandbox: a clock the test advances by hand, and the
official client connected through the sandbox's kubeconfig."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config

from tools.sandbox.cluster import SandboxCluster

__all__ = ["MONDAY_AFTERNOON", "ManualClock", "SandboxHandle", "connect"]

MONDAY_AFTERNOON = 1_764_000_000.0  # 2025-11-24 16:00 UTC


class ManualClock:
    """A clock that only moves when told to (pass it as `SandboxCluster(clock=...)`)."""

    def __init__(self, now: float = MONDAY_AFTERNOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SandboxHandle:
    """A started cluster with its clock, kubeconfig and API clients."""

    cluster: SandboxCluster
    clock: ManualClock
    kubeconfig: Path
    api: client.ApiClient = field(init=False)
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    def pods(self, selector: str, namespace: str = "shop") -> list[client.V1Pod]:
        return list(self.core.list_namespaced_pod(namespace, label_selector=selector).items)

    def close(self) -> None:
        self.api.close()
        self.cluster.stop()


def connect(scenario: str, kubeconfig: Path, clock: ManualClock | None = None) -> SandboxHandle:
    """Start a sandbox cluster on a manual clock and connect the official client to it."""
    clock = clock or ManualClock()
    cluster = SandboxCluster(scenario, clock=clock)
    cluster.start()
    return SandboxHandle(cluster, clock, cluster.write_kubeconfig(kubeconfig))
