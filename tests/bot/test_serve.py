"""`opsbot serve` beyond the chat platforms: Alertmanager webhook, probes, metrics, and
which endpoints the settings turn on."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from fakes.harness import RunningServer, make_settings
from fakes.scripted import ScriptedHandler, alert_payload

from bot import serve
from bot import settings as settings_mod

Start = Callable[..., RunningServer]


@pytest.fixture
def server(run_server: Start, handler: ScriptedHandler) -> RunningServer:
    return run_server(make_settings(), handler)


def test_valid_alert_is_accepted_and_handed_over(server: RunningServer,
                                                 handler: ScriptedHandler) -> None:
    response = httpx.post(f"{server.url}/alerts", json=alert_payload())
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "alerts": 1}
    (payload,) = handler.alerts
    assert payload.common_labels["namespace"] == "shop"
    assert payload.alerts[0].labels["pod"] == "checkout-7d4b9c-abcde"
    assert payload.alerts[0].status == "firing"


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "JSON object"),
    (json.dumps(alert_payload(version="3")).encode(), "version"),
    (json.dumps(alert_payload(alerts=[])).encode(), "alerts"),
    (json.dumps(alert_payload(alerts=[{"status": "firing"}])).encode(), "alerts.0.labels"),
])
def test_malformed_alerts_are_a_400(body: bytes, message: str, server: RunningServer,
                                    handler: ScriptedHandler) -> None:
    response = httpx.post(f"{server.url}/alerts", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert handler.alerts == []


def test_alerts_token_is_enforced_when_set(run_server: Start,
                                           handler: ScriptedHandler) -> None:
    server = run_server(make_settings(serve={"alerts_token": "s3cret"}), handler)
    assert httpx.post(f"{server.url}/alerts", json=alert_payload()).status_code == 401
    ok = httpx.post(f"{server.url}/alerts", json=alert_payload(),
                    headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 202 and len(handler.alerts) == 1


def test_healthz_and_readyz(server: RunningServer, handler: ScriptedHandler) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    handler.backends["prometheus"] = "connection refused"
    handler.backends["mcp"] = "timeout"
    down = httpx.get(f"{server.url}/readyz")
    assert down.status_code == 503
    assert down.json()["failing"] == ["mcp", "prometheus"]
    assert down.json()["backends"]["prometheus"] == "connection refused"


def test_metrics_expose_the_counters(server: RunningServer) -> None:
    httpx.get(f"{server.url}/healthz")
    httpx.post(f"{server.url}/alerts", content=b"nope")
    httpx.get(f"{server.url}/nowhere")
    text = httpx.get(f"{server.url}/metrics").text
    assert 'opsbot_http_requests_total{endpoint="/healthz",status="200"} 1.0' in text
    assert 'opsbot_http_requests_total{endpoint="/alerts",status="400"} 1.0' in text
    assert 'opsbot_http_requests_total{endpoint="other",status="404"} 1.0' in text
    assert 'opsbot_http_request_duration_seconds_bucket{endpoint="/healthz"' in text
    assert 'opsbot_alert_notifications_total{result="invalid"} 1.0' in text
    for family in ("opsbot_graph_runs", "opsbot_approvals", "opsbot_errors"):
        assert f"# TYPE {family}_total counter" in text or f"# TYPE {family} counter" in text


def routes(settings: settings_mod.Settings) -> set[str]:
    app = serve.build_app(settings, ScriptedHandler())
    return {route.path for route in app.routes}  # type: ignore[attr-defined]


def test_only_configured_platforms_are_mounted() -> None:
    base = {"/healthz", "/readyz", "/metrics", "/alerts"}
    slack = settings_mod.SlackSettings(bot_token="xoxb-1", signing_secret="s")
    feishu = settings_mod.FeishuSettings(app_id="cli_1", app_secret="x",
                                         verification_token="t")
    assert routes(make_settings()) == base
    assert routes(make_settings(slack=slack)) == base | {"/slack/events"}
    assert routes(make_settings(slack=slack, feishu=feishu)) == base | {
        "/slack/events", "/feishu/events"}
    assert routes(make_settings(slack=slack, feishu=feishu,
                                serve={"platforms": ["feishu"]})) == base | {"/feishu/events"}


@pytest.mark.parametrize(("groups", "message"), [
    ({"serve": {"platforms": ["teams"]}}, "unknown platform"),
    ({"serve": {"platforms": ["slack"]}}, "SLACK_BOT_TOKEN is empty"),
    ({"slack": settings_mod.SlackSettings(bot_token="xoxb-1")}, "SLACK_SIGNING_SECRET"),
    ({"feishu": settings_mod.FeishuSettings(app_id="cli_1")}, "FEISHU_ENCRYPT_KEY"),
])
def test_incomplete_settings_are_refused(groups: dict[str, object], message: str) -> None:
    with pytest.raises(serve.ConfigError, match=message):
        serve.build_app(make_settings(**groups), ScriptedHandler())
