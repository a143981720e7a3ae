"""Unreachable backends: the answer names the backend that is down, never a traceback."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests import harness


def test_prometheus_down_then_cluster_down(tmp_path: Path, redis_url: str) -> None:
    settings = harness.make_settings(tmp_path, redis_url,
                                     prometheus={"url": "http://127.0.0.1:9"})
    with harness.RuntimeHarness(settings, scenario="crashloop") as bot:
        metric = bot.say("cpu of orders", thread="down").replies[0]
        assert metric.kind == "error"
        assert "prometheus answered with an error" in metric.text
        assert "unreachable" in metric.text and "Traceback" not in metric.text

        ready = bot.loop.run(bot.rt.readiness())
        assert ready["redis"] == ready["kubernetes"] == ready["mcp"] == "ok"
        assert ready["prometheus"].startswith("not ready")

        # RCA still answers from events, logs and pod state, and says what was missing.
        rca = bot.say("/rca worker", thread="down").replies[0]
        assert "ConfigError" in rca.text
        assert "metrics" in rca.footnote



def test_cluster_down(tmp_path: Path, redis_url: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "gone", "user": {"token": "x"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}))
    settings = harness.make_settings(tmp_path / "state", redis_url,
                                     kubernetes={"kubeconfig": str(kubeconfig)})
    with harness.RuntimeHarness(settings) as bot:
        pods = bot.say("list the pods in namespace shop", thread="gone").replies[0]
        assert pods.kind == "error"
        assert "kubernetes is unreachable" in pods.text and "Traceback" not in pods.text
        assert "Runbook answers and help still work" in pods.text
        assert bot.say("/opsbot help", thread="gone").replies[0].title == "opsbot help"
        ready = bot.loop.run(bot.rt.readiness())
        assert ready["redis"] == "ok" and ready["kubernetes"] != "ok"
