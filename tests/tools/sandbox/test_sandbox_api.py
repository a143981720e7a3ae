"""The sandbox API through the real HTTP boundary with the official kubernetes client."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tools.sandbox.testing import SandboxHandle

Factory = Callable[..., SandboxHandle]
pytestmark = pytest.mark.timeout(120)


def test_listing_across_and_within_namespaces(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    everywhere = box.core.list_pod_for_all_namespaces().items
    shop = box.core.list_namespaced_pod("shop").items
    assert {p.metadata.namespace for p in everywhere} == {"shop", "kube-system"}
    assert len(shop) == 3 + 3 + 2 + 3 + 2 + 1 + 1
    assert all(p.status.phase == "Running" for p in shop)
    nodes = box.core.list_node().items
    assert [n.metadata.name for n in nodes] == ["node-1", "node-2", "node-3"]
    assert all(n.status.allocatable["cpu"] for n in nodes)
    deployments = box.apps.list_deployment_for_all_namespaces().items
    assert {d.metadata.name for d in deployments} >= {
        "frontend", "checkout-api", "payments-api", "orders", "worker", "redis-cache",
        "coredns"}
    assert box.apps.read_namespaced_stateful_set("postgres", "shop").status.ready_replicas == 1
    pvc = box.core.read_namespaced_persistent_volume_claim("data-postgres-0", "shop")
    assert pvc.status.phase == "Bound"
    hpa = client.AutoscalingV2Api(box.api).read_namespaced_horizontal_pod_autoscaler(
        "checkout-api", "shop")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 10)
    assert hpa.status.current_replicas == 3
    quota = box.core.read_namespaced_resource_quota("shop-quota", "shop")
    assert quota.status.used["pods"] == "15"


def test_rollout_history_is_kept(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    for name in ("frontend", "checkout-api", "payments-api", "orders", "worker",
                 "redis-cache"):
        sets = box.apps.list_namespaced_replica_set("shop", label_selector=f"app={name}").items
        revisions = sorted(int(rs.metadata.annotations["deployment.kubernetes.io/revision"])
                           for rs in sets)
        assert revisions == [1, 2, 3], name
        assert all(rs.metadata.annotations.get("kubernetes.io/change-cause") for rs in sets)
        assert sum(rs.spec.replicas for rs in sets) == box.apps.read_namespaced_deployment(
            name, "shop").spec.replicas


def test_label_and_field_selectors(sandbox_factory: Factory) -> None:
    box = sandbox_factory("crashloop")
    core = box.core
    assert {p.metadata.labels["app"] for p in core.list_namespaced_pod(
        "shop", label_selector="app in (orders,worker)").items} == {"orders", "worker"}
    assert all(p.metadata.labels["app"] != "frontend" for p in core.list_namespaced_pod(
        "shop", label_selector="app!=frontend,tier").items)
    assert core.list_namespaced_pod("shop", label_selector="app notin (orders),!tier").items == []
    assert len(core.list_namespaced_pod("shop", label_selector="tier=database").items) == 1
    node_pods = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-2").items
    assert node_pods and all(p.spec.node_name == "node-2" for p in node_pods)
    named = core.list_namespaced_pod("shop", field_selector="metadata.name=postgres-0").items
    assert [p.metadata.name for p in named] == ["postgres-0"]
    pending = core.list_pod_for_all_namespaces(field_selector="status.phase!=Running").items
    assert pending == []
    warnings = core.list_namespaced_event("shop", field_selector="type=Warning").items
    assert warnings and {e.reason for e in warnings} == {"BackOff"}
    by_kind = core.list_namespaced_event(
        "shop", field_selector="involvedObject.kind=Deployment,involvedObject.name=worker").items
    assert by_kind and all(e.involved_object.name == "worker" for e in by_kind)


def test_errors_are_status_objects(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    with pytest.raises(ApiException) as missing:
        box.core.read_namespaced_pod("no-such-pod", "shop")
    assert missing.value.status == 404
    body = json.loads(missing.value.body)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)
    assert body["message"] == 'pods "no-such-pod" not found'
    with pytest.raises(ApiException) as clash:
        box.core.create_namespaced_config_map("shop", {"metadata": {"name": "worker-config"}})
    assert clash.value.status == 409
    assert json.loads(clash.value.body)["reason"] == "AlreadyExists"
    bad = {"metadata": {"name": "broken"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "b"}},
                     "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}
    with pytest.raises(ApiException) as invalid:
        box.apps.create_namespaced_deployment("shop", bad)
    assert invalid.value.status == 422
    deploy = box.apps.read_namespaced_deployment("orders", "shop")
    deploy.metadata.resource_version = "1"
    with pytest.raises(ApiException) as stale:
        box.apps.replace_namespaced_deployment("orders", "shop", deploy)
    assert stale.value.status == 409
    with pytest.raises(ApiException) as nowhere:
        box.core.create_namespaced_config_map("nope", {"metadata": {"name": "x"}})
    assert nowhere.value.status == 404


def test_secrets_never_carry_values(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    secret = box.core.read_namespaced_secret("orders-credentials", "shop")
    assert set(secret.data) == {"DATABASE_USER", "DATABASE_PASSWORD"}
    assert set(secret.data.values()) == {""}
    box.core.create_namespaced_secret("shop", {"metadata": {"name": "token"},
                                               "stringData": {"TOKEN": "hunter2"}})
    stored = box.core.read_namespaced_secret("token", "shop")
    assert stored.data == {"TOKEN": ""}
    assert "hunter2" not in json.dumps(box.api.sanitize_for_serialization(stored))


def test_pod_logs_current_and_previous(sandbox_factory: Factory) -> None:
    box = sandbox_factory("crashloop")
    crashing = [p for p in box.pods("app=worker")
                if p.status.container_statuses[0].restart_count > 0]
    assert len(crashing) == 1
    name = crashing[0].metadata.name
    previous = box.core.read_namespaced_pod_log(name, "shop", previous=True)
    assert "KeyError: 'QUEUE_URL'" in previous
    assert "Traceback (most recent call last):" in previous
    tail = box.core.read_namespaced_pod_log(name, "shop", tail_lines=1, timestamps=True)
    assert tail.count("\n") == 1 and "KeyError" in tail and tail[:4].isdigit()
    healthy = next(p for p in box.pods("app=orders"))
    with pytest.raises(ApiException) as none_before:
        box.core.read_namespaced_pod_log(healthy.metadata.name, "shop", previous=True)
    assert none_before.value.status == 400
    log = box.core.read_namespaced_pod_log(healthy.metadata.name, "shop", container="orders",
                                           since_seconds=60)
    lines = log.splitlines()
    assert 10 <= len(lines) <= 40 and all("INFO" in line or "ERROR" in line for line in lines)
    assert box.core.read_namespaced_pod_log(healthy.metadata.name, "shop", since_seconds=60) \
        == log  # deterministic


def test_dry_run_changes_nothing(sandbox_factory: Factory) -> None:
    box = sandbox_factory("crashloop")
    before = box.apps.read_namespaced_deployment("frontend", "shop")
    pods_before = sorted(p.metadata.name for p in box.pods("app=frontend"))
    scaled = box.apps.patch_namespaced_deployment_scale(
        "frontend", "shop", {"spec": {"replicas": 7}}, dry_run="All")
    assert scaled.spec.replicas == 7
    patched = box.apps.patch_namespaced_deployment(
        "frontend", "shop", {"spec": {"template": {"spec": {"containers": [
            {"name": "frontend", "image": "shop/frontend:9.9.9"}]}}}}, dry_run="All")
    assert patched.spec.template.spec.containers[0].image == "shop/frontend:9.9.9"
    assert patched.spec.template.spec.containers[0].resources.limits["memory"] == "256Mi"
    box.core.delete_namespaced_pod(pods_before[0], "shop", dry_run="All")
    box.apps.delete_namespaced_deployment("frontend", "shop", dry_run="All")
    box.core.create_namespaced_config_map("shop", {"metadata": {"name": "new"}}, dry_run="All")
    box.clock.advance(30)
    after = box.apps.read_namespaced_deployment("frontend", "shop")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec == before.spec
    assert sorted(p.metadata.name for p in box.pods("app=frontend")) == pods_before
    with pytest.raises(ApiException):
        box.core.read_namespaced_config_map("new", "shop")


def test_events_are_aggregated(sandbox_factory: Factory) -> None:
    box = sandbox_factory("crashloop")
    crashing = next(p for p in box.pods("app=worker")
                    if p.status.container_statuses[0].restart_count > 0)
    selector = (f"involvedObject.name={crashing.metadata.name},"
                f"involvedObject.uid={crashing.metadata.uid}")
    events = {e.reason: e for e in box.core.list_namespaced_event(
        "shop", field_selector=selector).items}
    restarts = crashing.status.container_statuses[0].restart_count
    assert events["Started"].count == restarts + 1
    assert events["BackOff"].count > restarts
    assert events["BackOff"].message.startswith("Back-off restarting failed container worker")
    assert events["Scheduled"].count == 1
    first = events["BackOff"].count
    box.clock.advance(600)
    again = {e.reason: e for e in box.core.list_namespaced_event(
        "shop", field_selector=selector).items}
    assert again["BackOff"].count > first
    assert again["BackOff"].metadata.name == events["BackOff"].metadata.name
    assert again["BackOff"].last_timestamp > events["BackOff"].last_timestamp
    newer = client.EventsV1Api(box.api).list_namespaced_event("shop").items
    assert any(e.reason == "BackOff" and e.deprecated_count == again["BackOff"].count
               for e in newer)


def test_watch_streams_changes(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    rv = box.core.list_namespaced_pod("shop").metadata.resource_version
    box.apps.patch_namespaced_deployment_scale("redis-cache", "shop", {"spec": {"replicas": 2}})
    seen = []
    for event in watch.Watch().stream(box.core.list_namespaced_pod, "shop",
                                      label_selector="app=redis-cache", resource_version=rv,
                                      timeout_seconds=1):
        seen.append((event["type"], event["object"].metadata.name))
    assert any(kind == "ADDED" for kind, _ in seen)


def test_discovery_documents(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    core = client.CoreV1Api(box.api).get_api_resources()
    names = {r.name: r for r in core.resources}
    assert names["pods"].short_names == ["po"] and "pods/log" in names
    apps = client.AppsV1Api(box.api).get_api_resources()
    scale = next(r for r in apps.resources if r.name == "deployments/scale")
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
    groups = {g.name for g in client.ApisApi(box.api).get_api_versions().groups}
    assert {"apps", "autoscaling", "events.k8s.io"} <= groups
    assert client.VersionApi(box.api).get_code().git_version.startswith("v1.")
