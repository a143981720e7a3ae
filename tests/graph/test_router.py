"""Routing: slash commands, mentions, target and namespace extraction."""

from __future__ import annotations

import dataclasses

import pytest

from graph import intents, router


class _NoClassifier:
    """Slash commands must route without the classifier."""

    def predict(self, text: str) -> intents.Prediction:
        raise AssertionError(f"classifier called for {text!r}")


@pytest.fixture(scope="module")
def classifier() -> intents.IntentClassifier:
    return intents.load_default()


@pytest.mark.parametrize(("text", "route", "target", "args"), [
    ("/rca checkout-api", "rca", "checkout-api", ""),
    ("/rca", "rca", None, ""),
    ("/fix checkout restart it", "fix", "checkout", "restart it"),
    ("/fix pod worker-7c9d5-kx8tz delete", "fix", "worker-7c9d5-kx8tz", "delete"),
    ("/ask how do I drain a node?", "ask", None, "how do I drain a node?"),
    ("/predict orders cpu 24h", "predict", "orders", "cpu 24h"),
    ("/forecast orders", "predict", "orders", ""),
    ("/digest", "digest", None, ""),
    ("/help", "help", None, ""),
    ("/help /rca", "help", None, "rca"),
    ("/opsbot help", "help", None, ""),
    ("/opsbot", "help", None, ""),
    ("/opsbot rca worker", "rca", "worker", ""),
    ("/opsbot fix worker scale to 3", "fix", "worker", "scale to 3"),
    ("/feedback that worked", "feedback", None, "that worked"),
    ("/RCA Checkout", "rca", "Checkout", ""),
    ("／rca payments", "rca", "payments", ""),  # full-width slash of a Chinese IME
    ("、fix payments", "fix", "payments", ""),  # the IME's "/" key
    ("/rca why is checkout failing", "rca", "checkout", "why is checkout failing"),
    ("/fix help", "help", None, "fix"),
    ("/predict 怎么用", "help", None, "predict"),
    ("/opsbot rca --help", "help", None, "rca"),
    ("/ask what is the usage policy for the gpu nodes", "ask", None,
     "what is the usage policy for the gpu nodes"),
])
def test_slash_commands(text: str, route: str, target: str | None, args: str) -> None:
    decided = router.route_message(text, _NoClassifier())
    assert (decided.route, decided.target, decided.args) == (route, target, args)
    assert decided.source == "slash"
    assert decided.confidence == 1.0


@pytest.mark.parametrize(("text", "args"), [
    ("/deploy checkout", "/deploy"),
    ("/opsbot frobnicate", "/opsbot frobnicate"),
])
def test_unknown_slash_command_routes_to_help(text: str, args: str) -> None:
    decided = router.route_message(text, _NoClassifier())
    assert (decided.route, decided.args, decided.source) == ("help", args, "slash")


def test_opsbot_with_free_text_uses_the_classifier(
        classifier: intents.IntentClassifier) -> None:
    decided = router.route_message("/opsbot why is checkout failing?", classifier)
    assert (decided.route, decided.target, decided.source) == ("rca", "checkout", "classifier")


def test_a_path_is_not_a_slash_command(classifier: intents.IntentClassifier) -> None:
    assert router.route_message("/var/log is full on node ip-10-0-1-2",
                                classifier).source == "classifier"


@pytest.mark.parametrize(("text", "namespace", "target", "args"), [
    ("/rca checkout -n shop", "shop", "checkout", ""),
    ("/fix shop/checkout-api restart", "shop", "shop/checkout-api", "restart"),
    ("/fix deploy/orders --namespace=prod undo", "prod", "deploy/orders", "undo"),
    ("/digest in namespace payments", "payments", None, ""),
    ("/predict orders qps 7d in the shop namespace", "shop", "orders", "qps 7d"),
])
def test_slash_namespace(text: str, namespace: str, target: str, args: str) -> None:
    decided = router.route_message(text, _NoClassifier())
    assert (decided.namespace, decided.target, decided.args) == (namespace, target, args)


@pytest.mark.parametrize(("text", "expected"), [
    ("<@U123ABC> why is checkout failing?", "why is checkout failing?"),
    ("<@U123ABC|opsbot>   /rca worker", "/rca worker"),
    ("<!here> checkout down??", "checkout down??"),
    ("@_user_1 checkout-api 为什么一直重启", "checkout-api 为什么一直重启"),
    ("@_user_1 @_all 看下日志", "看下日志"),
    ("@opsbot: help", "help"),
    ("see <https://grafana.example/d/1|the dashboard> for <#C42|incidents>",
     "see the dashboard for #incidents"),
])
def test_strip_mentions(text: str, expected: str) -> None:
    assert router.strip_mentions(text) == expected


def test_mentions_are_stripped_before_routing(classifier: intents.IntentClassifier) -> None:
    slack = router.route_message("<@U0OPSBOT> /fix worker", _NoClassifier())
    assert (slack.route, slack.target, slack.source) == ("fix", "worker", "slash")
    feishu = router.route_message("@_user_1 checkout-api 为什么一直重启", classifier)
    assert (feishu.route, feishu.target) == ("rca", "checkout-api")
    assert feishu.args == "checkout-api 为什么一直重启"


def test_an_empty_message_gets_help(classifier: intents.IntentClassifier) -> None:
    decided = router.route_message("<@U0OPSBOT>  ", classifier)
    assert (decided.route, decided.args) == ("help", "")


def test_free_text_route(classifier: intents.IntentClassifier) -> None:
    decided = router.route_message("roll back frontend in namespace shop", classifier)
    assert decided == router.Route("fix", "frontend", "roll back frontend in namespace shop",
                                   decided.confidence, "classifier", "shop")
    assert 0.0 < decided.confidence <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        decided.route = "ask"  # type: ignore[misc]


@pytest.mark.parametrize(("text", "target"), [
    ("why is checkout failing?", "checkout"),
    ("checkout down??", "checkout"),
    ("orders 500ing", "orders"),
    ("search is timing out, why?", "search"),
    ("status of pod x", "x"),
    ("status of pod checkout-api-7d9f8b-x2kq4", "checkout-api-7d9f8b-x2kq4"),
    ("show logs of worker", "worker"),
    ("what's the CPU of orders", "orders"),
    ("what's geo-svc's error rate", "geo-svc"),
    ("restart checkout-api", "checkout-api"),
    ("roll back checkout", "checkout"),
    ("please restart the gateway deployment", "gateway"),
    ("kill the stuck notifier pod", "notifier"),
    ("is the kafka statefulset ready", "kafka"),
    ("scale orders to 5", "orders"),
    ("raise the memory limit of search to 2Gi", "search"),
    ("set the image of catalog back to v1.4.2", "catalog"),
    ("cordon node ip-10-0-1-22", "ip-10-0-1-22"),
    ("rollout undo deployment/frontend -n shop", "deployment/frontend"),
    ("why can't catalog connect to postgres", "catalog"),
    ("is the gateway problem caused by auth-svc?", "auth-svc"),
    ("show me the forecast for orders", "orders"),
    ("checkout-api 为什么一直重启", "checkout-api"),
    ("checkout 挂了？？", "checkout"),
    ("查一下 gateway 的 p99 延迟", "gateway"),
    ("checkout-api 的 pod 状态", "checkout-api"),
    ("shop 里的 frontend 回滚一下", "frontend"),
    ("重启一下服务 orders", "orders"),
    ("节点 worker-3 上跑了哪些 pod", "worker-3"),
    ("orders 现在 cpu 多少", "orders"),
    # No object named: None lets the resolver scan the message for known names.
    ("list pods in shop", None),
    ("events in namespace shop", None),
    ("how do I drain a node?", None),
    ("why is the node NotReady", None),
    ("why is everything slow in shop", None),
    ("thanks, that fixed it", None),
    ("restart it", None),
    ("为什么回滚失败了", None),
    ("看一下 shop 命名空间的 pod", None),
    ("CrashLoopBackOff 是什么意思", None),
    ("run promql `sum(rate(http_requests_total{service=\"checkout-api\"}[5m]))`", None),
    ("", None),
])
def test_extract_target(text: str, target: str | None) -> None:
    assert router.extract_target(text) == target


@pytest.mark.parametrize(("text", "namespace"), [
    ("events in namespace shop", "shop"),
    ("get pods -n prod", "prod"),
    ("kubectl get pods --namespace=kube-system", "kube-system"),
    ("list deployments in the payments namespace", "payments"),
    ("namespace: data, pods pending", "data"),
    ("在 shop 命名空间 重启 worker", "shop"),
    ("看一下 staging 命名空间的 pod", "staging"),
    ("命名空间 infra 下的服务", "infra"),
    ("Events In Namespace Shop", "shop"),
    ("what's the naming convention for namespaces", None),
    ("which namespace is checkout in", None),
    ("list pods in shop", None),
    ("列出所有命名空间", None),
])
def test_extract_namespace(text: str, namespace: str | None) -> None:
    assert router.extract_namespace(text) == namespace
