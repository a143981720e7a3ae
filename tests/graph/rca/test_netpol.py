"""NetworkPolicy evaluation: additive policies, peers, ports, the newest isolating policy."""

from typing import Any

from graph.rca import netpol

API = netpol.Endpoint("shop", {"app": "api"})
WORKER = netpol.Endpoint("shop", {"app": "worker"})
REDIS = netpol.Endpoint("shop", {"app": "redis"})


def policy(name: str, spec: dict[str, Any], created: str = "2025-01-01T00:00:00Z",
           namespace: str = "shop") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
            "spec": spec}


def ingress_from(app: str, port: int = 6379) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app": "redis"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": app}}}],
                         "ports": [{"port": port, "protocol": "TCP"}]}]}


def test_unselected_pods_are_open() -> None:
    assert netpol.blocking_policy([policy("p", ingress_from("api"))], WORKER,
                                  netpol.Endpoint("shop", {"app": "web"}), 80) is None


def test_an_isolating_policy_that_does_not_admit_the_caller_blocks() -> None:
    found = netpol.blocking_policy([policy("redis-ingress", ingress_from("api"))], WORKER,
                                   REDIS, 6379)
    assert found is not None and found[0]["metadata"]["name"] == "redis-ingress"
    assert found[1] == "Ingress"
    assert netpol.blocking_policy([policy("redis-ingress", ingress_from("api"))], API,
                                  REDIS, 6379) is None


def test_policies_add_up_and_the_newest_isolating_one_is_blamed() -> None:
    old = policy("scrape", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}]}]}, "2024-01-01T00:00:00Z")
    new = policy("redis-ingress", ingress_from("api"), "2025-06-01T00:00:00Z")
    assert netpol.blocking_policy([old, new], WORKER, REDIS, 6379)[0] is new  # type: ignore[index]
    allow_worker = policy("worker-too", ingress_from("worker"))
    assert netpol.blocking_policy([old, new, allow_worker], WORKER, REDIS, 6379) is None


def test_ports_and_egress() -> None:
    assert netpol.blocking_policy([policy("p", ingress_from("worker", port=9090))], WORKER,
                                  REDIS, 6379) is not None
    deny_dns = policy("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"],
                                              "egress": [{"ports": [{"port": 9092}]}]})
    dns = netpol.Endpoint("kube-system", {"k8s-app": "kube-dns"})
    assert netpol.blocking_policy([deny_dns], WORKER, dns, 53) == (deny_dns, "Egress")
    assert netpol.blocking_policy([deny_dns], WORKER, dns, 9092) is None


def test_selector_expressions() -> None:
    selector = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert netpol.selector_matches(selector, {"app": "a"})
    assert not netpol.selector_matches(selector, {"app": "a", "canary": "yes"})
    assert netpol.selector_matches({}, {"anything": "x"})
