"""Fixtures: dedupe keys in embedded Redis, the fake platform APIs, and `opsbot serve` on a
real port."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakes.feishu_api import FakeFeishuApi
from fakes.harness import FEISHU_KEY, FEISHU_TOKEN, SLACK_SECRET, RunningServer, make_settings
from fakes.scripted import ScriptedHandler
from fakes.slack_api import FakeSlackApi

from bot import dedupe, serve
from bot import settings as settings_mod


@pytest.fixture
def keys(redis_url: str) -> dedupe.RedisKeys:
    """Dedupe keys in the shared embedded Redis (``redis_url`` from tests/conftest.py),
    under a prefix of their own so that tests never see each other's event ids."""
    return dedupe.RedisKeys.from_url(redis_url, prefix=f"opsbot:test:{uuid.uuid4().hex}:")


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    fake = FakeSlackApi()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def feishu_api() -> Iterator[FakeFeishuApi]:
    fake = FakeFeishuApi()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture
def slack_settings(slack_api: FakeSlackApi) -> Callable[..., settings_mod.Settings]:
    def build(**serve_overrides: Any) -> settings_mod.Settings:
        return make_settings(
            slack=settings_mod.SlackSettings(bot_token="xoxb-test", signing_secret=SLACK_SECRET,
                                             api_base_url=slack_api.api_url),
            serve=serve_overrides)
    return build


@pytest.fixture
def feishu_settings(feishu_api: FakeFeishuApi) -> Callable[..., settings_mod.Settings]:
    def build(*, encrypt_key: str = FEISHU_KEY, long_connection: bool = False,
              **serve_overrides: Any) -> settings_mod.Settings:
        return make_settings(
            feishu=settings_mod.FeishuSettings(
                app_id="cli_test", app_secret="secret", verification_token=FEISHU_TOKEN,
                encrypt_key=encrypt_key, api_base_url=feishu_api.base_url,
                long_connection=long_connection),
            serve=serve_overrides)
    return build


@pytest.fixture
def run_server(keys: dedupe.RedisKeys) -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def start(settings: settings_mod.Settings, handler: Any) -> RunningServer:
        app = serve.build_app(settings, handler, keys=keys)
        server = RunningServer(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
