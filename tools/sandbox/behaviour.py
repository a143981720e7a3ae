"""What each application image needs and does, and what goes wrong when its spec is off.

Pod status is derived from the spec through this catalogue, never from scenario flags:
a container whose image needs QUEUE_URL crashes only while QUEUE_URL is missing from its
env, and a memory limit below the app's peak is OOMKilled only until it is raised. That
is what makes remediation real.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.sandbox import quantity

__all__ = ["Behaviour", "Catalogue", "Fault", "diagnose"]

MIB = 2.0**20

# How long each runtime takes before a missing setting makes it exit.
_CRASH_AFTER_S = {"python": 1.6, "go": 0.4, "java": 7.5, "node": 0.9}


@dataclass(frozen=True)
class Behaviour:
    runtime: str  # python, go, java, node, redis, postgres, coredns
    version: str = ""
    port: int = 8080
    serves_http: bool = True
    required_env: tuple[str, ...] = ()
    memory_base_mib: float = 64.0
    memory_growth_mib_per_min: float = 0.0
    # Where the working set levels off; None with growth > 0 is an unbounded leak.
    memory_peak_mib: float | None = None
    error_ratio: float = 0.003
    error_codes: tuple[tuple[str, float], ...] = (("500", 0.7), ("503", 0.3))
    latency_ms: float = 40.0
    cpu_idle_cores: float = 0.004
    cpu_per_request: float = 0.002  # core-seconds per request
    throttle: float = 0.02  # share of CFS periods throttled at 100 % of the CPU limit
    startup_s: float = 6.0
    # Downstream services and the share of requests that need each one: when none of a
    # dependency's pods is ready, that share of requests fails with 503.
    calls: tuple[tuple[str, float], ...] = ()
    log_every_s: float = 3.0
    # A slow upstream failure this version introduced (shown in its error log lines).
    failing_upstream: str = ""

    @property
    def peak_bytes(self) -> float:
        if self.memory_growth_mib_per_min <= 0:
            return self.memory_base_mib * MIB
        if self.memory_peak_mib is None:
            return float("inf")
        return max(self.memory_peak_mib, self.memory_base_mib) * MIB

    def memory_bytes(self, running_s: float) -> float:
        """Working set after `running_s` seconds of one container run (no noise)."""
        grown = self.memory_base_mib + self.memory_growth_mib_per_min * running_s / 60
        return min(grown * MIB, self.peak_bytes)

    def seconds_to_reach(self, limit_bytes: float) -> float:
        base = self.memory_base_mib * MIB
        if base >= limit_bytes or self.memory_growth_mib_per_min <= 0:
            return 3.0
        return (limit_bytes - base) / (self.memory_growth_mib_per_min * MIB) * 60


@dataclass
class Catalogue:
    """Image -> behaviour; an image it does not know cannot be pulled."""

    images: dict[str, Behaviour] = field(default_factory=dict)

    def lookup(self, image: str) -> Behaviour | None:
        return self.images.get(image)

    def add(self, image: str, behaviour: Behaviour) -> None:
        self.images[image] = behaviour


@dataclass(frozen=True)
class Fault:
    kind: str  # none, crash, oom, pull, config
    detail: str = ""  # missing variable, config message or pull error
    run_s: float = 0.0  # how long each run lasts before it fails (crash, oom)


Lookup = Callable[[str, str, str], Mapping[str, Any] | None]  # (kind, namespace, name)


def _config_problem(container: Mapping[str, Any], namespace: str,
                    lookup: Lookup) -> tuple[str | None, set[str]]:
    """A kubelet CreateContainerConfigError message, and the env names the refs provide."""
    names: set[str] = set()
    for source in container.get("envFrom") or []:
        for kind, ref_key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(ref_key)
            if not ref:
                continue
            obj = lookup(kind, namespace, ref.get("name", ""))
            if obj is None:
                if not ref.get("optional"):
                    return f'{kind.lower()} "{ref.get("name")}" not found', names
                continue
            prefix = source.get("prefix", "")
            names |= {prefix + k for k in (obj.get("data") or {})}
    for env in container.get("env") or []:
        value_from = env.get("valueFrom") or {}
        for kind, ref_key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = value_from.get(ref_key)
            if not ref:
                continue
            obj = lookup(kind, namespace, ref.get("name", ""))
            optional = bool(ref.get("optional"))
            if obj is None:
                if not optional:
                    return f'{kind.lower()} "{ref.get("name")}" not found', names
            elif ref.get("key") not in (obj.get("data") or {}):
                if not optional:
                    return (f"couldn't find key {ref.get('key')} in {kind} "
                            f"{namespace}/{ref.get('name')}"), names
            else:
                names.add(env["name"])
        if "value" in env or not value_from or {"fieldRef", "resourceFieldRef"} & set(value_from):
            names.add(env["name"])
    return None, names


def diagnose(container: Mapping[str, Any], behaviour: Behaviour | None, namespace: str,
             lookup: Lookup) -> Fault:
    """What happens when the kubelet starts this container, judged from its spec."""
    image = str(container.get("image", ""))
    if behaviour is None:
        if "/" in image and "." in image.split("/")[0]:
            ref = image  # a registry host is given
        else:
            ref = f"docker.io/{image if '/' in image else 'library/' + image}"
        return Fault("pull", f'failed to pull and unpack image "{ref}": failed to resolve '
                     f'reference "{ref}": {ref}: not found')
    problem, env_names = _config_problem(container, namespace, lookup)
    if problem:
        return Fault("config", problem)
    missing = [name for name in behaviour.required_env if name not in env_names]
    if missing:
        return Fault("crash", missing[0], _CRASH_AFTER_S.get(behaviour.runtime, 1.0))
    limit = quantity.parse(((container.get("resources") or {}).get("limits") or {})
                           .get("memory", 0))
    if limit and behaviour.peak_bytes >= limit:
        return Fault("oom", "", behaviour.seconds_to_reach(limit))
    return Fault("none")
