"""ManagedProcess: start-up failures carry the log, and no child outlives opsbot."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tools import errors
from tools.embedded import processes

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_free_port_is_bindable() -> None:
    port = processes.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_crash_at_start_up_reports_the_log_tail(tmp_path: Path) -> None:
    proc = processes.ManagedProcess(
        "fake", ["sh", "-c", "echo 'listen failed: port taken' >&2; exit 3"],
        log_path=tmp_path / "fake.log",
    )
    proc.start()
    with pytest.raises(errors.BackendUnavailable) as caught:
        proc.wait_ready(lambda: False, timeout=10)
    assert caught.value.backend == "fake"
    assert "exited with code 3" in caught.value.detail
    assert "listen failed: port taken" in caught.value.detail


def test_slow_start_times_out_and_stops_the_child(
    tmp_path: Path, gone: Callable[..., bool]
) -> None:
    proc = processes.ManagedProcess("sleeper", ["sleep", "60"], log_path=tmp_path / "s.log")
    proc.start()
    with pytest.raises(errors.BackendUnavailable, match="not ready after"):
        proc.wait_ready(lambda: False, timeout=0.3)
    assert gone(proc.pid)


def test_stop_kills_a_child_that_ignores_sigterm(
    tmp_path: Path, gone: Callable[..., bool]
) -> None:
    proc = processes.ManagedProcess(
        "stubborn",
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
         "signal.SIG_IGN); print('up', flush=True); time.sleep(60)"],
        log_path=tmp_path / "stubborn.log",
    )
    proc.start()
    proc.wait_ready(lambda: "up" in proc.log_tail(), timeout=10)
    proc.stop(timeout=0.5)
    proc.stop(timeout=0.5)
    assert gone(proc.pid)


def test_child_started_from_a_finished_thread_keeps_running(
    tmp_path: Path, gone: Callable[..., bool]
) -> None:
    proc = processes.ManagedProcess("sleeper", ["sleep", "60"], log_path=tmp_path / "t.log")
    worker = threading.Thread(target=proc.start)
    worker.start()
    worker.join()
    # PR_SET_PDEATHSIG follows the forking thread; the spawner thread keeps it alive.
    assert not proc.wait(0.5)
    assert proc.running
    proc.stop()
    assert gone(proc.pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_child_dies_with_a_killed_parent(tmp_path: Path, gone: Callable[..., bool]) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from tools.embedded import processes
        proc = processes.ManagedProcess(
            "sleeper", ["sleep", "60"], log_path=Path({str(tmp_path / "p.log")!r})
        )
        proc.start()
        print(proc.pid, flush=True)
        time.sleep(60)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        os.kill(child_pid, 0)  # alive while the parent lives
        parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the kernel
        parent.wait()
        assert gone(child_pid, orphan=True)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
