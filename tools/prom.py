"""PromQL access through prometheus-api-client, with errors translated at the edge."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from tools import errors

__all__ = ["PromApi", "QueryError", "parse_duration", "parse_time"]


class QueryError(errors.OpsbotError):
    """Prometheus rejected the query (bad PromQL, bad range)."""


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'5m', '1h30m', '90s' or plain seconds -> seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, number = 0.0, ""
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in _UNITS and number:
            total += float(number) * _UNITS[ch]
            number = ""
        else:
            raise QueryError(f"bad duration {text!r}: use forms like 30s, 5m, 1h, 2d")
    if number:
        raise QueryError(f"bad duration {text!r}: a unit (s, m, h, d, w) is missing")
    return total


def parse_time(text: str | float | None, now: datetime | None = None) -> datetime:
    """An RFC 3339 time, epoch seconds, 'now' or 'now-1h'."""
    now = now or datetime.now(UTC)
    if text is None or text == "" or text == "now":
        return now
    if isinstance(text, int | float):
        return datetime.fromtimestamp(float(text), UTC)
    text = text.strip()
    if text.startswith("now-"):
        return datetime.fromtimestamp(now.timestamp() - parse_duration(text[4:]), UTC)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(f"bad time {text!r}: use RFC 3339, epoch seconds or now-1h") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _clean_value(raw: str) -> float | None:
    value = float(raw)
    return None if math.isnan(value) or math.isinf(value) else value


class PromApi:
    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout_s
        # One quick retry: the library's default backs off for seconds per request, and
        # a down Prometheus should be reported, not waited for.
        retry = Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504))
        self._client = PrometheusConnect(url=self.url, disable_ssl=True, retry=retry,
                                         timeout=math.ceil(timeout_s))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except requests.RequestException as exc:
            raise errors.BackendUnavailable("prometheus", f"{self.url}: {exc}") from exc
        except PrometheusApiClientException as exc:
            text = str(exc)
            # 400 and 422 mean the query itself is wrong; anything else is the server.
            if "HTTP Status Code 400" in text or "HTTP Status Code 422" in text:
                raise QueryError(text) from exc
            raise errors.BackendUnavailable("prometheus", text) from exc

    def ready(self) -> bool:
        try:
            response = requests.get(f"{self.url}/-/ready", timeout=self._timeout)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def instant(self, query: str, at: datetime | None = None) -> list[dict[str, Any]]:
        params = {"time": at.timestamp()} if at else None
        result = self._call(self._client.custom_query, query, params=params)
        rows = []
        for series in result or []:
            if "value" in series:
                ts, raw = series["value"]
                rows.append({"metric": series.get("metric", {}), "timestamp": float(ts),
                             "value": _clean_value(raw)})
            else:  # scalar or string results come back bare
                rows.append({"metric": {}, "timestamp": float(series[0]) if isinstance(
                    series, list) else 0.0, "value": None})
        return rows

    def range(self, query: str, start: datetime, end: datetime,
              step_s: float) -> list[dict[str, Any]]:
        if end <= start:
            raise QueryError("the range end must be after its start")
        step = f"{max(1, int(step_s))}s"
        result = self._call(self._client.custom_query_range, query, start_time=start,
                            end_time=end, step=step)
        return [{
            "metric": series.get("metric", {}),
            "points": [(float(ts), _clean_value(raw)) for ts, raw in series.get("values", [])],
        } for series in result or []]

    def metric_names(self) -> list[str]:
        return sorted(self._call(self._client.all_metrics))
