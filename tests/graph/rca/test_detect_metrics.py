"""Metric detectors on collected facts: limits come from kube-state-metrics when scraped,
else from the pod template."""

from __future__ import annotations

from typing import Any

from graph.rca import collect, detect_metrics, model

END = 1_764_000_000.0
WINDOW = collect.Window.ending(END)
MI = 2**20


def _facts(metrics: dict[str, Any], limits: dict[str, str] | None = None) -> model.WorkloadFacts:
    container: dict[str, Any] = {"name": "api", "image": "api:1"}
    if limits:
        container["resources"] = {"limits": limits}
    deployment = {"kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
                  "spec": {"replicas": 2, "template": {"spec": {"containers": [
                      container, {"name": "proxy", "image": "envoy:1",
                                  "resources": {"limits": {"memory": "64Mi"}}}]}}}}
    return model.WorkloadFacts("Deployment", "shop", "api", obj=deployment,
                               metrics={k: {"query": "", "points": v} for k, v in metrics.items()})


def _growth() -> list[tuple[float, float]]:
    # 400 Mi to about 880 Mi over the last 80 minutes: 6 Mi a minute.
    return [(END - 80 * 60 + i * 60, (400 + 6 * i) * MI) for i in range(81)]


def test_memory_leak_uses_the_app_containers_limit_without_kube_state_metrics() -> None:
    (cause,) = detect_metrics.detect_metric_causes(
        _facts({"memory": _growth()}, {"memory": "1Gi"}), WINDOW)
    assert cause.kind == "MemoryLeak"
    text = " ".join(str(e) for e in cause.evidence)
    assert "limit 1024 Mi" in text
    assert cause.actions[-1].to_dict()["params"]["limits"] == {"memory": "1536Mi"}


def test_kube_state_metrics_limit_wins_over_the_template() -> None:
    facts = _facts({"memory": _growth(), "memory_limit": [(END, 2048.0 * MI)]},
                   {"memory": "1Gi"})
    (cause,) = detect_metrics.detect_metric_causes(facts, WINDOW)
    assert "limit 2048 Mi" in " ".join(str(e) for e in cause.evidence)


def test_no_limit_anywhere_still_reports_the_growth() -> None:
    (cause,) = detect_metrics.detect_metric_causes(_facts({"memory": _growth()}), WINDOW)
    assert cause.kind == "MemoryLeak"
    assert "limit" not in " ".join(str(e) for e in cause.evidence)


def test_cpu_at_the_templates_limit_is_saturation() -> None:
    usage = [(END - 7200 + i * 60, 0.2 if END - 7200 + i * 60 < WINDOW.start else 0.49)
             for i in range(121)]
    (cause,) = detect_metrics.detect_metric_causes(_facts({"cpu": usage}, {"cpu": "500m"}),
                                                   WINDOW)
    assert cause.kind == "CPUSaturation"
    assert "vs limit 0.50" in " ".join(str(e) for e in cause.evidence)
