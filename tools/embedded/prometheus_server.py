"""An embedded Prometheus over backfilled history, for when no ``PROMETHEUS_URL`` is set.

On every start the TSDB under ``data_dir/tsdb`` is rebuilt: each backfill file (the
OpenMetrics text format, ending in ``# EOF``, timestamps in seconds) is turned into TSDB
blocks with ``promtool tsdb create-blocks-from openmetrics``, then Prometheus serves
those blocks and scrapes the live targets on top of them.

Set ``OPSBOT_PROMETHEUS`` to the path of another ``prometheus`` to run that one; its
sibling ``promtool`` is preferred. Without it, both are looked up on ``PATH``
(``apt-get install -y prometheus``).

Behaviour of Prometheus 2.x that shapes this module:

- Once blocks are loaded, the head refuses samples older than the newest block's end
  ("out of bounds"). History must therefore end no later than now, or live scrapes are
  dropped until the clock catches up; :meth:`EmbeddedPrometheus.start` refuses history
  that ends in the future (timestamps in milliseconds instead of seconds do that too).
- Blocks from several backfill files may overlap in time. Since 2.39 Prometheus always
  accepts and merges overlapping blocks, and ``--storage.tsdb.allow-overlapping-blocks``
  is a deprecated no-op (gone in 3.x), so it is not passed.
- With ``honor_labels`` the labels the target exports (namespace, pod, ...) win, and the
  ``job``/``instance`` labels Prometheus attaches are dropped again by metric relabelling,
  so a live series carries exactly the labels its backfilled history carries and
  continues it.
- Prometheus applies new targets on a 5 s tick and then waits up to one scrape interval,
  so the first live sample lands 5-10 s after start with the default interval.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx
import yaml

from tools import errors
from tools.embedded import binaries, processes

__all__ = ["BLOCK_DURATION", "RETENTION", "EmbeddedPrometheus"]

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_LOG_NAME = "prometheus.log"
_CONFIG_NAME = "prometheus.yml"
_JOB_NAME = "opsbot"

# promtool rounds the block length down to one of TSDB's compaction levels (2h, 6h, 18h,
# 54h, ...). 54h is the largest level Prometheus itself compacts to under a 30-day
# retention (it stops at a tenth of the retention), so the backfilled blocks are final
# and Prometheus does not spend its first minutes re-compacting 80-odd 2h blocks. The
# newest block still ends at the newest sample, so recent history is queried as usual.
BLOCK_DURATION = "54h"
# The history is a week old; retention counts back from the newest block, with margin.
RETENTION = "30d"
# A little clock skew between the history writer and this host is harmless: the live
# samples it would block are at most this old.
_FUTURE_SLACK_S = 60.0


class EmbeddedPrometheus:
    """A prometheus child process on a loopback port, serving backfill plus live scrapes."""

    def __init__(
        self,
        data_dir: Path,
        *,
        scrape_targets: Sequence[str] = (),
        scrape_interval: str = "5s",
        backfill: Sequence[Path] = (),
        port: int = 0,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.scrape_targets = [_check_target(t) for t in scrape_targets]
        self.scrape_interval = scrape_interval
        self.backfill = [Path(p) for p in backfill]
        self.start_timeout = start_timeout
        self._port = port
        self._process: processes.ManagedProcess | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; known once :meth:`start` has run."""
        if not self._port:
            raise RuntimeError("EmbeddedPrometheus has no port before start()")
        return f"http://{_HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def tsdb_dir(self) -> Path:
        return self.data_dir / "tsdb"

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_NAME

    def start(self) -> str:
        """Backfill, configure, start and wait until the history is queryable.

        Returns the URL. Raises :class:`tools.errors.MissingBinary` when prometheus or
        promtool is missing, :class:`tools.errors.BackendUnavailable` when promtool
        rejects a file or the server does not come up, and :class:`ValueError` when the
        history ends in the future.
        """
        if self.running:
            return self.url
        prometheus, promtool = binaries.find_prometheus()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Rebuilt from the files each time: the files are the source of truth, and blocks
        # left from an earlier run would duplicate or contradict them.
        shutil.rmtree(self.tsdb_dir, ignore_errors=True)
        self.tsdb_dir.mkdir()
        for path in self.backfill:
            self._backfill(promtool, path)
        blocks = _block_ranges(self.tsdb_dir)
        _refuse_future(blocks)

        config = self.data_dir / _CONFIG_NAME
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        if not self._port:
            self._port = processes.free_port(_HOST)
        argv = [
            str(prometheus),
            f"--config.file={config}",
            f"--web.listen-address={_HOST}:{self._port}",
            f"--storage.tsdb.path={self.tsdb_dir}",
            f"--storage.tsdb.retention.time={RETENTION}",
        ]
        self._process = processes.ManagedProcess(
            "prometheus", argv, log_path=self.log_path, cwd=self.data_dir
        )
        started = time.monotonic()
        self._process.start()
        with httpx.Client(base_url=self.url, timeout=2.0, trust_env=False) as client:
            # /-/ready turns 200 once the TSDB is open; the block check then proves the
            # history is served, not merely present on disk.
            self._process.wait_ready(lambda: _ready(client), timeout=self.start_timeout)
            remaining = max(1.0, self.start_timeout - (time.monotonic() - started))
            self._process.wait_ready(
                lambda: all(_block_served(client, mint) for mint, _ in blocks),
                timeout=remaining,
                what="serving the backfilled blocks",
            )
        log.info(
            "embedded prometheus ready at %s in %.1fs (%d backfilled blocks)",
            self.url, time.monotonic() - started, len(blocks),
        )
        return self.url

    def _backfill(self, promtool: Path, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"backfill file {path} does not exist")
        argv = [
            str(promtool), "tsdb", "create-blocks-from", "openmetrics",
            f"--max-block-duration={BLOCK_DURATION}", "--quiet",
            str(path), str(self.tsdb_dir),
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.start_timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise errors.BackendUnavailable("prometheus", f"promtool failed: {exc}") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip().splitlines()[-10:]
            raise errors.BackendUnavailable(
                "prometheus",
                f"promtool could not backfill {path} (exit {done.returncode}):\n"
                + "\n".join(output),
            )

    def _config(self) -> dict[str, object]:
        scrape_configs: list[dict[str, object]] = []
        if self.scrape_targets:
            scrape_configs.append({
                "job_name": _JOB_NAME,
                "metrics_path": "/metrics",
                "scheme": "http",
                # Keep the namespace/pod labels the target exports instead of renaming
                # them exported_*; RCA queries select on them.
                "honor_labels": True,
                # History generators may stamp their samples; take them as given.
                "honor_timestamps": True,
                # Backfilled history carries no job/instance; dropping the ones Prometheus
                # attaches makes each live series continue its history instead of starting
                # a twin series beside it.
                "metric_relabel_configs": [{"action": "labeldrop", "regex": "job|instance"}],
                "static_configs": [{"targets": list(self.scrape_targets)}],
            })
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "scrape_configs": scrape_configs,
        }

    def stop(self, timeout: float = 15.0) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL). Safe to call twice."""
        if self._process is not None:
            self._process.stop(timeout=timeout)

    def __enter__(self) -> EmbeddedPrometheus:
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
        return f"<EmbeddedPrometheus {self.data_dir} port={self._port or '-'} {state}>"


def _check_target(target: str) -> str:
    # Prometheus takes host:port and a separate metrics path; a URL here would produce a
    # config error only visible in the log.
    host, sep, port = target.rpartition(":")
    if "/" in target or not sep or not host or not port.isdigit():
        raise ValueError(f"scrape target must be host:port, got {target!r}")
    return target


def _block_ranges(tsdb_dir: Path) -> list[tuple[int, int]]:
    """(minTime, maxTime) in milliseconds of every block promtool wrote."""
    ranges = []
    for meta in sorted(tsdb_dir.glob("*/meta.json")):
        data = json.loads(meta.read_text())
        ranges.append((int(data["minTime"]), int(data["maxTime"])))
    return ranges


def _refuse_future(blocks: Sequence[tuple[int, int]]) -> None:
    if not blocks:
        return
    newest_s = max(maxt for _, maxt in blocks) / 1000.0
    ahead = newest_s - time.time()
    if ahead > _FUTURE_SLACK_S:
        raise ValueError(
            f"backfilled history ends {ahead:.0f}s in the future "
            f"({time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(newest_s))}); Prometheus "
            "would drop every live sample until then. Timestamps must be in seconds and "
            "not later than now."
        )


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/-/ready").status_code == 200
    except httpx.TransportError as exc:  # not listening yet
        log.debug("prometheus not ready yet: %s", exc)
        return False


def _block_served(client: httpx.Client, mint_ms: int) -> bool:
    # Label names over an instant inside the block come from that block's index, so a
    # non-empty answer means Prometheus has loaded it.
    at = f"{mint_ms / 1000.0:.3f}"
    try:
        response = client.get("/api/v1/labels", params={"start": at, "end": at})
        response.raise_for_status()
        names = response.json().get("data", [])
    except (httpx.HTTPError, ValueError) as exc:
        log.debug("prometheus not serving block at %s yet: %s", at, exc)
        return False
    return "__name__" in names
