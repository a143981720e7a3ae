"""deploy/slack/app-manifest.yaml and deploy/feishu/README.md ask for what the code uses.

The scopes are derived from the Web API and Open API methods and the events that bot/
actually calls and handles, so a new call without its scope (or a scope nothing needs)
fails here rather than in a workspace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot import settings as settings_mod
from bot import slack_app

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
MANIFEST = ROOT / "deploy" / "slack" / "app-manifest.yaml"
FEISHU_README = ROOT / "deploy" / "feishu" / "README.md"
SLACK_URL = "https://OPSBOT_HOST/slack/events"

# Slack Web API method (as slack_sdk spells it) -> bot scopes it needs.
SLACK_METHOD_SCOPES: dict[str, set[str]] = {
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},
    # files.getUploadURLExternal + files.completeUploadExternal
    "files_upload_v2": {"files:write"},
    "auth_test": set(),
}
# Event subscription -> scope it needs. A `message` listener means these four.
SLACK_EVENT_SCOPES: dict[str, str] = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
}
# Feishu Open API (resource, method) under client.im.v1 -> the scope opsbot asks for.
FEISHU_METHOD_SCOPES: dict[tuple[str, str], str] = {
    ("message", "reply"): "im:message:send_as_bot",
    ("message", "create"): "im:message:send_as_bot",
    ("message", "patch"): "im:message:send_as_bot",
    ("message", "delete"): "im:message:send_as_bot",
    ("image", "create"): "im:resource",
}
# What receiving im.message.receive_v1 needs: direct chats and @mentions in groups.
FEISHU_RECEIVE_SCOPES = {"im:message.p2p_msg:readonly", "im:message.group_at_msg:readonly"}


def _source(pattern: str) -> str:
    return "\n".join(path.read_text() for path in sorted(BOT.glob(pattern)))


def _manifest() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return document


def _slack_methods() -> set[str]:
    return set(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(", _source("slack*.py")))


def _slack_events() -> set[str]:
    listened = set(re.findall(r"\.event\(\"([a-z_]+)\"\)", _source("slack*.py")))
    events = {e for e in listened if e != "message"}
    if "message" in listened:
        events |= {"message.channels", "message.groups", "message.im"}
    return events


def test_slack_scopes_are_exactly_what_the_code_uses() -> None:
    methods = _slack_methods()
    unknown = methods - SLACK_METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {unknown} to SLACK_METHOD_SCOPES and the manifest"
    needed = set().union(*(SLACK_METHOD_SCOPES[m] for m in methods))
    needed |= {SLACK_EVENT_SCOPES[e] for e in _slack_events()}
    needed.add("commands")
    scopes = _manifest()["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert set(scopes) == needed
    assert "user" not in _manifest()["oauth_config"]["scopes"]


def test_slack_events_commands_and_urls() -> None:
    manifest = _manifest()
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == _slack_events()
    assert settings["event_subscriptions"]["request_url"] == SLACK_URL
    assert settings["interactivity"] == {"is_enabled": True, "request_url": SLACK_URL}
    assert settings["socket_mode_enabled"] is False
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == list(slack_app.COMMANDS)
    for command in commands:
        assert command["url"] == SLACK_URL
        assert command["description"] and command["should_escape"] is False
    assert '"/slack/events"' in (BOT / "serve.py").read_text()
    # Direct messages need the Messages tab.
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True


def test_slack_manifest_fits_slack_limits() -> None:
    manifest = _manifest()
    assert manifest["_metadata"]["major_version"] == 1
    info = manifest["display_information"]
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert re.fullmatch(r"#[0-9a-f]{6}", info["background_color"])
    bot_user = manifest["features"]["bot_user"]["display_name"]
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", bot_user)


def _feishu_methods() -> set[tuple[str, str]]:
    found = re.findall(r"\bclient\.im\.v1\.([a-z_]+)\.([a-z_]+)\b", _source("feishu*.py"))
    return set(found)


def test_feishu_readme_asks_for_the_scopes_the_code_uses() -> None:
    text = FEISHU_README.read_text()
    methods = _feishu_methods()
    assert methods, "no Open API calls found in bot/feishu*.py"
    unknown = methods - FEISHU_METHOD_SCOPES.keys()
    assert not unknown, f"add the scopes of {unknown} to FEISHU_METHOD_SCOPES and the README"
    needed = {FEISHU_METHOD_SCOPES[m] for m in methods} | FEISHU_RECEIVE_SCOPES
    table = {m.group(1) for m in re.finditer(r"^\| `([a-z0-9:._]+)` \|", text, re.MULTILINE)}
    assert table == needed


def test_feishu_readme_names_the_events_route_and_settings() -> None:
    text = FEISHU_README.read_text()
    code = _source("feishu*.py")
    for event in ("im.message.receive_v1", "card.action.trigger"):
        assert f'"{event}"' in code and f"`{event}`" in text
    assert "https://OPSBOT_HOST/feishu/events" in text
    assert '"/feishu/events"' in (BOT / "serve.py").read_text()
    settings: set[str] = set()
    for name, field in settings_mod.Settings.model_fields.items():
        group: Any = field.annotation
        if hasattr(group, "model_fields"):
            settings |= {f"{name.upper()}_{sub.upper()}" for sub in group.model_fields}
    named = set(re.findall(r"`((?:FEISHU|SERVE|POLICY)_[A-Z_]+)", text))
    assert named and named <= settings, named - settings
    for key in settings_mod.FeishuSettings.model_fields:
        if key != "timeout_s":  # a tuning knob, not part of the setup
            assert f"`FEISHU_{key.upper()}`" in text, key
