"""The cluster and Prometheus opsbot reads and changes: configured, or the sandbox.

With no kubeconfig (and not in a pod) the sandbox cluster starts with a scenario, and
with no Prometheus URL a local Prometheus starts over that scenario's metric history,
scraping the sandbox's live metrics. Everything started here stops on `close()`.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from bot import settings as settings_mod
from tools import kube, prom, read_tools, write_tools

__all__ = ["Backends"]


class Backends:
    """Context manager owning the Kubernetes and Prometheus connections."""

    def __init__(self, settings: settings_mod.Settings, *, scenario: str | None = None,
                 with_prometheus: bool = True) -> None:
        self.settings = settings
        self.scenario = scenario or settings.kubernetes.sandbox_scenario
        self._with_prometheus = with_prometheus
        self._stack = contextlib.ExitStack()
        self.sandbox: Any = None
        self.cluster_url = ""
        self.kubeconfig = ""
        self.prometheus_url = ""
        self.kube_api: kube.KubeApi | None = None
        self.prom_api: prom.PromApi | None = None
        self.notes: list[str] = []

    def __enter__(self) -> Backends:
        try:
            state = self.settings.state_path
            self._start_cluster(state / "sandbox")
            self._start_prometheus(state / "prometheus")
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def read_tools(self) -> read_tools.ReadTools:
        return read_tools.ReadTools(self.kube_api, self.prom_api,
                                    namespaces=self.settings.kubernetes.namespaces)

    def write_tools(self) -> write_tools.WriteTools:
        namespaces = self.settings.policy.namespaces or self.settings.kubernetes.namespaces
        return write_tools.WriteTools(self.kube_api, namespaces=namespaces)

    def _start_cluster(self, data_dir: Path) -> None:
        k8s = self.settings.kubernetes
        if self.settings.uses_sandbox_cluster():
            from tools.sandbox import cluster

            data_dir.mkdir(parents=True, exist_ok=True)
            self.sandbox = cluster.SandboxCluster(self.scenario)
            self.sandbox.start()
            self._stack.callback(self.sandbox.stop)
            self.cluster_url = self.sandbox.url
            self.kubeconfig = str(self.sandbox.write_kubeconfig(data_dir / "kubeconfig"))
            self.kube_api = kube.connect(kubeconfig=self.kubeconfig, timeout_s=k8s.timeout_s)
        else:
            self.kube_api = kube.connect(kubeconfig=k8s.kubeconfig, context=k8s.context,
                                         in_cluster=k8s.in_cluster, timeout_s=k8s.timeout_s)
            self.cluster_url = self.kube_api.server
            self.kubeconfig = k8s.kubeconfig or ("in-cluster" if k8s.in_cluster else "")
        self._stack.callback(self.kube_api.close)

    def _start_prometheus(self, data_dir: Path) -> None:
        url = self.settings.prometheus.url
        if not url and self.sandbox is not None and self._with_prometheus:
            from tools.embedded import prometheus_server

            if data_dir.exists():
                shutil.rmtree(data_dir)  # the history is rebuilt to end at this start
            data_dir.mkdir(parents=True)
            history = self.sandbox.write_history(data_dir / "history.om")
            target = self.sandbox.url.removeprefix("http://")
            embedded = prometheus_server.EmbeddedPrometheus(
                data_dir, scrape_targets=[target], backfill=[history])
            url = embedded.start()
            self._stack.callback(embedded.stop)
        if url:
            self.prometheus_url = url
            self.prom_api = prom.PromApi(url, timeout_s=self.settings.prometheus.timeout_s)
        else:
            self.notes.append("No Prometheus is configured: metric questions will say so.")

    def describe(self) -> list[str]:
        sandbox = f" (sandbox, scenario {self.scenario})" if self.sandbox else ""
        return [
            f"kubernetes  {self.cluster_url}{sandbox}  kubeconfig: {self.kubeconfig}",
            f"prometheus  {self.prometheus_url or 'not configured'}",
            *self.notes,
        ]
