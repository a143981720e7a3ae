"""Pod-state detectors on collected facts: init containers count like app containers."""

from __future__ import annotations

from typing import Any

from graph.rca import collect, detect_pods, model

END = 1_764_000_000.0
WINDOW = collect.Window.ending(END)


def _pod(init_state: dict[str, Any], restarts: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "orders-api-6f7d8c9b5-k2m4p", "namespace": "orders"},
        "spec": {"initContainers": [{"name": "migrate", "image": "orders-api:4.2"}],
                 "containers": [{"name": "api", "image": "orders-api:4.2"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{
                "name": "migrate", "ready": False, "restartCount": restarts,
                "state": init_state,
                "lastState": {"terminated": {
                    "reason": "Error", "exitCode": 1,
                    "startedAt": "2025-11-24T15:50:01Z", "finishedAt": "2025-11-24T15:50:03Z"}},
            }],
            "containerStatuses": [{"name": "api", "ready": False, "restartCount": 0,
                                   "state": {"waiting": {"reason": "PodInitializing"}}}],
        },
    }


def _facts(pod: dict[str, Any], log: str) -> model.WorkloadFacts:
    deployment = {"kind": "Deployment", "metadata": {"name": "orders-api", "namespace": "orders"},
                  "spec": {"template": {"spec": pod["spec"]}}}
    return model.WorkloadFacts(
        "Deployment", "orders", "orders-api", obj=deployment, pods=[pod],
        logs={f"{pod['metadata']['name']}/migrate": {"previous": log}})


def test_a_crash_looping_init_container_is_the_cause() -> None:
    pod = _pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=6)
    log = ("2025-11-24T15:50:02Z ERROR Migration V42__add_index.sql failed\n"
           "Traceback (most recent call last):\n"
           "psycopg2.errors.DuplicateTable: relation \"orders_idx\" already exists\n")
    causes = detect_pods.detect_pod_causes(_facts(pod, log), WINDOW)
    assert causes and causes[0].kind == "CrashLoop"
    assert causes[0].resource == "Deployment/orders/orders-api"
    assert "migrate" in causes[0].summary
    assert any("already exists" in str(e) for e in causes[0].evidence)


def test_an_init_container_missing_its_config_is_a_config_error() -> None:
    pod = _pod({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=4)
    log = "fatal: required environment variable DATABASE_URL is not set\n"
    (cause,) = detect_pods.detect_pod_causes(_facts(pod, log), WINDOW)
    assert cause.kind == "ConfigError" and "DATABASE_URL" in cause.summary


def test_init_containers_that_completed_are_fine() -> None:
    pod = _pod({"terminated": {"reason": "Completed", "exitCode": 0}}, restarts=0)
    pod["status"]["phase"] = "Running"
    pod["status"]["containerStatuses"] = [{"name": "api", "ready": True, "restartCount": 0,
                                           "state": {"running": {}}}]
    assert detect_pods.detect_pod_causes(_facts(pod, ""), WINDOW) == []
