"""`SandboxCluster`: a Kubernetes API server on 127.0.0.1 with a live incident scenario.

The real `kubernetes` client and kubectl talk to it through `write_kubeconfig`; the
controller behind it turns Deployments into ReplicaSets and pods whose status follows
from their spec, so scaling, rollbacks, restarts and resource changes really change the
pods, the events, the logs and the metrics (`metrics_text`, `write_history`).

Secrets never carry values: the store keeps their keys with empty values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tools import errors
from tools.sandbox import defaults, history, resource_metrics, scenarios
from tools.sandbox.apierrors import ApiError, SandboxError
from tools.sandbox.apiserver import ApiServer
from tools.sandbox.behaviour import Behaviour
from tools.sandbox.controller import Controller
from tools.sandbox.handlers import Handlers
from tools.sandbox.logs import LogReader, StaticLogs
from tools.sandbox.metrics_model import MetricsModel
from tools.sandbox.resources import Registry
from tools.sandbox.store import ObjectStore

__all__ = ["CLUSTER_NAME", "SandboxCluster", "list_scenarios", "load_objects"]

CLUSTER_NAME = "opsbot-sandbox"


def list_scenarios() -> list[str]:
    return list(scenarios.SCENARIOS)


def _images(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or {}
    pod_spec = ((spec.get("template") or {}).get("spec") or spec) if isinstance(spec, dict) \
        else {}
    return [str(c.get("image", "")) for c in (pod_spec.get("containers") or [])
            if isinstance(c, dict) and c.get("image")]


def _flatten(docs: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            kind = str(doc["kind"])[:-4]
            for item in doc["items"]:
                if isinstance(item, dict):
                    item.setdefault("kind", kind)
                    item.setdefault("apiVersion", doc.get("apiVersion", "v1"))
                    yield item
        else:
            yield doc


def load_objects(cluster: SandboxCluster, docs: Iterable[Any]) -> int:
    """Seed the store with Kubernetes objects as the API returns them (for example the
    documents of a bundle's cluster.yaml). Loaded pods keep their recorded status; their
    images become known (healthy) so that replacements can start. Returns the count."""
    return cluster.load_objects(docs)


class SandboxCluster:
    def __init__(self, scenario: str = "crashloop", *, clock: Callable[[], float] = time.time,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self._clock = clock
        self._host = host
        self._port = port
        self._bound_port: int | None = None
        self.start_time = float(clock())
        self.scenario_name = scenario
        try:
            self.scenario = scenarios.build(scenario, self.start_time)
        except SandboxError as exc:
            raise errors.NotFound(str(exc)) from exc
        self.registry = Registry()
        setup = self.start_time - scenarios.SETUP_S
        self.store = ObjectStore(self.registry, now=lambda: setup)
        self.controller = Controller(self.store, self.registry, self.scenario.catalogue, setup)
        self.store.now = lambda: self.controller.time
        self._lock = threading.RLock()
        self.static_logs: StaticLogs = {}
        self.metrics = MetricsModel(self.controller, self.scenario, self.start_time)
        self.controller.utilization = self.metrics.utilization
        for kind, obj in self.scenario.objects:
            self._seed(kind, obj, setup)
        for action in self.scenario.actions:
            self.controller.schedule(action)
        self.controller.reconcile(self.start_time)
        computed = {
            ("metrics.k8s.io", "pods"): lambda: resource_metrics.pod_metrics(
                self.controller, self.metrics),
            ("metrics.k8s.io", "nodes"): lambda: resource_metrics.node_metrics(
                self.controller, self.metrics)}
        handlers = Handlers(self.store, self.registry, self.controller,
                            LogReader(self.controller.records, lambda: self.controller.time,
                                      self.static_logs), computed)
        self._server = ApiServer(handlers, self.registry, self._lock,
                                 lambda: self.controller.reconcile(float(self._clock())),
                                 self._live_metrics)

    def _seed(self, kind: str, obj: dict[str, Any], at: float) -> None:
        rtype = self.controller.objs.type(kind)
        obj = defaults.apply_defaults(rtype, obj)
        defaults.validate(rtype, obj)
        if kind == "Node":
            stamp = self.controller.stamp()
            for cond in obj["status"]["conditions"]:
                cond["lastHeartbeatTime"] = cond["lastHeartbeatTime"] or stamp
                cond["lastTransitionTime"] = cond["lastTransitionTime"] or stamp
        self.store.create(rtype, obj)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        if self._bound_port is not None:
            return
        try:
            self._bound_port = self._server.start(self._host, self._port)
        except OSError as exc:
            raise errors.BackendUnavailable(
                "kubernetes", f"sandbox cannot listen on {self._host}:{self._port}: {exc}"
            ) from exc

    def stop(self) -> None:
        if self._bound_port is None:
            return
        self._server.stop()
        self._bound_port = None

    def __enter__(self) -> SandboxCluster:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise SandboxError("the sandbox cluster is not started")
        return f"http://{self._host}:{self._bound_port}"

    # -- use ---------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Run the controller up to the clock's now."""
        with self._lock:
            self.controller.reconcile(float(self._clock()))

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": self.url}}],
            "users": [{"name": CLUSTER_NAME, "user": {"token": "opsbot-sandbox"}}],
            "contexts": [{"name": CLUSTER_NAME, "context": {
                "cluster": CLUSTER_NAME, "user": CLUSTER_NAME, "namespace": "shop"}}],
            "current-context": CLUSTER_NAME,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _live_metrics(self) -> str:
        return self.metrics.exposition(self.controller.time)

    def metrics_text(self) -> str:
        """Prometheus text exposition of the cluster now (also served at /metrics)."""
        with self._lock:
            self.controller.reconcile(float(self._clock()))
            return self._live_metrics()

    def write_history(self, path: Path, *, days: float = 7.0) -> Path:
        """OpenMetrics backfill of the `days` before `start_time` (promtool format)."""
        with self._lock:
            self.controller.reconcile(float(self._clock()))
            return history.write(self.metrics, Path(path), self.start_time, days * 86400)

    def set_pod_log(self, namespace: str, pod: str, container: str, text: str, *,
                    previous: bool = False) -> None:
        """Log text for a loaded pod (a bundle's logs/POD_CONTAINER[.previous].log)."""
        with self._lock:
            self.static_logs[(namespace, pod, container, previous)] = text

    def load_objects(self, docs: Iterable[Any]) -> int:
        count = 0
        with self._lock:
            for doc in _flatten(docs):
                meta = doc.get("metadata") or {}
                api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
                if not kind or not meta.get("name"):
                    raise SandboxError(f"cannot load an object without kind and name: "
                                       f"{str(doc)[:120]}")
                rtype = self.registry.by_kind(api_version, kind) or \
                    self.registry.register_kind(api_version, kind, bool(meta.get("namespace")))
                namespace = meta.get("namespace", "")
                if rtype.namespaced and namespace and \
                        self.controller.objs.get("Namespace", "", namespace) is None:
                    self._seed("Namespace", {"metadata": {"name": namespace}},
                               self.controller.time)
                existing = self.store.get(rtype, namespace, meta["name"])
                try:
                    if existing is not None:
                        self.store.delete(rtype, namespace, meta["name"])
                    stored = self.store.create(rtype, doc, keep_metadata=True)
                except ApiError as exc:
                    raise SandboxError(f"cannot load {kind} {meta['name']}: {exc}") from exc
                self.controller.frozen.add(stored["metadata"]["uid"])
                for image in _images(doc):
                    if self.scenario.catalogue.lookup(image) is None:
                        tag = image.rpartition(":")[2] if ":" in image else "latest"
                        self.scenario.catalogue.add(image, Behaviour(
                            "generic", tag, serves_http=False, log_every_s=0))
                count += 1
            self.controller.reconcile(float(self._clock()))
        return count
