"""Seeding the store from captured objects (the cluster.yaml of an incident bundle)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from tools.sandbox.cluster import SandboxCluster, load_objects
from tools.sandbox.testing import MONDAY_AFTERNOON, ManualClock, SandboxHandle

START = MONDAY_AFTERNOON
Factory = Callable[..., SandboxHandle]
pytestmark = pytest.mark.timeout(60)

CAPTURE = """
apiVersion: v1
kind: Node
metadata: {name: ip-10-0-1-23, uid: 6d1e2c1a-0000-4000-a000-000000000001,
           creationTimestamp: "2025-11-01T00:00:00Z"}
status:
  allocatable: {cpu: "4", memory: 16Gi, pods: "110"}
  conditions: [{type: Ready, status: "True"}]
  addresses: [{type: InternalIP, address: 10.0.1.23}]
  nodeInfo: {kubeletVersion: v1.30.2, osImage: Bottlerocket, kernelVersion: "6.1",
             containerRuntimeVersion: "containerd://1.7", architecture: amd64,
             operatingSystem: linux, bootID: x, machineID: x, systemUUID: x,
             kubeProxyVersion: v1.30.2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: prod, uid: 6d1e2c1a-0000-4000-a000-000000000002,
           creationTimestamp: "2025-11-20T10:00:00Z", generation: 1,
           annotations: {deployment.kubernetes.io/revision: "1"}}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: "corp/api:2.0"}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-7d9c
  namespace: prod
  uid: 6d1e2c1a-0000-4000-a000-000000000003
  creationTimestamp: "2025-11-20T10:00:00Z"
  labels: {app: api, pod-template-hash: 7d9c}
  annotations: {deployment.kubernetes.io/revision: "1"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, controller: true,
                     uid: 6d1e2c1a-0000-4000-a000-000000000002}]
spec:
  replicas: 1
  selector: {matchLabels: {app: api, pod-template-hash: 7d9c}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 7d9c}}
    spec: {containers: [{name: api, image: "corp/api:2.0"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-7d9c-x1
  namespace: prod
  uid: 6d1e2c1a-0000-4000-a000-000000000004
  creationTimestamp: "2025-11-20T10:00:00Z"
  labels: {app: api, pod-template-hash: 7d9c}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9c, controller: true,
                     uid: 6d1e2c1a-0000-4000-a000-000000000003}]
spec: {nodeName: ip-10-0-1-23, containers: [{name: api, image: "corp/api:2.0"}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "False", lastTransitionTime: "2025-11-24T15:00:00Z"}]
  containerStatuses:
  - name: api
    image: corp/api:2.0
    imageID: ""
    ready: false
    restartCount: 7
    state: {waiting: {reason: CrashLoopBackOff}}
    lastState: {terminated: {exitCode: 1, reason: Error}}
---
apiVersion: v1
kind: Event
metadata: {name: api-7d9c-x1.1, namespace: prod}
involvedObject: {kind: Pod, name: api-7d9c-x1, namespace: prod,
                 uid: 6d1e2c1a-0000-4000-a000-000000000004}
reason: BackOff
type: Warning
message: Back-off restarting failed container api
count: 31
firstTimestamp: "2025-11-24T15:00:00Z"
lastTimestamp: "2025-11-24T15:55:00Z"
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: prod}
spec: {size: 3}
"""


def test_loaded_objects_keep_their_status(sandbox_factory: Factory) -> None:
    box = sandbox_factory("empty")
    assert load_objects(box.cluster, yaml.safe_load_all(CAPTURE)) == 6
    box.cluster.set_pod_log("prod", "api-7d9c-x1", "api", "boom\n", previous=True)
    pod = box.core.read_namespaced_pod("api-7d9c-x1", "prod")
    assert pod.status.container_statuses[0].restart_count == 7
    assert pod.metadata.uid == "6d1e2c1a-0000-4000-a000-000000000004"
    assert box.core.read_namespaced_pod_log("api-7d9c-x1", "prod", previous=True) == "boom\n"
    deploy = box.apps.read_namespaced_deployment("api", "prod")
    assert deploy.status.unavailable_replicas == 1
    assert len(box.apps.list_namespaced_replica_set("prod").items) == 1  # no new ReplicaSet
    events = box.core.list_namespaced_event("prod").items
    assert [e.count for e in events if e.reason == "BackOff"] == [31]
    widget = box.api.call_api(*box.api.param_serialize(
        "GET", "/apis/example.com/v1/namespaces/prod/widgets/w1"))
    assert b'"size":3' in widget.read()
    # A replacement for a deleted captured pod starts from the captured spec.
    box.core.delete_namespaced_pod("api-7d9c-x1", "prod")
    box.clock.advance(30)
    (fresh,) = box.core.list_namespaced_pod("prod").items
    assert fresh.metadata.name != "api-7d9c-x1" and fresh.spec.node_name == "ip-10-0-1-23"
    assert fresh.status.container_statuses[0].ready


EVICTED_AND_STATUS = """
apiVersion: v1
kind: Pod
metadata:
  name: api-7d9c-ev1
  namespace: prod
  uid: 6d1e2c1a-0000-4000-a000-000000000005
  creationTimestamp: "2025-11-24T12:00:00Z"
  labels: {app: api, pod-template-hash: 7d9c}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9c, controller: true,
                     uid: 6d1e2c1a-0000-4000-a000-000000000003}]
spec: {nodeName: ip-10-0-1-23, containers: [{name: api, image: "corp/api:2.0"}]}
status: {phase: Failed, reason: Evicted,
         message: "The node was low on resource: memory. Threshold quantity: 100Mi."}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api, namespace: prod, uid: 6d1e2c1a-0000-4000-a000-000000000006}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 1
  maxReplicas: 1
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization,
                                                             averageUtilization: 60}}}]
status:
  currentReplicas: 1
  desiredReplicas: 1
  currentMetrics: [{type: Resource, resource: {name: cpu, current: {averageUtilization: 190}}}]
  conditions:
  - {type: ScalingLimited, status: "True", reason: TooManyReplicas,
     message: the desired replica count is more than the maximum replica count}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: prod-quota, namespace: prod, uid: 6d1e2c1a-0000-4000-a000-000000000007}
spec: {hard: {limits.memory: 16Gi, pods: "20"}}
status: {hard: {limits.memory: 16Gi, pods: "20"}, used: {limits.memory: 15Gi, pods: "19"}}
"""


def test_evicted_pods_hpa_and_quota_keep_their_recorded_status(
        sandbox_factory: Factory) -> None:
    box = sandbox_factory("empty")
    load_objects(box.cluster, [*yaml.safe_load_all(CAPTURE),
                               *yaml.safe_load_all(EVICTED_AND_STATUS)])
    box.clock.advance(120)
    pods = {p.metadata.name: p for p in box.core.list_namespaced_pod("prod").items}
    # The evicted pod stays listed and does not stand in for the running one.
    assert set(pods) == {"api-7d9c-x1", "api-7d9c-ev1"}
    assert pods["api-7d9c-ev1"].status.reason == "Evicted"
    hpa = box.api.call_api(*box.api.param_serialize(
        "GET", "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/api"))
    hpa_status = yaml.safe_load(hpa.read())["status"]
    assert hpa_status["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 190
    assert hpa_status["conditions"][0]["reason"] == "TooManyReplicas"
    quota = box.core.read_namespaced_resource_quota("prod-quota", "prod")
    assert quota.status.used == {"limits.memory": "15Gi", "pods": "19"}


def test_loading_into_a_scenario_replaces_same_named_objects() -> None:
    cluster = SandboxCluster("healthy", clock=ManualClock(START))
    cluster.load_objects([{"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "worker-config", "namespace": "shop"},
                           "data": {"QUEUE_NAME": "other"}}])
    stored = cluster.controller.objs.get("ConfigMap", "shop", "worker-config")
    assert stored is not None and stored["data"] == {"QUEUE_NAME": "other"}
