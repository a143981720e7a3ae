"""`opsbot serve`: one ASGI app (starlette, run by uvicorn).

Routes: ``/slack/events`` and ``/feishu/events`` for the platforms that are on,
``POST /alerts`` for Alertmanager, ``/healthz`` (the process answers), ``/readyz`` (the
backends answer) and ``/metrics``. Slack Socket Mode and the Feishu long connection are
started and stopped with the app's lifespan, as are the turns still running at shutdown.

A platform is on when its credentials are set, or when ``serve.platforms`` names it
(then missing credentials are a configuration error rather than a silent no-op).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import inspect
import logging
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import (
    alertmanager,
    dedupe,
    delivery,
    feishu_app,
    feishu_longconn,
    outbound,
    protocols,
    scheduler,
    slack_app,
)
from bot import metrics as metrics_mod
from bot import settings as settings_mod
from tools import errors

__all__ = ["ConfigError", "build_app", "enabled_platforms", "freeze_startup_heap", "serve"]

log = logging.getLogger(__name__)

PLATFORMS = ("slack", "feishu")
_MAX_ALERT_BYTES = 4 * 1024 * 1024


class ConfigError(errors.OpsbotError):
    """The settings do not describe a server that can run."""


def enabled_platforms(settings: settings_mod.Settings) -> list[str]:
    configured = {"slack": bool(settings.slack.bot_token),
                  "feishu": bool(settings.feishu.app_id)}
    wanted = [p.strip().lower() for p in settings.serve.platforms if p.strip()]
    for name in wanted:
        if name not in configured:
            raise ConfigError(f"serve.platforms: unknown platform {name!r} "
                              f"(choose from {', '.join(PLATFORMS)})")
        if not configured[name]:
            variable = "SLACK_BOT_TOKEN" if name == "slack" else "FEISHU_APP_ID"
            raise ConfigError(f"serve.platforms names {name} but {variable} is empty")
    return [p for p in (wanted or list(PLATFORMS)) if configured[p]]


class _Endpoints:
    """The routes that are not a chat platform."""

    def __init__(self, settings: settings_mod.Settings, handler: protocols.ChatHandler,
                 metrics: metrics_mod.Metrics) -> None:
        self._token = settings.serve.alerts_token
        self._handler = handler
        self._metrics = metrics

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        try:
            outcome: Any = self._handler.readiness()
            # Tolerate a synchronous readiness() as well as the protocol's async one.
            states = dict(await outcome if inspect.isawaitable(outcome) else outcome)
        except Exception as exc:  # a probe must answer, whatever broke
            log.exception("readiness check failed")
            states = {"handler": f"readiness check failed: {exc}"}
        failing = sorted(name for name, state in states.items() if state != "ok")
        return JSONResponse({"status": "unavailable" if failing else "ok",
                             "backends": states, "failing": failing},
                            status_code=503 if failing else 200)

    async def metrics(self, request: Request) -> Response:
        return Response(self._metrics.exposition(), media_type=metrics_mod.CONTENT_TYPE_LATEST)

    async def alerts(self, request: Request) -> Response:
        if self._token:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {self._token}".encode()):
                self._metrics.alerts.labels("unauthorized").inc()
                return JSONResponse({"error": "missing or wrong bearer token"}, 401)
        body = await request.body()
        if len(body) > _MAX_ALERT_BYTES:
            return JSONResponse({"error": "payload too large"}, 413)
        try:
            payload = alertmanager.parse_payload(body)
        except alertmanager.InvalidPayload as exc:
            self._metrics.alerts.labels("invalid").inc()
            return JSONResponse({"error": str(exc)}, 400)
        try:
            await self._handler.handle_alert(payload)
        except Exception:  # outermost edge of the webhook; Alertmanager retries on 5xx
            log.exception("alert notification %s failed", payload.group_key)
            self._metrics.alerts.labels("failed").inc()
            self._metrics.errors.labels("alerts").inc()
            return JSONResponse({"error": "the notification could not be handled"}, 500)
        self._metrics.alerts.labels("accepted").inc()
        return JSONResponse({"status": "accepted", "alerts": len(payload.alerts)}, 202)


def build_app(settings: settings_mod.Settings, handler: protocols.ChatHandler, *,
              redis_url: str = "", keys: dedupe.KeyStore | None = None) -> Starlette:
    """The whole server. ``redis_url`` backs event dedupe across replicas; without it
    (or ``keys``) dedupe only spans this process."""
    metrics = metrics_mod.Metrics()
    background = delivery.Background(metrics)
    if keys is None:
        keys = dedupe.RedisKeys.from_url(redis_url) if redis_url else dedupe.MemoryKeys()
    store: dedupe.KeyStore = keys
    endpoints = _Endpoints(settings, handler, metrics)
    routes = [
        Route("/healthz", endpoints.healthz, methods=["GET"]),
        Route("/readyz", endpoints.readyz, methods=["GET"]),
        Route("/metrics", endpoints.metrics, methods=["GET"]),
        Route("/alerts", endpoints.alerts, methods=["POST"]),
    ]
    platforms = enabled_platforms(settings)
    # A handler with an `outbound` registry gets the platforms' posters, so alert threads
    # and digests can start messages of their own.
    out: outbound.Outbound | None = getattr(handler, "outbound", None)
    slack: slack_app.SlackFrontEnd | None = None
    longconn: feishu_longconn.LongConnection | None = None
    if "slack" in platforms:
        slack = slack_app.SlackFrontEnd(settings, handler, keys=store, background=background,
                                        metrics=metrics)
        if out is not None:
            out.register("slack", slack_app.SlackPoster(slack.client),
                         alert_channel=settings.slack.alert_channel,
                         digest_channel=settings.slack.digest_channel)
        if slack.http_enabled:
            routes.append(Route("/slack/events", slack.endpoint, methods=["POST"]))
        elif not settings.slack.app_token:
            raise ConfigError("Slack needs SLACK_SIGNING_SECRET (HTTP events) or "
                              "SLACK_APP_TOKEN (Socket Mode)")
    if "feishu" in platforms:
        fs = settings.feishu
        feishu = feishu_app.FeishuFrontEnd(settings, handler, keys=store,
                                           background=background, metrics=metrics)
        if out is not None:
            out.register("feishu", feishu_app.FeishuPoster(feishu.api),
                         alert_channel=fs.alert_chat_id, digest_channel=fs.digest_chat_id)
        if fs.encrypt_key or fs.verification_token:
            routes.append(Route("/feishu/events", feishu.endpoint, methods=["POST"]))
        elif not fs.long_connection:
            raise ConfigError("Feishu needs FEISHU_ENCRYPT_KEY or FEISHU_VERIFICATION_TOKEN "
                              "(HTTP callbacks) or FEISHU_LONG_CONNECTION=true")
        if fs.long_connection:
            longconn = feishu_longconn.LongConnection(
                fs, feishu.dispatch, card_answer_s=settings.serve.card_answer_s)

    # Scheduled digests need the platforms' posters, so they are set up after them.
    digests = scheduler.from_handler(settings, handler, out)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            if slack is not None:
                await slack.start()
            if longconn is not None:
                longconn.start()
            if digests is not None:
                digests.start()
            log.info("opsbot serve: %s", ", ".join(r.path for r in routes))
            yield
        finally:
            if digests is not None:
                await digests.stop()
            if slack is not None:
                await slack.stop()
            if longconn is not None:
                await asyncio.to_thread(longconn.stop)
            await background.aclose(settings.serve.shutdown_grace_s)
            await store.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(metrics_mod.MetricsMiddleware, metrics=metrics,
                       endpoints=[r.path for r in routes])
    app.state.metrics = metrics
    app.state.background = background
    app.state.platforms = platforms
    app.state.digests = digests
    return app


def freeze_startup_heap() -> None:
    """Keep the cyclic garbage collector off what start-up built.

    By the time the server listens, the process holds some 600,000 objects (the graph,
    LangChain, the Kubernetes client models) that live as long as it does. Every full
    collection walked all of them, for most of a second in which no request was answered
    (bench/serve_load.py, 50 concurrent Slack requests on 2 cores). Frozen objects are
    still freed by reference counting; only cycles among them are never collected, which
    for start-up state is what we want.
    """
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def sigterm_returns() -> Iterator[None]:
    """Let SIGTERM end `serve` by returning.

    uvicorn shuts down gracefully on SIGTERM, then raises the signal again for whatever
    handler was there before it. With the default action the process would die there,
    before the runtime around the server stops its child servers and closes Redis; a
    handler that does nothing makes the server's return the end of it instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def serve(settings: settings_mod.Settings, handler: protocols.ChatHandler, *,
                redis_url: str = "") -> None:
    """Run the server until SIGINT/SIGTERM (uvicorn handles both gracefully); after
    SIGTERM it returns, so the caller's cleanup runs."""
    app = build_app(settings, handler, redis_url=redis_url)
    config = uvicorn.Config(app, host=settings.serve.host, port=settings.serve.port,
                            lifespan="on", log_level=settings.log_level.lower(),
                            access_log=False)
    freeze_startup_heap()
    with sigterm_returns():
        await uvicorn.Server(config).serve()
    log.info("server stopped")
