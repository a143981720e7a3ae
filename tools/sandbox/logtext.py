"""The text of container logs, per runtime: startup, request lines, failures.

Every line is a pure function of the pod, container, run and line number, so logs are
the same on every read and every run, and agree with the timeline (a crashed run ends
with its traceback, an OOM-killed JVM with its heap errors).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from tools.sandbox import ids
from tools.sandbox.behaviour import MIB, Behaviour
from tools.sandbox.lifecycle import ContainerSim, PodRecord, Run

__all__ = ["Line", "format_lines", "run_lines"]

Line = tuple[float, str]
_PATHS = {
    "go": ("POST /v1/checkout", "GET /v1/cart", "POST /v1/cart/items", "GET /v1/checkout/quote"),
    "java": ("GET /api/orders/{id}", "POST /api/orders", "GET /api/orders?customer={id}",
             "POST /api/payments/authorize"),
    "node": ("GET /", "GET /cart", "GET /products/{id}", "GET /checkout", "GET /static/app.js"),
}
_MAX_LINES = 5000  # the kubelet rotates container logs; older lines are gone


def _ts(t: float) -> str:
    return ids.rfc3339_micro(t)[:-4] + "Z"


def _startup(b: Behaviour, name: str, app: str) -> list[str]:
    v = b.version
    if b.runtime == "go":
        return [f"INFO  starting {app} version={v} commit={ids.safe_suffix(7, app, v)} "
                "go=go1.22.5", "INFO  configuration loaded from environment",
                *[f"INFO  upstream {dep} -> http://{dep}.shop.svc" for dep, _ in b.calls],
                f"INFO  listening on :{b.port}"]
    if b.runtime == "java":
        main = "".join(p.capitalize() for p in app.split("-")) + "Application"
        pkg = f"c.s.{app.replace('-', '')}"
        return [f" INFO 1 --- [           main] {pkg}.{main:<24}: Starting {main} v{v} using "
                "Java 21.0.3 with PID 1 (/app/app.jar started by app in /app)",
                f" INFO 1 --- [           main] {pkg}.{main:<24}: The following 1 profile is "
                'active: "prod"',
                " INFO 1 --- [           main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat "
                f"initialized with port {b.port} (http)",
                " INFO 1 --- [           main] com.zaxxer.hikari.HikariDataSource       : "
                "HikariPool-1 - Start completed.",
                " INFO 1 --- [           main] o.s.b.w.embedded.tomcat.TomcatWebServer  : Tomcat "
                f"started on port {b.port} (http) with context path '/'",
                f" INFO 1 --- [           main] {pkg}.{main:<24}: Started {main} in "
                f"{b.startup_s - 0.8:.3f} seconds (process running for {b.startup_s:.3f})"]
    if b.runtime == "node":
        return [f'{{"level":30,"pid":1,"hostname":"{name}","msg":"{app} {v} starting"}}',
                f'{{"level":30,"pid":1,"hostname":"{name}","msg":"server listening on port '
                f'{b.port}"}}']
    if b.runtime == "python":
        return [f"INFO {app}.main: starting {app} {v} (python 3.12.3, pid 1)",
                f"INFO {app}.settings: loading settings from environment"]
    if b.runtime == "redis":
        return ["1:C * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
                f"1:C * Redis version={v}, bits=64, commit=00000000, modified=0, pid=1, just "
                "started", "1:M * monotonic clock: POSIX clock_gettime",
                "1:M * Running mode=standalone, port=6379.", "1:M * Server initialized",
                "1:M * Ready to accept connections tcp"]
    if b.runtime == "postgres":
        return [f"LOG:  starting PostgreSQL {v} on x86_64-pc-linux-gnu, compiled by gcc "
                "(Debian 12.2.0-14) 12.2.0, 64-bit", 'LOG:  listening on IPv4 address '
                '"0.0.0.0", port 5432', "LOG:  database system was shut down at startup",
                "LOG:  database system is ready to accept connections"]
    if b.runtime == "coredns":
        return [".:53", "[INFO] plugin/reload: Running configuration SHA512 = "
                + ids.safe_suffix(12, "coredns") * 2, f"CoreDNS-{v}", "linux/amd64, go1.21.7"]
    return [f"starting {app} {v}"]


def _crash(b: Behaviour, var: str, app: str) -> list[str]:
    if b.runtime == "python":
        return ["Traceback (most recent call last):",
                f'  File "/app/{app}/main.py", line 88, in <module>', "    main()",
                f'  File "/app/{app}/main.py", line 71, in main',
                "    settings = Settings.from_env()",
                f'  File "/app/{app}/settings.py", line 34, in from_env',
                f'    queue_url=os.environ["{var}"],',
                "              ~~~~~~~~~~^^^^^^^^^^^^^",
                '  File "<frozen os>", line 714, in __getitem__', f"KeyError: '{var}'"]
    if b.runtime == "java":
        return ["ERROR 1 --- [           main] o.s.boot.SpringApplication               : "
                "Application run failed",
                "org.springframework.beans.factory.BeanCreationException: Error creating bean "
                f"with name 'settings': Could not resolve placeholder '{var}' in value "
                f'"${{{var}}}"', "", "***************************",
                "APPLICATION FAILED TO START", "***************************", "",
                "Description:", "", f"Required environment variable {var} is not set."]
    if b.runtime == "node":
        return [f"Error: required environment variable {var} is not set",
                "    at loadConfig (/app/dist/config.js:14:11)",
                "    at Object.<anonymous> (/app/dist/server.js:9:16)"]
    return [f"Error: required environment variable {var} is not set"]


def _request(b: Behaviour, seed: str, k: int, name: str, app: str) -> list[str]:
    u = ids.unit(seed, k)
    failed = ids.unit(seed, k, "err") < b.error_ratio
    code = "200"
    if failed:
        pick, acc = ids.unit(seed, k, "code"), 0.0
        for candidate, share in b.error_codes:
            acc += share
            code = candidate
            if pick < acc:
                break
    spread = math.exp(0.5 * math.sqrt(-2 * math.log(max(ids.unit(seed, k, "lat"), 1e-9)))
                      * math.cos(2 * math.pi * u))
    ms = max(1, round(b.latency_ms * spread * (18 if failed and b.failing_upstream else 1)))
    paths = _PATHS.get(b.runtime, ("GET /",))
    path = paths[int(u * len(paths))].replace("{id}", str(10000 + ids.digest(seed, k) % 90000))
    rid = f"{ids.digest(seed, k, 'rid'):016x}"
    if b.runtime == "go":
        lines = []
        if failed and b.failing_upstream:
            lines.append(f"ERROR upstream {b.failing_upstream} returned {code} after "
                         f"{ms / 1000:.1f}s request_id={rid}")
        level = "ERROR" if failed else "INFO "
        method, _, url = path.partition(" ")
        return [*lines, f"{level} http request method={method} path={url} status={code} "
                        f"duration={ms}ms request_id={rid}"]
    if b.runtime == "java":
        thread = f"nio-{b.port}-exec-{1 + ids.digest(seed, k, 't') % 10}"
        level = "ERROR" if failed else " INFO"
        pkg = f"c.s.{app.replace('-', '')}.web.ApiController"
        return [f"{level} 1 --- [{thread:>15}] {pkg:<40}: {path} -> {code} ({ms} ms)"]
    if b.runtime == "node":
        method, _, url = path.partition(" ")
        severity = 50 if failed else 30
        return [f'{{"level":{severity},"pid":1,"hostname":"{name}","req":{{"method":"{method}",'
                f'"url":"{url}"}},"res":{{"statusCode":{code}}},"responseTime":{ms},'
                '"msg":"request completed"}']
    if b.runtime == "python":
        kind = ("order.created", "order.paid", "order.shipped")[int(u * 3)]
        return [f"INFO {app}.consumer: processed message {rid[:12]} type={kind} in {ms}ms"]
    if b.runtime == "redis":
        return [f"1:M * {100 + int(u * 900)} changes in 300 seconds. Saving...",
                "1:M * Background saving started by pid 1", "1:M * DB saved on disk"]
    if b.runtime == "postgres":
        return ["LOG:  checkpoint starting: time",
                f"LOG:  checkpoint complete: wrote {int(u * 900) + 40} buffers "
                f"({u * 5:.1f}%); 0 WAL file(s) added, 0 removed, 1 recycled"]
    return []


def _oom(b: Behaviour, c: ContainerSim, run: Run, a: float, z: float) -> Iterator[Line]:
    """GC pressure warnings as the heap nears the limit, then the OutOfMemoryError."""
    if run.end is None or not c.memory_limit or run.reason != "OOMKilled":
        return
    high = 0.85 * c.memory_limit
    if b.memory_growth_mib_per_min > 0:
        base = b.memory_base_mib * MIB
        reach = (high - base) / (b.memory_growth_mib_per_min * MIB) * 60
        first = run.start + max(reach, b.startup_s)
    else:
        first = run.start + b.startup_s
    t = first
    while t < run.end - 2.0:
        if a <= t <= z:
            used = min(b.memory_bytes(t - run.start), c.memory_limit) / MIB
            share = used * MIB / c.memory_limit * 100
            yield t, (f" WARN 1 --- [       GC-pause] c.s.jvm.MemoryMonitor                   "
                      f": heap usage {share:.0f}% after full GC ({used:.0f}MiB of "
                      f"{c.memory_limit / MIB:.0f}MiB)")
        t += 20.0
    last = run.end - 1.5
    if a <= last <= z:
        thread = f"http-nio-{b.port}-exec-7"
        for text in (f'Exception in thread "{thread}" java.lang.OutOfMemoryError: Java heap space',
                     "\tat java.base/java.util.HashMap.resize(HashMap.java:710)",
                     "\tat java.base/java.util.HashMap.putVal(HashMap.java:635)",
                     "\tat c.s.orders.cache.OrderCache.put(OrderCache.java:58)"):
            yield last, text


def run_lines(record: PodRecord, c: ContainerSim, run: Run, a: float, z: float,
              tail: int | None) -> list[Line]:
    """Lines of one container run with timestamps in [a, z] (the last `tail` only)."""
    b = c.behaviour
    if b is None:
        return []
    app = record.workload if record.workload != record.name else c.name
    stop = min(z, run.end) if run.end is not None else z
    lines: list[Line] = []
    startup = _startup(b, record.name, app)
    step = max(b.startup_s - 0.5, 0.1) / max(len(startup), 1)
    if run.reason == "Error":
        step = (run.end - run.start) / (len(startup) + 2) if run.end else step
    for i, text in enumerate(startup):
        moment = run.start + 0.05 + i * step
        if a <= moment <= stop:
            lines.append((moment, text))
    fault = c.timeline.fault
    if run.reason == "Error" and run.end is not None:
        var = fault.detail if fault.kind == "crash" else "CONFIG"
        moment = run.end - 0.05
        if a <= moment <= z:
            lines += [(moment, text) for text in _crash(b, var, app)]
        return lines[-tail:] if tail is not None else lines
    if b.log_every_s > 0:
        origin = run.start + b.startup_s + 0.37
        serving_until = stop
        if run.reason == "OOMKilled" and run.end is not None:
            serving_until = min(stop, run.end - 1.6)  # requests stop at the heap error
        k_hi = math.floor((serving_until - origin) / b.log_every_s)
        k_lo = max(0, math.ceil((a - origin) / b.log_every_s))
        k_lo = max(k_lo, k_hi - (tail if tail is not None else _MAX_LINES) + 1)
        seed = f"{record.uid}/{c.name}/{run.index}"
        for k in range(k_lo, k_hi + 1):
            moment = origin + k * b.log_every_s
            lines += [(moment, text) for text in _request(b, seed, k, record.name, app)]
    lines += list(_oom(b, c, run, a, stop))
    lines.sort(key=lambda item: item[0])
    if tail is not None:
        return lines[-tail:]
    return lines[-_MAX_LINES:]


def format_lines(lines: list[Line], timestamps: bool, runtime: str) -> str:
    out = []
    for moment, text in lines:
        # Log records carry the app's timestamp; tracebacks and banners are printed raw.
        record = text.lstrip()[:5].rstrip() in ("INFO", "WARN", "ERROR", "DEBUG")
        if runtime in ("go", "java", "python") and record:
            text = f"{_ts(moment)} {text}"
        elif runtime == "postgres":
            text = f"{_ts(moment).replace('T', ' ')[:-1]} UTC [1] {text}"
        if timestamps:
            text = f"{ids.rfc3339_nano(moment)} {text}"
        out.append(text)
    return "".join(line + "\n" for line in out)
