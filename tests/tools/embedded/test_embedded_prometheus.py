"""EmbeddedPrometheus: a week of backfilled history is queryable and live scrapes land on
top of it."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tools import errors
from tools.embedded import binaries, prometheus_server

pytestmark = pytest.mark.usefixtures("prometheus_available")

LABELS = 'namespace="shop",pod="web-1"'
WEEK_S = 7 * 24 * 3600
LIVE_VALUE = 10_000_000.0


def _history_timestamps(now: int) -> list[int]:
    """Every 5 min over the past week, then every minute over the last hour, up to now."""
    coarse = list(range(now - WEEK_S, now - 3600, 300))
    fine = list(range(now - 3600, now + 1, 60))
    return coarse + fine


def _gauge(ts: int) -> int:
    # Minutes of the hour: distinct at 1-minute resolution, easy to recompute.
    return (ts // 60) % 60


def _write_history(path: Path, now: int) -> list[int]:
    stamps = _history_timestamps(now)
    lines = ["# TYPE shop_requests counter", "# HELP shop_requests Requests served."]
    lines += [f"shop_requests_total{{{LABELS}}} {i * 10} {ts}" for i, ts in enumerate(stamps)]
    lines += ["# TYPE shop_queue_depth gauge", "# HELP shop_queue_depth Queued jobs."]
    lines += [f"shop_queue_depth{{{LABELS}}} {_gauge(ts)} {ts}" for ts in stamps]
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")
    return stamps


class _Exporter(http.server.BaseHTTPRequestHandler):
    body = (
        "# TYPE shop_requests_total counter\n"
        f"shop_requests_total{{{LABELS}}} {LIVE_VALUE}\n"
    ).encode()

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _poll(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_backfill_and_live_scrape(
    tmp_path: Path, exporter: str, gone: Callable[..., bool]
) -> None:
    now = int(time.time())
    history = tmp_path / "history.om"
    stamps = _write_history(history, now)

    prom = prometheus_server.EmbeddedPrometheus(
        tmp_path / "prom", scrape_targets=[exporter], scrape_interval="1s", backfill=[history]
    )
    with prom, httpx.Client(base_url=prom.url, trust_env=False, timeout=10) as client:
        week = client.get("/api/v1/query_range", params={
            "query": f"shop_queue_depth{{{LABELS}}}",
            "start": stamps[0], "end": now, "step": "300",
        }).json()
        assert week["status"] == "success"
        (series,) = week["data"]["result"]
        points = {int(float(t)): float(v) for t, v in series["values"]}
        assert min(points) == stamps[0]
        assert len(points) == len(range(stamps[0], now + 1, 300))
        assert all(points[ts] == _gauge(ts) for ts in stamps if ts in points)

        last_hour = client.get("/api/v1/query_range", params={
            "query": f"shop_queue_depth{{{LABELS}}}", "start": now - 3600, "end": now,
            "step": "60",
        }).json()["data"]["result"][0]["values"]
        assert [float(v) for _, v in last_hour] == [
            _gauge(ts) for ts in range(now - 3600, now + 1, 60)
        ]

        def live_value_served() -> bool:
            result = client.get("/api/v1/query", params={
                "query": f"shop_requests_total{{{LABELS}}}"
            }).json()["data"]["result"]
            return any(float(r["value"][1]) == LIVE_VALUE for r in result)

        # Targets are applied on a 5 s tick, then scraped within one interval.
        assert _poll(live_value_served, timeout=30), prom.log_path.read_text()[-2000:]
        pid = prom.pid
    assert not prom.running
    assert gone(pid)
    prom.stop()  # idempotent


def test_restart_rebuilds_from_the_files(tmp_path: Path, gone: Callable[..., bool]) -> None:
    history = tmp_path / "history.om"
    now = int(time.time())
    _write_history(history, now)
    prom = prometheus_server.EmbeddedPrometheus(tmp_path / "prom", backfill=[history])
    for _ in range(2):
        with prom, httpx.Client(base_url=prom.url, trust_env=False) as client:
            result = client.get("/api/v1/query", params={
                "query": "count_over_time(shop_requests_total[8d])", "time": now,
            }).json()["data"]["result"]
            # The same samples once, not twice: the TSDB is rebuilt, not appended to.
            assert [float(r["value"][1]) for r in result] == [
                float(len(_history_timestamps(now)))
            ]
            pid = prom.pid
        assert gone(pid)


def test_history_in_the_future_is_refused(tmp_path: Path) -> None:
    history = tmp_path / "millis.om"
    # Milliseconds where seconds belong put the history far in the future.
    history.write_text(f"# TYPE g gauge\ng 1 {int(time.time() * 1000)}\n# EOF\n")
    prom = prometheus_server.EmbeddedPrometheus(tmp_path / "prom", backfill=[history])
    with pytest.raises(ValueError, match="in the future"):
        prom.start()
    assert not prom.running


def test_promtool_rejection_is_reported(tmp_path: Path) -> None:
    history = tmp_path / "truncated.om"
    history.write_text(f"# TYPE g gauge\ng 1 {int(time.time())}\n")  # no "# EOF"
    prom = prometheus_server.EmbeddedPrometheus(tmp_path / "prom", backfill=[history])
    with pytest.raises(errors.BackendUnavailable, match="EOF"):
        prom.start()


def test_bad_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host:port"):
        prometheus_server.EmbeddedPrometheus(
            tmp_path, scrape_targets=["http://127.0.0.1:9100/metrics"]
        )


def test_missing_prometheus_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(binaries.PROMETHEUS_ENV, str(tmp_path / "no-such-prometheus"))
    with pytest.raises(errors.MissingBinary) as caught:
        prometheus_server.EmbeddedPrometheus(tmp_path).start()
    assert caught.value.program == "prometheus"
    assert "apt-get install -y prometheus" in caught.value.hint
    assert binaries.PROMETHEUS_ENV in caught.value.hint
