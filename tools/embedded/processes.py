"""Child server processes that live and die with opsbot.

A :class:`ManagedProcess` runs one server (redis-server, prometheus) with its output in a
log file, tells a crash at start-up apart from a slow start, and makes sure the server
does not outlive opsbot:

- on Linux the child asks the kernel for ``PR_SET_PDEATHSIG``, so even a ``kill -9`` of
  opsbot takes the server down with it;
- an ``atexit`` hook stops whatever is still running on a normal interpreter exit.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends, not the process.
Every child is therefore forked from one long-lived spawner thread, so a server started
from a short-lived worker thread is not killed when that worker finishes.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tools import errors

__all__ = ["ManagedProcess", "free_port"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# SIGTERM rather than SIGKILL: both servers shut down cleanly and quickly on it, so the
# Redis AOF and the Prometheus TSDB stay consistent even when opsbot is killed.
_DEATH_SIGNAL = signal.SIGTERM


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


# Resolved once in the parent: the child between fork and exec should do as little as
# possible (no symbol lookups, no imports).
_prctl = _load_prctl()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now.

    The port is released before the server binds it, so another program could take it in
    between; the server then fails to start and says so in its log, which the start-up
    check reports.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(_DEATH_SIGNAL), 0, 0, 0)
        # The parent may have died between fork and prctl; the signal would then never
        # come, so leave now instead of running as an orphan.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


_spawner: concurrent.futures.ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawn(start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            # One worker that lives until interpreter shutdown: the death signal of every
            # child is tied to this thread, not to whichever thread called start().
            _spawner = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="opsbot-spawner"
            )
        spawner = _spawner
    return spawner.submit(start).result()


class ManagedProcess:
    """One child server process with a log file and a start-up check."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(arg) for arg in argv]
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """Process id of the child, or None before the first start."""
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        """Start the child; its stdout and stderr go to :attr:`log_path`."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            # Appending keeps earlier runs for post-mortems; the tail shown on failure
            # starts at this run's header.
            self._log_offset = log_file.tell()
            header = f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {' '.join(self.argv)}\n"
            log_file.write(header.encode())
            log_file.flush()
            try:
                self._popen = _spawn(
                    lambda: subprocess.Popen(
                        self.argv,
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        cwd=self.cwd,
                        env=self.env,
                        # Own process group: a Ctrl-C in the terminal reaches opsbot
                        # only, which then stops the servers in order.
                        process_group=0,
                        preexec_fn=_die_with_parent(os.getpid()),
                    )
                )
            except OSError as exc:
                raise errors.BackendUnavailable(
                    self.name, f"cannot run {self.argv[0]}: {exc}"
                ) from exc
        _live.add(self)
        log.info("started %s (pid %s), log in %s", self.name, self.pid, self.log_path)

    def wait_ready(
        self,
        probe: Callable[[], bool],
        *,
        timeout: float,
        interval: float = 0.05,
        what: str = "ready",
    ) -> None:
        """Poll ``probe`` until it returns True.

        The probe answers False for "not yet" (connection refused, loading, 503); it
        knows which of its errors mean that, so it catches them itself.

        Raises :class:`tools.errors.BackendUnavailable` with the tail of the log if the
        child exits first or ``timeout`` seconds pass; in the latter case the child is
        stopped, so a failed start leaves nothing behind.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._popen is None:
                raise RuntimeError(f"{self.name} was never started")
            code = self._popen.poll()
            if code is not None:
                _live.discard(self)
                raise errors.BackendUnavailable(
                    self.name,
                    f"{self.argv[0]} exited with code {code} during start-up; "
                    f"end of {self.log_path}:\n{self.log_tail()}",
                )
            if probe():
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise errors.BackendUnavailable(
                    self.name,
                    f"not {what} after {timeout:.0f}s; end of {self.log_path}:\n"
                    f"{self.log_tail()}",
                )
            time.sleep(interval)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to exit; True if it has."""
        if self._popen is None:
            return True
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        _live.discard(self)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Safe to call twice."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGTERM)
            if not self.wait(timeout):
                log.warning("%s (pid %s) ignored SIGTERM; killing it", self.name, popen.pid)
                # The whole process group: the children a server forks (a Redis save)
                # must not outlive it either.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(popen.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                popen.wait()
        else:
            # Reap it so no zombie keeps the pid.
            popen.wait()
        _live.discard(self)

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines this run wrote to the log."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                text = log_file.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ManagedProcess {self.name} pid={self.pid} {state}>"


_live: set[ManagedProcess] = set()


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        try:
            proc.stop(timeout=5.0)
        except Exception:  # interpreter exit: report and keep stopping the others
            log.exception("could not stop %s", proc.name)
