"""A local Kubernetes API server with a small controller and incident scenarios.

`cluster.SandboxCluster` is the entry point: it serves enough of the Kubernetes API on
127.0.0.1 for the official client and kubectl, simulates workloads whose status follows
from their spec, and exposes Prometheus metrics (live and as a backfill history).

Map of the package:
  cluster        the facade: start/stop, kubeconfig, metrics, history, loading objects
  apiserver      HTTP, routing, discovery, watches;  handlers: API verbs and subresources
  store          generic object store;  resources: served types;  selection, patching,
                 defaults, apierrors, tables (kubectl columns), openapi (minimal v3)
  controller     the lazy control loop;  deployments, workloads (ReplicaSets and
                 StatefulSets), scheduling, networking (endpoints), autoscaling (HPA,
                 quota), events
  behaviour      what each image needs and does;  lifecycle: container run timelines;
                 kubelet: pod status and kubelet events;  logtext, logs: container logs
  scenarios      the incidents;  topology: the shop's objects
  load, traffic, metrics_model, exposition, history, resource_metrics: metrics
  testing        a manual clock and client wiring for tests
"""

__all__ = ["cluster", "testing"]
