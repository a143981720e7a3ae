"""Error signatures in container logs: missing or unparsable configuration, out-of-memory,
failing dependencies (with the host:port they name), and generic exceptions."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LogSignal", "scan_log"]


@dataclass(frozen=True)
class LogSignal:
    kind: str  # missing_config | bad_config | oom | disk_full | server_refused |
    #            dependency | dns | exception
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
_DISK_FULL = re.compile(r"No space left on device|ENOSPC|disk (?:is )?full|"
                        r"could not write to file", re.I)
_OOM = re.compile(r"OutOfMemoryError|Cannot allocate memory|MemoryError|out of memory|"
                  r"JavaScript heap out of memory|fatal error: runtime: out of memory", re.I)
_HOST_PORT = r"(?:https?://)?(?<![\w.\-])([a-z0-9][a-z0-9.\-]*[a-z0-9])(?::(\d{2,5}))"
# libpq names the server as `server at "HOST" (IP), port N failed: ...` (psycopg, asyncpg,
# SQLAlchemy all repeat it), or `on host "HOST" ... on port N` in older releases.
_LIBPQ = re.compile(r'server at "([a-z0-9][a-z0-9.\-]*[a-z0-9])"(?: \([0-9a-f.:]+\))?, port '
                    r"(\d{2,5}) failed|on host \"([a-z0-9][a-z0-9.\-]*[a-z0-9])\".*?port (\d{2,5})",
                    re.I)
_DEPENDENCY = [
    re.compile(r"(?:connection refused|connect(?:ion)? timed out|i/o timeout|no route to host|"
               r"connection reset|ECONNREFUSED|ETIMEDOUT|dial tcp|could not connect|failed to "
               r"connect|unable to connect|upstream connect error|timeout)[^\n]*?" + _HOST_PORT,
               re.I),
    re.compile(_HOST_PORT + r"[^\n]*?(?:connection refused|\brefused\b|timed out|i/o timeout|"
               r"unreachable|returned 5\d\d|status(?: code)?[ =:]5\d\d|503|502|504)", re.I),
    re.compile(r"(?:upstream|dependency|downstream|call(?:ing)? to|request to)\s+"
               r"['\"]?" + _HOST_PORT + r"['\"]?[^\n]*?(?:5\d\d|fail|error|unavailable)", re.I),
]
_DNS = re.compile(r"(?:no such host|Name or service not known|could not resolve|"
                  r"getaddrinfo ENOTFOUND|Temporary failure in name resolution)[^\n]*?"
                  r"([a-z0-9][a-z0-9.\-]*[a-z0-9])?", re.I)
# The server answers but refuses: out of connection slots, read-only, out of disk or
# memory, still loading. The callee is where the failure starts.
_SERVER_REFUSED = re.compile(
    r"too many (?:connections|clients)|remaining connection slots are reserved|"
    r"connection pool (?:exhausted|timeout)|max_connections|"
    r"ERR max number of clients reached|"
    r"\bMISCONF\b|\bREADONLY You can't write|OOM command not allowed|"
    r"\bLOADING Redis is loading|"
    r"the database system is (?:starting up|shutting down|in recovery mode)|"
    r"could not extend file|server is running with the --read-only option|"
    r"NotWritablePrimary|not master and slaveOk=false|NOT_ENOUGH_REPLICAS", re.I)
# A configuration file that does not parse: the process stops before doing anything.
_BAD_CONFIG_FILE = re.compile(
    r"yaml: line \d+:|yaml\.(?:scanner|parser)\.\w+Error|mapping values are not allowed|"
    r"did not find expected (?:key|node content)|could not find expected ':'|"
    r"json: cannot unmarshal|invalid character '.' (?:looking for|after|in)|JSONDecodeError|"
    r"Unexpected token .{1,20} in JSON|toml: line \d+|TomlDecodeError|"
    r"(?:failed|unable|cannot|could not) (?:to )?(?:parse|load|read|decode) "
    r"(?:the )?(?:config(?:uration)?|settings)(?: file)?\b|"
    r"(?:error|failed) (?:parsing|loading|reading|decoding) (?:the )?(?:config(?:uration)?|"
    r"settings)\b|\[emerg\]", re.I)
_CONFIG_PATH = re.compile(r"(/[\w.\-/]+\.(?:ya?ml|json|conf|cfg|ini|toml|properties|xml))")
_EXCEPTION = re.compile(r"Traceback \(most recent call last\)|Exception|panic:|FATAL|"
                        r"\bERROR\b|Unhandled|segmentation fault|Caused by:|\w+Error\b|"
                        # the last line of a traceback: a module-qualified class and colon
                        r"^(?:[a-z_]\w*\.)+[A-Z]\w*: ", re.I)
_NOT_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0"}
_SOURCE_FILES = {"go", "py", "java", "js", "mjs", "ts", "rb", "kt", "scala", "cs", "c", "cc",
                 "cpp", "h", "rs", "php", "ex", "exs", "erl", "clj", "swift", "groovy"}
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                        r"(?:Z|[+-]\d{2}:?\d{2})?|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b", re.I)
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")
_IPV4 = re.compile(r"^(?:\d{1,3}\.){3}\d{1,3}$")
# Go's resolver: `lookup HOST on 10.96.0.10:53: ...` (no such host, i/o timeout, ...).
_GO_LOOKUP = re.compile(r"lookup ([a-z0-9][a-z0-9.\-]*[a-z0-9]) on [0-9a-f.:\[\]]+:53\b", re.I)
# A DNS name (at least one dot and a letter in its first label) with a port.
_NAMED_HOST_PORT = re.compile(r"(?<![\w.\-])([a-z][a-z0-9\-]*(?:\.[a-z0-9\-]+)+):(\d{2,5})\b", re.I)


def _libpq_host(line: str) -> str:
    match = _LIBPQ.search(line)
    if not match:
        return ""
    host, port = (match.group(1), match.group(2)) if match.group(1) else (match.group(3),
                                                                          match.group(4))
    return "" if host.lower() in _NOT_HOSTS else f"{host.lower()}:{port}"


def _plausible_host(host: str) -> bool:
    if host in _NOT_HOSTS or _DATE_LIKE.match(host):
        return False
    if host.rpartition(".")[2] in _SOURCE_FILES:
        return False  # "handler.go:142" is a caller's file and line, not a server
    if host.replace(".", "").isdigit():
        return bool(_IPV4.match(host))
    return any(c.isalpha() for c in host)


def _dependency(line: str) -> LogSignal | None:
    libpq = _libpq_host(line)
    if libpq:
        return LogSignal("dependency", line, libpq)
    # Timestamps look like host:port to the patterns ("2025-03-03T12:41" has a port 41).
    clean = _TIMESTAMP.sub(" ", line)
    for pattern in _DEPENDENCY:
        pos = 0
        while (match := pattern.search(clean, pos)) is not None:
            host, port = match.group(1).lower(), match.group(2)
            if _plausible_host(host):
                break
            pos = match.start(1) + 1
        if match is None:
            continue
        if _IPV4.match(host):
            # Clients often print the name they dialled next to the address it resolved
            # to; the name says which Service, the address only maybe.
            named = _named_host(line)
            if named:
                return LogSignal("dependency", line, named)
        return LogSignal("dependency", line, f"{host}:{port}")
    return None


def _named_host(line: str) -> str:
    """The first DNS name with a port in the line (a structured log's `"redis": "h:p"`)."""
    clean = _TIMESTAMP.sub(" ", line)
    named = next((m for m in _NAMED_HOST_PORT.finditer(clean)
                  if _plausible_host(m.group(1).lower())), None)
    return f"{named.group(1).lower()}:{named.group(2)}" if named else ""


def _host_of(line: str) -> str:
    found = _dependency(line)
    return found.detail if found else ""


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
        if signal is None and _DISK_FULL.search(line) and not _host_of(line):
            signal = LogSignal("disk_full", line)
        if signal is None and _SERVER_REFUSED.search(line):
            # The server said so: the host it names (if any) is the exhausted database.
            signal = LogSignal("server_refused", line, _libpq_host(line) or _host_of(line)
                               or _named_host(line))
        if signal is None and _BAD_CONFIG_FILE.search(line) and not _host_of(line):
            path = _CONFIG_PATH.search(line)
            signal = LogSignal("bad_config", line, path.group(1) if path else "")
        if signal is None:
            lookup = _GO_LOOKUP.search(line)
            if lookup:
                signal = LogSignal("dns", line, lookup.group(1).lower())
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
