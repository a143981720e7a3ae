"""Metrics: the live exposition, the backfill history and how they join."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.sandbox.cluster import SandboxCluster
from tools.sandbox.testing import MONDAY_AFTERNOON, ManualClock, SandboxHandle

START = MONDAY_AFTERNOON
Factory = Callable[..., SandboxHandle]
pytestmark = pytest.mark.timeout(180)
Series = dict[str, list[tuple[float, float]]]


def _parse_text(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def _parse_history(path: Path) -> Series:
    series: Series = defaultdict(list)
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value, stamp = line.rsplit(" ", 2)
            series[key].append((float(stamp), float(value)))
    return series


def _error_ratio(before: dict[str, float], after: dict[str, float], service: str) -> float:
    total = errors = 0.0
    for key, value in after.items():
        if key.startswith("http_requests_total") and f'service="{service}"' in key:
            delta = value - before.get(key, 0.0)
            total += delta
            if 'code="5' in key:
                errors += delta
    return errors / total


@pytest.fixture(scope="module")
def oom_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[SandboxCluster, Path]:
    cluster = SandboxCluster("oom", clock=ManualClock())
    path = cluster.write_history(tmp_path_factory.mktemp("history") / "history.om")
    return cluster, path


def test_history_is_accepted_by_promtool(oom_history: tuple[SandboxCluster, Path],
                                         tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    _, path = oom_history
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=24h",
         str(path), str(tmp_path / "blocks")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "blocks").iterdir())


def test_history_shape(oom_history: tuple[SandboxCluster, Path]) -> None:
    _, path = oom_history
    text = path.read_text()
    assert text.endswith("# EOF\n")
    assert "# TYPE http_requests counter" in text and "# TYPE http_requests_total" not in text
    series = _parse_history(path)
    samples = sum(len(points) for points in series.values())
    assert 100_000 < samples < 450_000
    for points in series.values():
        stamps = [t for t, _ in points]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert stamps[0] >= START - 7 * 86400 - 1 and stamps[-1] <= START
    requests = series['http_requests_total{namespace="shop",service="frontend",code="200"}']
    assert len(requests) == (7 * 86400 - 3600) // 300 + 61
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(requests))
    # Seasonality: afternoons are busier than nights, weekdays busier than weekends.
    rate = {round(t): (b - a) / (t - s) for (s, a), (t, b) in itertools.pairwise(requests)}
    def mean_rate(day_offset: int, hour: int) -> float:
        day_start = START - (START % 86400) - day_offset * 86400
        window = [v for t, v in rate.items() if day_start + hour * 3600 <= t
                  < day_start + (hour + 1) * 3600]
        return sum(window) / len(window)
    assert mean_rate(1, 14) > 2 * mean_rate(1, 2)  # Sunday: afternoon vs night
    assert mean_rate(3, 14) > 1.25 * mean_rate(1, 14)  # Friday vs Sunday afternoon


def test_oom_shows_in_the_history(oom_history: tuple[SandboxCluster, Path]) -> None:
    cluster, path = oom_history
    series = _parse_history(path)
    current = {p["metadata"]["name"] for p in cluster.controller.objs.list("Pod", "shop")
               if p["metadata"]["labels"]["app"] == "orders"}
    memory = {k: v for k, v in series.items()
              if k.startswith("container_memory_working_set_bytes") and "pod=\"orders-" in k}
    old = [k for k in memory if not any(f'pod="{name}"' in k for name in current)]
    assert old, "pods of earlier ReplicaSets keep their own series"
    for key in old:
        assert memory[key][-1][0] < START - 50 * 60  # they ended with the 2.4.0 rollout
    new = [k for k in memory if k not in old]
    assert len(new) == 3
    for key in new:
        values = [v for t, v in memory[key] if t >= START - 3600]
        drops = sum(1 for a, b in itertools.pairwise(values) if b < a - 40 * 2**20)
        assert drops >= 3 and max(values) > 230 * 2**20 and max(values) < 256 * 2**20
        restarts = series[key.replace("container_memory_working_set_bytes",
                                      "kube_pod_container_status_restarts_total")]
        counts = [v for _, v in restarts]
        assert counts == sorted(counts) and counts[-1] >= 5
    reasons = [k for k in series if "last_terminated_reason" in k and "OOMKilled" in k]
    assert len(reasons) == 3


def test_live_metrics_continue_the_history(sandbox_factory: Factory,
                                           tmp_path: Path) -> None:
    box = sandbox_factory("crashloop")
    # The last hour is enough here: counters run from the same origin for any span.
    series = _parse_history(box.cluster.write_history(tmp_path / "h.om", days=1 / 24))
    with urllib.request.urlopen(f"{box.cluster.url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        live = _parse_text(response.read().decode())
    last = {k: v[-1][1] for k, v in series.items() if v[-1][0] == START}
    counters = [k for k in live if k.split("{")[0].endswith(("_total", "_count", "_bucket",
                                                             "_sum"))]
    assert len(counters) > 50
    for key in counters:
        assert live[key] == last[key], key
    box.clock.advance(300)
    later = _parse_text(box.cluster.metrics_text())
    for key in counters:
        if key in later:
            assert later[key] >= live[key], key
    frontend = 'http_requests_total{namespace="shop",service="frontend",code="200"}'
    per_second = (later[frontend] - live[frontend]) / 300
    history_rate = (series[frontend][-1][1] - series[frontend][-6][1]) / 300
    assert len(series[frontend]) == 61
    assert 0.7 < per_second / history_rate < 1.3


def test_rollback_lowers_the_live_error_ratio(sandbox_factory: Factory) -> None:
    box = sandbox_factory("bad-rollout")
    first = _parse_text(box.cluster.metrics_text())
    box.clock.advance(300)
    second = _parse_text(box.cluster.metrics_text())
    bad = _error_ratio(first, second, "checkout-api")
    assert 0.09 < bad < 0.15
    sets = box.apps.list_namespaced_replica_set("shop", label_selector="app=checkout-api").items
    good = next(rs for rs in sets
                if rs.spec.template.spec.containers[0].image == "shop/checkout-api:1.7.3")
    template = box.api.sanitize_for_serialization(good.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    box.apps.patch_namespaced_deployment("checkout-api", "shop", [
        {"op": "replace", "path": "/spec/template", "value": template}])
    box.clock.advance(120)
    third = _parse_text(box.cluster.metrics_text())
    box.clock.advance(300)
    fourth = _parse_text(box.cluster.metrics_text())
    fixed = _error_ratio(third, fourth, "checkout-api")
    assert fixed < 0.01
    images = {p.spec.containers[0].image for p in box.pods("app=checkout-api")}
    assert images == {"shop/checkout-api:1.7.3"}
