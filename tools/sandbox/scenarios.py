"""Incident scenarios over the shop: healthy, crashloop, oom and bad-rollout.

A scenario is the shop's objects at its first releases (14 days before the scenario
start), the releases since then as timed actions, and the behaviour catalogue of the
images involved. Faults come only from what a release changes in the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.sandbox.apierrors import SandboxError
from tools.sandbox.behaviour import Behaviour, Catalogue
from tools.sandbox.controller import Action
from tools.sandbox.objects import Objects
from tools.sandbox.topology import DAY, App, Release, base_objects, objects_for

__all__ = ["SCENARIOS", "Scenario", "VolumeGrowth", "build"]

Obj = dict[str, Any]
HOUR = 3600.0
SETUP_S = 14 * DAY  # the shop was created this long before the scenario start
SCENARIOS = ("healthy", "crashloop", "oom", "bad-rollout", "empty")


@dataclass(frozen=True)
class VolumeGrowth:
    """Disk usage of a PersistentVolumeClaim: base bytes plus a steady daily growth."""

    base_bytes: float
    bytes_per_day: float


@dataclass
class Scenario:
    name: str
    objects: list[tuple[str, Obj]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    catalogue: Catalogue = field(default_factory=Catalogue)
    traffic: dict[tuple[str, str], float] = field(default_factory=dict)  # base req/s
    volumes: dict[tuple[str, str], VolumeGrowth] = field(default_factory=dict)
    summary: str = ""


def _java(version: str, **fields: Any) -> Behaviour:
    return Behaviour("java", version, 8080, startup_s=22.0, cpu_idle_cores=0.012,
                     cpu_per_request=0.003, **fields)


def _catalogue() -> Catalogue:
    c = Catalogue()
    for v in ("3.1.0", "3.1.4", "3.2.1"):
        c.add(f"shop/frontend:{v}", Behaviour(
            "node", v, 3000, memory_base_mib=96, latency_ms=24, error_ratio=0.001,
            cpu_per_request=0.0008, startup_s=4, calls=(("checkout-api", 0.25),),
            log_every_s=1.5))
    for v in ("1.7.1", "1.7.2", "1.7.3"):
        c.add(f"shop/checkout-api:{v}", Behaviour(
            "go", v, 8080, memory_base_mib=48, latency_ms=45, error_ratio=0.003,
            error_codes=(("500", 0.6), ("503", 0.4)), cpu_per_request=0.004, startup_s=5,
            calls=(("payments-api", 0.45), ("orders", 0.9))))
    c.add("shop/checkout-api:1.8.0", Behaviour(
        "go", "1.8.0", 8080, memory_base_mib=52, latency_ms=130, error_ratio=0.12,
        error_codes=(("503", 0.7), ("500", 0.3)), cpu_per_request=0.005, startup_s=5,
        calls=(("payments-api", 0.45), ("orders", 0.9)), failing_upstream="payments-api:8080"))
    for v in ("2.0.4", "2.0.5", "2.1.0"):
        c.add(f"shop/payments-api:{v}", _java(
            v, memory_base_mib=300, memory_growth_mib_per_min=20, memory_peak_mib=430,
            latency_ms=62, error_ratio=0.002))
    for v in ("2.2.0", "2.3.0", "2.3.1"):
        c.add(f"shop/orders:{v}", _java(
            v, memory_base_mib=150, memory_growth_mib_per_min=10, memory_peak_mib=205,
            latency_ms=31, error_ratio=0.002, calls=(("postgres", 1.0),)))
    # 2.4.0 keeps an order cache in memory: it levels off near 330Mi, above the limit.
    c.add("shop/orders:2.4.0", _java(
        "2.4.0", memory_base_mib=150, memory_growth_mib_per_min=25, memory_peak_mib=330,
        latency_ms=33, error_ratio=0.002, calls=(("postgres", 1.0),)))
    for v in ("4.0.3", "4.1.0", "4.2.0"):
        c.add(f"shop/worker:{v}", Behaviour(
            "python", v, 8080, serves_http=False, required_env=("QUEUE_URL",),
            memory_base_mib=72, cpu_per_request=0.006, startup_s=3, log_every_s=2.0))
    for v in ("7.2.3", "7.2.4"):
        c.add(f"redis:{v}", Behaviour("redis", v, 6379, serves_http=False,
                                      memory_base_mib=182, cpu_per_request=0.00005,
                                      startup_s=1, log_every_s=300))
    c.add("postgres:15.6", Behaviour(
        "postgres", "15.6", 5432, serves_http=False, memory_base_mib=610,
        memory_growth_mib_per_min=2, memory_peak_mib=880, cpu_per_request=0.0006,
        startup_s=5, log_every_s=300))
    c.add("registry.k8s.io/coredns/coredns:v1.11.1", Behaviour(
        "coredns", "1.11.1", 53, serves_http=False, memory_base_mib=21,
        cpu_per_request=0.00002, startup_s=2, log_every_s=0))
    return c


def _apps() -> list[App]:
    start = -SETUP_S
    return [
        App("frontend", "shop", 3, 3000, (
            Release(start, "shop/frontend:3.1.0", "initial release 3.1.0"),
            Release(-11 * DAY + 3 * HOUR, "shop/frontend:3.1.4", "deploy 3.1.4: cart fixes"),
            Release(-4 * DAY - 5 * HOUR, "shop/frontend:3.2.1", "deploy 3.2.1: new checkout "
                    "page")), ("100m", "128Mi"), ("500m", "256Mi"),
            config={"CHECKOUT_URL": "http://checkout-api.shop.svc", "NODE_ENV": "production"},
            tier="frontend", probe_path="/healthz"),
        App("checkout-api", "shop", 3, 8080, (
            Release(start, "shop/checkout-api:1.7.1", "initial release 1.7.1"),
            Release(-9 * DAY + 2 * HOUR, "shop/checkout-api:1.7.2", "deploy 1.7.2: retry "
                    "budget for orders"),
            Release(-2 * DAY - 3 * HOUR, "shop/checkout-api:1.7.3", "deploy 1.7.3: coupon "
                    "validation")), ("200m", "256Mi"), ("1", "512Mi"),
            config={"PAYMENTS_URL": "http://payments-api.shop.svc",
                    "ORDERS_URL": "http://orders.shop.svc", "UPSTREAM_TIMEOUT_MS": "2000"}),
        App("payments-api", "shop", 2, 8080, (
            Release(start, "shop/payments-api:2.0.4", "initial release 2.0.4"),
            Release(-12 * DAY + 4 * HOUR, "shop/payments-api:2.0.5", "deploy 2.0.5: PSP "
                    "timeout 3s"),
            Release(-6 * DAY - 2 * HOUR, "shop/payments-api:2.1.0", "deploy 2.1.0: 3DS2 "
                    "flow")), ("250m", "512Mi"), ("1", "768Mi"),
            secret_keys=("PSP_API_KEY", "PSP_WEBHOOK_SECRET"),
            probe_path="/actuator/health/readiness"),
        App("orders", "shop", 3, 8080, (
            Release(start, "shop/orders:2.2.0", "initial release 2.2.0"),
            Release(-8 * DAY + 1 * HOUR, "shop/orders:2.3.0", "deploy 2.3.0: order history "
                    "endpoint"),
            Release(-5 * DAY + 4 * HOUR, "shop/orders:2.3.1", "deploy 2.3.1: fix pagination")),
            ("250m", "256Mi"), ("1", "256Mi"),
            config={"DATABASE_HOST": "postgres.shop.svc", "DATABASE_NAME": "orders"},
            secret_keys=("DATABASE_USER", "DATABASE_PASSWORD"),
            probe_path="/actuator/health/readiness"),
        App("worker", "shop", 2, 8080, (
            Release(start, "shop/worker:4.0.3", "initial release 4.0.3"),
            Release(-10 * DAY + 2 * HOUR, "shop/worker:4.1.0", "deploy 4.1.0: batch acks"),
            Release(-6 * DAY + 5 * HOUR, "shop/worker:4.2.0", "deploy 4.2.0: dead-letter "
                    "queue")), ("100m", "128Mi"), ("500m", "256Mi"),
            env=(("QUEUE_URL", "amqp://rabbitmq.shop.svc:5672/orders"),
                 ("LOG_LEVEL", "info")),
            config={"QUEUE_NAME": "orders", "PREFETCH": "20"}, probe_path=""),
        App("redis-cache", "shop", 1, 6379, (
            Release(start, "redis:7.2.3", "initial release redis 7.2.3"),
            Release(-9 * DAY - 6 * HOUR, "redis:7.2.4", "redis 7.2.4 security update")),
            ("100m", "256Mi"), ("500m", "512Mi"), tier="cache", probe_path="redis-cli ping"),
        App("postgres", "shop", 1, 5432, (
            Release(start, "postgres:15.6", "initial release postgres 15.6"),),
            ("500m", "1Gi"), ("2", "2Gi"), kind="StatefulSet", tier="database",
            headless=True, volume_size="20Gi", secret_keys=("POSTGRES_PASSWORD",),
            probe_path="pg_isready -U postgres"),
        App("coredns", "kube-system", 2, 53, (
            Release(start, "registry.k8s.io/coredns/coredns:v1.11.1", "coredns v1.11.1"),),
            ("100m", "70Mi"), ("1", "170Mi"), tier="dns", probe_path=""),
    ]


def _release(namespace: str, name: str, edit: Callable[[Obj], None], cause: str,
             kind: str = "Deployment") -> Callable[[Objects], None]:
    """A person changing the pod template (kubectl apply or set image)."""

    def apply(objs: Objects) -> None:
        current = objs.get(kind, namespace, name)
        if current is None:
            return

        def change(obj: Obj) -> None:
            edit(obj["spec"]["template"]["spec"]["containers"][0])
            obj["metadata"].setdefault("annotations", {})["kubernetes.io/change-cause"] = cause
        objs.edit(current, change)
    return apply


def _set_image(image: str) -> Callable[[Obj], None]:
    return lambda container: container.__setitem__("image", image)


def _set_args(args: list[str]) -> Callable[[Obj], None]:
    return lambda container: container.__setitem__("args", list(args))


def _rename_queue_env(container: Obj) -> None:
    env = [e for e in container.get("env") or [] if e["name"] != "QUEUE_URL"]
    env.insert(0, {"name": "QUEUE_ENDPOINT", "value": "amqp://rabbitmq.shop.svc:5672/orders"})
    container["env"] = env


def _shared(scenario: Scenario, start: float) -> None:
    scenario.objects += base_objects()
    apps = _apps()
    for app in apps:
        scenario.objects += objects_for(app)
        for release in app.releases[1:]:
            scenario.actions.append(Action(start + release.at, release.cause, _release(
                app.namespace, app.name, _set_image(release.image), release.cause, app.kind)))
    cause = "redis: maxmemory 400mb with allkeys-lru eviction"
    scenario.actions.append(Action(start - 3 * DAY + 2 * HOUR, cause, _release(
        "shop", "redis-cache", _set_args(["--maxmemory", "400mb", "--maxmemory-policy",
                                          "allkeys-lru"]), cause)))
    scenario.objects.append(("HorizontalPodAutoscaler", {
        "metadata": {"name": "checkout-api", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "checkout-api"},
                 "minReplicas": 3, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization",
                                               "averageUtilization": 70}}}]}}))
    scenario.objects.append(("ResourceQuota", {
        "metadata": {"name": "shop-quota", "namespace": "shop"},
        "spec": {"hard": {"pods": "60", "requests.cpu": "10", "requests.memory": "20Gi",
                          "limits.cpu": "30", "limits.memory": "40Gi"}}}))
    scenario.catalogue = _catalogue()
    scenario.traffic = {("shop", "frontend"): 120.0, ("shop", "checkout-api"): 40.0,
                        ("shop", "payments-api"): 24.0, ("shop", "orders"): 36.0,
                        ("shop", "worker"): 15.0, ("shop", "redis-cache"): 300.0,
                        ("shop", "postgres"): 150.0, ("kube-system", "coredns"): 80.0}
    scenario.volumes = {("shop", "data-postgres-0"): VolumeGrowth(6.1 * 2**30, 0.16 * 2**30)}


def build(name: str, start: float) -> Scenario:
    """The scenario `name` for a cluster whose "now" is `start` (epoch seconds)."""
    if name not in SCENARIOS:
        raise SandboxError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    scenario = Scenario(name)
    if name == "empty":
        scenario.objects = [(kind, obj) for kind, obj in base_objects() if kind == "Namespace"]
        scenario.summary = "namespaces only, for loading a captured cluster"
        return scenario
    _shared(scenario, start)
    if name == "healthy":
        scenario.summary = "every workload in shop is healthy"
    elif name == "crashloop":
        cause = "rename queue settings to QUEUE_ENDPOINT (PR #812)"
        scenario.actions.append(Action(start - 40 * 60, cause, _release(
            "shop", "worker", _rename_queue_env, cause)))
        scenario.summary = ("worker was rolled out 40 min ago without QUEUE_URL; its new pod "
                            "crash-loops while the old ReplicaSet keeps serving")
    elif name == "oom":
        cause = "deploy 2.4.0: in-memory order cache"
        scenario.actions.append(Action(start - 55 * 60, cause, _release(
            "shop", "orders", _set_image("shop/orders:2.4.0"), cause)))
        scenario.summary = ("orders 2.4.0 (55 min ago) needs about 330Mi but is limited to "
                            "256Mi: its pods are OOMKilled over and over")
    elif name == "bad-rollout":
        cause = "deploy 1.8.0: new payments client"
        scenario.actions.append(Action(start - 30 * 60, cause, _release(
            "shop", "checkout-api", _set_image("shop/checkout-api:1.8.0"), cause)))
        scenario.summary = ("checkout-api 1.8.0 (30 min ago) is Ready but answers about 12 % "
                            "of requests with 5xx, slower than 1.7.3")
    scenario.actions.sort()
    return scenario
