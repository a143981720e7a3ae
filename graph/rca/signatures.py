"""Error signatures in container logs: missing configuration, out-of-memory, failing
dependencies (with the host:port they name), and generic exceptions."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LogSignal", "scan_log"]


@dataclass(frozen=True)
class LogSignal:
    kind: str  # missing_config | oom | dependency | dns | exception | db_exhausted
    line: str
    detail: str = ""  # the env var / key / host:port the line names


_MISSING_ENV = [
    re.compile(r"(?:environment variable|env var(?:iable)?|env)\s+['\"`]?([A-Z][A-Z0-9_]{2,})"
               r"['\"`]?\s+(?:is\s+)?(?:not set|missing|undefined|unset|required|empty)", re.I),
    re.compile(r"(?:missing|required|undefined)\s+(?:required\s+)?(?:environment variable|env "
               r"var(?:iable)?|env|setting|config(?:uration)? key)\s*[:=]?\s*['\"`]?"
               r"([A-Za-z][A-Za-z0-9_.\-]{2,})", re.I),
    re.compile(r"KeyError: ['\"]([A-Z][A-Z0-9_]{2,})['\"]"),
    re.compile(r"(?:no such file or directory|cannot open|failed to (?:read|load|parse))"
               r"[^\n]*?([\w./-]+\.(?:ya?ml|json|conf|ini|toml|properties))", re.I),
    re.compile(r"(?:invalid|malformed|bad) (?:config(?:uration)?|setting)[^\n]*?"
               r"['\"`]?([A-Za-z][\w.\-]+)?", re.I),
]
_OOM = re.compile(r"OutOfMemoryError|Cannot allocate memory|MemoryError|out of memory|"
                  r"JavaScript heap out of memory|fatal error: runtime: out of memory", re.I)
_HOST_PORT = r"(?:https?://)?([a-z0-9][a-z0-9.\-]*[a-z0-9])(?::(\d{2,5}))"
_DEPENDENCY = [
    re.compile(r"(?:connection refused|connect(?:ion)? timed out|i/o timeout|no route to host|"
               r"connection reset|ECONNREFUSED|ETIMEDOUT|dial tcp|could not connect|failed to "
               r"connect|unable to connect|upstream connect error|timeout)[^\n]*?" + _HOST_PORT,
               re.I),
    re.compile(_HOST_PORT + r"[^\n]*?(?:connection refused|timed out|i/o timeout|"
               r"unreachable|returned 5\d\d|status(?: code)?[ =:]5\d\d|503|502|504)", re.I),
    re.compile(r"(?:upstream|dependency|downstream|call(?:ing)? to|request to)\s+"
               r"['\"]?" + _HOST_PORT + r"['\"]?[^\n]*?(?:5\d\d|fail|error|unavailable)", re.I),
]
_DNS = re.compile(r"(?:no such host|Name or service not known|could not resolve|"
                  r"getaddrinfo ENOTFOUND|Temporary failure in name resolution)[^\n]*?"
                  r"([a-z0-9][a-z0-9.\-]*[a-z0-9])?", re.I)
_DB_EXHAUSTED = re.compile(r"too many connections|remaining connection slots are reserved|"
                           r"connection pool (?:exhausted|timeout)|max_connections|"
                           r"ERR max number of clients reached", re.I)
_EXCEPTION = re.compile(r"Traceback \(most recent call last\)|Exception|panic:|FATAL|"
                        r"\bERROR\b|Unhandled|segmentation fault", re.I)
_NOT_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0"}


def _dependency(line: str) -> LogSignal | None:
    for pattern in _DEPENDENCY:
        match = pattern.search(line)
        if match:
            host, port = match.group(1).lower(), match.group(2)
            if host in _NOT_HOSTS or (host.replace(".", "").isdigit() and port is None):
                continue
            return LogSignal("dependency", line, f"{host}:{port}")
    return None


def scan_log(text: str, *, limit: int = 40) -> list[LogSignal]:
    """Signals in a log, most specific kind per line, at most `limit`, newest last."""
    signals: list[LogSignal] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        signal: LogSignal | None = None
        for pattern in _MISSING_ENV:
            match = pattern.search(line)
            if match:
                signal = LogSignal("missing_config", line, (match.group(1) or "").strip())
                break
        if signal is None and _OOM.search(line):
            signal = LogSignal("oom", line)
        if signal is None and _DB_EXHAUSTED.search(line):
            signal = LogSignal("db_exhausted", line)
        if signal is None:
            signal = _dependency(line)
        if signal is None:
            dns = _DNS.search(line)
            if dns:
                signal = LogSignal("dns", line, (dns.group(1) or "").lower())
        if signal is None and _EXCEPTION.search(line):
            signal = LogSignal("exception", line)
        if signal is not None:
            signals.append(signal)
    return signals[-limit:]
