"""Shared fixtures: one embedded Redis 8 for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.embedded import redis_server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server.EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url
