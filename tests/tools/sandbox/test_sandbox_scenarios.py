"""Scenario behaviour and remediation: what changes in the spec really changes the pods,
under a fake clock advanced by the test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client

from tools import errors
from tools.sandbox.cluster import SandboxCluster, list_scenarios
from tools.sandbox.testing import MONDAY_AFTERNOON, ManualClock, SandboxHandle

START = MONDAY_AFTERNOON
Factory = Callable[..., SandboxHandle]
pytestmark = pytest.mark.timeout(120)


def _state(pod: client.V1Pod) -> str:
    status = pod.status.container_statuses[0]
    if status.state.waiting is not None:
        return str(status.state.waiting.reason)
    return "Running" if status.ready else "NotReady"


def _revision_template(box: SandboxHandle, name: str, revision: int) -> dict[str, object]:
    for rs in box.apps.list_namespaced_replica_set("shop", label_selector=f"app={name}").items:
        if rs.metadata.annotations["deployment.kubernetes.io/revision"] == str(revision):
            template = box.api.sanitize_for_serialization(rs.spec.template)
            del template["metadata"]["labels"]["pod-template-hash"]
            return dict(template)
    raise AssertionError(f"no revision {revision} of {name}")


def test_scenarios_are_listed_and_unknown_is_refused() -> None:
    assert {"healthy", "crashloop", "oom", "bad-rollout"} <= set(list_scenarios())
    with pytest.raises(errors.NotFound):
        SandboxCluster("nope")


def test_names_are_deterministic() -> None:
    def names(start: float) -> list[str]:
        cluster = SandboxCluster("crashloop", clock=ManualClock(start))
        return sorted(p["metadata"]["name"] + p["metadata"]["uid"]
                      for p in cluster.controller.objs.list("Pod"))

    assert names(START) == names(START + 12345.6)


def test_crashloop_is_consistent_with_forty_minutes(sandbox_factory: Factory,
                                                    ) -> None:
    box = sandbox_factory("crashloop")
    pods = box.pods("app=worker")
    states = sorted(_state(p) for p in pods)
    assert states == ["CrashLoopBackOff", "Running", "Running"]
    crashing = next(p for p in pods if _state(p) == "CrashLoopBackOff")
    status = crashing.status.container_statuses[0]
    # 10 s doubling to 5 min: about 11 restarts fit in 40 minutes.
    assert 10 <= status.restart_count <= 13
    assert status.last_state.terminated.reason == "Error"
    assert status.last_state.terminated.exit_code == 1
    assert "back-off 5m0s" in status.state.waiting.message
    env = {e.name for e in crashing.spec.containers[0].env}
    assert "QUEUE_URL" not in env
    deploy = box.apps.read_namespaced_deployment("worker", "shop")
    conditions = {c.type: c for c in deploy.status.conditions}
    assert conditions["Progressing"].status == "False"
    assert conditions["Progressing"].reason == "ProgressDeadlineExceeded"
    assert conditions["Available"].status == "True"
    assert (deploy.status.updated_replicas, deploy.status.available_replicas,
            deploy.status.unavailable_replicas) == (1, 2, 1)
    endpoints = box.core.read_namespaced_endpoints("worker", "shop")
    assert len(endpoints.subsets[0].addresses) == 2
    assert len(endpoints.subsets[0].not_ready_addresses) == 1
    box.clock.advance(3600)
    later = next(p for p in box.pods("app=worker") if p.metadata.name == crashing.metadata.name)
    assert later.status.container_statuses[0].restart_count >= status.restart_count + 11


def test_rollback_by_patch_ends_the_crash_loop(sandbox_factory: Factory) -> None:
    box = sandbox_factory("crashloop")
    template = _revision_template(box, "worker", 3)
    box.apps.patch_namespaced_deployment("worker", "shop", [
        {"op": "replace", "path": "/spec/template", "value": template}])
    box.clock.advance(60)
    pods = box.pods("app=worker")
    assert [_state(p) for p in pods] == ["Running", "Running"]
    assert all(p.status.container_statuses[0].restart_count == 0 for p in pods)
    deploy = box.apps.read_namespaced_deployment("worker", "shop")
    assert deploy.metadata.annotations["deployment.kubernetes.io/revision"] == "5"
    assert {c.type: c.reason for c in deploy.status.conditions}["Progressing"] == \
        "NewReplicaSetAvailable"


def test_restoring_the_env_ends_the_crash_loop(sandbox_factory: Factory) -> None:
    box = sandbox_factory("crashloop")
    box.apps.patch_namespaced_deployment("worker", "shop", {"spec": {"template": {"spec": {
        "containers": [{"name": "worker", "env": [
            {"name": "QUEUE_URL", "value": "amqp://rabbitmq.shop.svc:5672/orders"}]}]}}}})
    box.clock.advance(5)
    assert "CrashLoopBackOff" not in {_state(p) for p in box.pods("app=worker")}
    box.clock.advance(120)
    pods = box.pods("app=worker")
    assert [_state(p) for p in pods] == ["Running", "Running"]
    assert {p.spec.containers[0].env[0].name for p in pods} == {"QUEUE_ENDPOINT"}
    assert all("QUEUE_URL" in {e.name for e in p.spec.containers[0].env} for p in pods)
    deploy = box.apps.read_namespaced_deployment("worker", "shop")
    assert deploy.status.updated_replicas == deploy.status.available_replicas == 2


def test_raising_the_memory_limit_ends_the_oom_kills(sandbox_factory: Factory,
                                                     ) -> None:
    box = sandbox_factory("oom")
    pods = box.pods("app=orders")
    assert len(pods) == 3
    for pod in pods:
        status = pod.status.container_statuses[0]
        assert status.restart_count >= 5
        assert status.last_state.terminated.reason == "OOMKilled"
        assert status.last_state.terminated.exit_code == 137
    node_events = box.core.list_namespaced_event(
        "default", field_selector="reason=OOMKilling").items
    assert node_events and node_events[0].involved_object.kind == "Node"
    assert "Memory cgroup out of memory" in node_events[0].message
    box.apps.patch_namespaced_deployment("orders", "shop", {"spec": {"template": {"spec": {
        "containers": [{"name": "orders", "resources": {"limits": {"memory": "512Mi"}}}]}}}})
    for _ in range(12):  # let the rolling update finish over a few minutes
        box.clock.advance(30)
        box.cluster.reconcile()
    box.clock.advance(1800)
    pods = box.pods("app=orders")
    assert len(pods) == 3
    assert all(_state(p) == "Running" and p.status.container_statuses[0].restart_count == 0
               for p in pods)
    assert all(p.spec.containers[0].resources.limits["memory"] == "512Mi" for p in pods)


def test_scale_and_delete_change_the_pods(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    old = {p.metadata.name for p in box.pods("app=frontend")}
    box.apps.patch_namespaced_deployment_scale("frontend", "shop", {"spec": {"replicas": 5}})
    assert len(box.pods("app=frontend")) == 5
    for _ in range(6):  # requests keep coming while the new pods start
        box.clock.advance(0.4)
        box.pods("app=frontend")
    box.clock.advance(10)
    assert [_state(p) for p in box.pods("app=frontend")] == ["Running"] * 5
    new = next(p.metadata.name for p in box.pods("app=frontend") if p.metadata.name not in old)
    seen = box.core.list_namespaced_event("shop", field_selector=f"involvedObject.name={new}")
    assert sorted((e.reason, e.count) for e in seen.items) == [
        ("Created", 1), ("Pulled", 1), ("Scheduled", 1), ("Started", 1)]
    scale = box.apps.read_namespaced_deployment_scale("frontend", "shop")
    assert scale.spec.replicas == 5 and scale.status.selector == "app=frontend"
    box.apps.patch_namespaced_deployment_scale("frontend", "shop", {"spec": {"replicas": 2}})
    assert len(box.pods("app=frontend")) == 2
    victim = box.pods("app=frontend")[0].metadata.name
    box.core.delete_namespaced_pod(victim, "shop")
    names = [p.metadata.name for p in box.pods("app=frontend")]
    assert len(names) == 2 and victim not in names
    killing = box.core.list_namespaced_event(
        "shop", field_selector=f"involvedObject.name={victim},reason=Killing").items
    assert killing and killing[0].message == "Stopping container frontend"


def test_spec_mistakes_surface_as_kubelet_errors(sandbox_factory: Factory,
                                                 ) -> None:
    box = sandbox_factory("healthy")
    box.apps.patch_namespaced_deployment("payments-api", "shop", {"spec": {"template": {
        "spec": {"containers": [{"name": "payments-api",
                                 "image": "shop/payments-api:2.1.O"}]}}}})
    box.clock.advance(20)
    states = {_state(p) for p in box.pods("app=payments-api")}
    assert states & {"ImagePullBackOff", "ErrImagePull"}
    assert "Running" in states  # the old ReplicaSet keeps serving
    box.apps.patch_namespaced_deployment("redis-cache", "shop", {"spec": {"template": {
        "spec": {"containers": [{"name": "redis-cache", "envFrom": [
            {"configMapRef": {"name": "redis-tuning"}}]}]}}}})
    box.clock.advance(5)
    waiting = [p for p in box.pods("app=redis-cache")
               if _state(p) == "CreateContainerConfigError"]
    assert waiting
    assert 'configmap "redis-tuning" not found' in \
        waiting[0].status.container_statuses[0].state.waiting.message
    box.core.create_namespaced_config_map("shop", {"metadata": {"name": "redis-tuning"},
                                                   "data": {"MAXMEMORY": "256mb"}})
    box.clock.advance(30)
    assert [_state(p) for p in box.pods("app=redis-cache")] == ["Running"]


def test_quota_refuses_pods_beyond_it(sandbox_factory: Factory) -> None:
    box = sandbox_factory("healthy")
    box.apps.patch_namespaced_deployment_scale("worker", "shop", {"spec": {"replicas": 80}})
    box.clock.advance(5)
    assert len(box.core.list_namespaced_pod("shop").items) < 80
    failed = box.core.list_namespaced_event("shop", field_selector="reason=FailedCreate").items
    assert failed and "exceeded quota: shop-quota" in failed[0].message
    quota = box.core.read_namespaced_resource_quota("shop-quota", "shop")
    assert quota.status.used["limits.cpu"] == "30"
