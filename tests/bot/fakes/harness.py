"""`opsbot serve` on a real port for tests, and the settings and secrets they use."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from bot import settings as settings_mod
from fakes.server import wait_for

__all__ = ["FEISHU_KEY", "FEISHU_TOKEN", "SLACK_SECRET", "RunningServer", "make_settings"]

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FEISHU_KEY = "feishu-encrypt-key"
FEISHU_TOKEN = "feishu-verification-token"


class RunningServer:
    """The ASGI app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on",
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> RunningServer:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), 10,
                 "uvicorn to start")
        assert self.server.started, "uvicorn did not start"
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def make_settings(**groups: Any) -> settings_mod.Settings:
    """Settings from explicit groups only (no environment, no .env)."""
    serve_defaults = {"progress_after_s": 5.0, "card_answer_s": 2.5,
                      "shutdown_grace_s": 2.0}
    serve_defaults.update(groups.pop("serve", {}))
    return settings_mod.Settings(_env_file=None,
                                 serve=settings_mod.ServeSettings(**serve_defaults),
                                 **groups)
