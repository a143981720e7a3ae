"""The HTTP side of the sandbox API server: routing, discovery, Tables, watches.

A stdlib ThreadingHTTPServer in a background thread. Every request takes the cluster
lock and first brings the cluster up to the clock (`reconcile`), so what a client reads
is always consistent with the elapsed time; any bearer token is accepted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.sandbox import apierrors, openapi, tables
from tools.sandbox.events import to_events_v1
from tools.sandbox.handlers import Handlers, Target
from tools.sandbox.resources import Registry
from tools.sandbox.selection import FieldSelector, LabelSelector

__all__ = ["ApiServer", "Response"]

log = logging.getLogger(__name__)
JSON = "application/json"
_WATCH_POLL_S = 0.2
_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.4",
            "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b", "gitTreeState": "clean",
            "buildDate": "2024-12-10T18:01:53Z", "goVersion": "go1.22.10",
            "compiler": "gc", "platform": "linux/amd64"}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    stream: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj: Any) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":")).encode())


def _error(err: apierrors.ApiError) -> Response:
    return _json(err.code, err.status())


class ApiServer:
    def __init__(self, handlers: Handlers, registry: Registry, lock: threading.RLock,
                 reconcile: Callable[[], None], metrics: Callable[[], str]) -> None:
        self.handlers = handlers
        self.registry = registry
        self.lock = lock
        self.reconcile = reconcile
        self.metrics = metrics
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, host: str, port: int) -> int:
        api = self

        class Handler(_HttpHandler):
            server_api = api

        self._stopping.clear()
        self._server = _Server((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="sandbox-apiserver", daemon=True)
        self._thread.start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- dispatch ----------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str],
                 body: bytes) -> Response:
        url = urlsplit(raw_path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        path = url.path.rstrip("/") or "/"
        try:
            with self.lock:
                self.reconcile()
                response = self._route(method, path, query, headers, body)
                if method != "GET":
                    self.reconcile()  # controllers react to the change at once
                return response
        except apierrors.ApiError as err:
            return _error(err)
        except Exception as exc:  # the outermost handler: answer 500, keep serving
            log.exception("sandbox API request failed: %s %s", method, raw_path)
            return _error(apierrors.ApiError(500, "InternalError", f"internal error: {exc}"))

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> Response:
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/metrics":
            return Response(200, self.metrics().encode(), "text/plain; version=0.0.4; "
                            "charset=utf-8")
        if path == "/version":
            return _json(200, _VERSION)
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        if parts == ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] \
                and method == "POST":
            return self._access_review(body)
        if parts == ["api"]:
            return _json(200, {"kind": "APIVersions", "versions": ["v1"],
                               "serverAddressByClientCIDRs": [{
                                   "clientCIDR": "0.0.0.0/0",
                                   "serverAddress": headers.get("host", "")}]})
        if parts == ["apis"]:
            return _json(200, self.registry.api_group_list())
        if parts and parts[0] == "apis" and len(parts) == 2:
            if parts[1] not in self.registry.group_versions():
                raise apierrors.ApiError(404, "NotFound", "the server could not find the "
                                         "requested resource")
            return _json(200, self.registry.api_group(parts[1]))
        if len(parts) >= 2 and parts[0] in ("api", "apis"):
            group, version, rest = (("", parts[1], parts[2:]) if parts[0] == "api"
                                    else (parts[1], parts[2] if len(parts) > 2 else "",
                                          parts[3:]))
            if not rest:
                found = self.registry.resource_list(group, version)
                if found is None:
                    raise apierrors.ApiError(404, "NotFound", "the server could not find the "
                                             "requested resource")
                return _json(200, found)
            return self._resource(method, group, version, rest, query, headers, body)
        raise apierrors.ApiError(404, "NotFound", "the server could not find the requested "
                                 "resource")

    def _openapi(self, rest: list[str]) -> Response:
        if not rest:
            return _json(200, openapi.root_document(self.registry))
        if rest[0] == "api" and len(rest) == 2:
            found = openapi.group_version_document(self.registry, "", rest[1])
        elif rest[0] == "apis" and len(rest) == 3:
            found = openapi.group_version_document(self.registry, rest[1], rest[2])
        else:
            found = None
        if found is None:
            raise apierrors.ApiError(404, "NotFound", "the server could not find the "
                                     "requested resource")
        return _json(200, found)

    @staticmethod
    def _access_review(body: bytes) -> Response:
        """`kubectl auth can-i`: the sandbox has no RBAC, everything is allowed."""
        try:
            review = json.loads(body or b"{}")
        except ValueError as exc:
            raise apierrors.bad_request(f"the body of the request could not be decoded: "
                                        f"{exc}") from exc
        review["status"] = {"allowed": True, "reason": "the sandbox cluster has no RBAC"}
        return _json(201, review)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace = None
        if (len(rest) >= 3 and rest[0] == "namespaces"
                and self.registry.find(group, version, rest[2]) is not None):
            namespace, rest = rest[1], rest[2:]
        rtype = self.registry.find(group, version, rest[0])
        if rtype is None or len(rest) > 3:
            raise apierrors.ApiError(404, "NotFound", "the server could not find the requested "
                                     "resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rtype.subresources:
            raise apierrors.ApiError(404, "NotFound", "the server could not find the requested "
                                     "resource")
        if not rtype.namespaced:
            namespace = None
        return Target(rtype, namespace, name, sub)

    def _resource(self, method: str, group: str, version: str, rest: list[str],
                  query: dict[str, str], headers: dict[str, str], body: bytes) -> Response:
        target = self._target(group, version, rest)
        h = self.handlers
        wants_table = "as=Table" in headers.get("accept", "")
        if method == "GET":
            if target.sub == "log":
                return Response(200, h.log(target, query).encode(), "text/plain")
            if query.get("watch") in ("1", "true", "True"):
                return Response(200, content_type=JSON,
                                stream=self._watch(target, query, wants_table))
            if target.name is None:
                return _json(200, h.table(target, query) if wants_table
                             else h.list(target, query))
            if wants_table and target.sub is None:
                return _json(200, h.table(target, query))
            return _json(200, h.get(target))
        if method == "POST" and target.name is None:
            return _json(201, h.create(target, body, query))
        if method == "POST" and target.sub == "eviction":
            return _json(201, h.evict(target, query))
        if method == "PUT" and target.name is not None:
            return _json(200, h.update(target, body, query))
        if method == "PATCH" and target.name is not None:
            return _json(200, h.patch(target, body, headers.get("content-type", ""), query))
        if method == "DELETE":
            if target.name is None:
                return _json(200, h.delete_collection(target, query))
            return _json(200, h.delete(target, query))
        raise apierrors.ApiError(405, "MethodNotAllowed", f"{method} is not supported here")

    # -- watch -------------------------------------------------------------------------
    def _watch(self, target: Target, query: dict[str, str], as_table: bool) -> Iterator[bytes]:
        labels = LabelSelector.parse(query.get("labelSelector"))
        fields = FieldSelector.parse(query.get("fieldSelector"))
        timeout = min(float(query.get("timeoutSeconds") or 300), 1800.0)
        rtype = target.rtype

        def wanted(obj: dict[str, Any]) -> bool:
            meta = obj.get("metadata", {})
            if target.namespace and meta.get("namespace") != target.namespace:
                return False
            if target.name and meta.get("name") != target.name:
                return False
            return labels.matches(meta.get("labels")) and fields.matches(obj)

        first = [True]

        def line(kind: str, obj: dict[str, Any]) -> bytes:
            shown = to_events_v1(obj) if rtype.view_of == ("", "events") else obj
            if as_table:
                # `kubectl get -w` prints rows: each event carries a one-row Table, with
                # the column definitions only in the first, as the API server does.
                shown = tables.render(rtype.kind, [shown], self.handlers.controller.time,
                                      str(obj.get("metadata", {}).get("resourceVersion", "")))
                if not first[0]:
                    shown["columnDefinitions"] = []
                first[0] = False
            return json.dumps({"type": kind, "object": shown}).encode() + b"\n"

        with self.lock:
            start = query.get("resourceVersion") or ""
            initial = [] if start not in ("", "0") else [
                line("ADDED", o) for o in self.handlers.store.list(rtype, target.namespace)
                if wanted(o)]
            since = int(start) if start.isdigit() and start != "0" else \
                self.handlers.store.resource_version

        def events() -> Iterator[bytes]:
            nonlocal since
            yield from initial
            deadline = time.monotonic() + timeout
            while not self._stopping.is_set() and time.monotonic() < deadline:
                with self.lock:
                    self.reconcile()
                    changes = self.handlers.store.changes_since(since)
                    out = [line(change[1], change[3]) for change in changes or []
                           if change[2] == rtype.key and wanted(change[3])]
                    if changes:
                        since = changes[-1][0]
                if changes is None:
                    gone = apierrors.ApiError(410, "Expired", "too old resource version")
                    yield json.dumps({"type": "ERROR", "object": gone.status()}).encode()
                    return
                yield from out
                self._stopping.wait(_WATCH_POLL_S)
        return events()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients closing keep-alive connections is routine, not worth a traceback.
        log.debug("sandbox api: connection from %s ended with an error", client_address,
                  exc_info=True)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_api: ApiServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sandbox api: " + format, *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server_api.dispatch(self.command, self.path, headers, body)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in response.stream:
                if chunk:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle
