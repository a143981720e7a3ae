"""`opsbot serve` stops cleanly on SIGTERM (what Kubernetes sends): the server drains,
then the runtime stops its embedded servers and closes its connections, exit code 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    # Any thread may have started a child: each task lists its own.
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            if (task / "children").exists() for child in (task / "children").read_text().split()]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] == "Z"


def test_sigterm_runs_the_runtime_cleanup(tmp_path: Path, redis_url: str) -> None:
    port = _free_port()
    env = {"OPSBOT_STATE_DIR": str(tmp_path / "state"), "REDIS_URL": redis_url,
           "PATH": "/usr/bin:/bin"}
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.3)
        else:
            raise AssertionError("opsbot serve did not become ready")
        children = _children(server.pid)
        assert children, "the embedded Prometheus runs as a child"
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err[-2000:]
    assert "server stopped" in err
    assert "runtime stopped" in err
    assert all(_gone(pid) for pid in children)
