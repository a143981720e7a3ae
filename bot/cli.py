"""`opsbot` command line: demo, console, say, route, mcp, serve (DESIGN.md section 3).

Settings are loaded once here and passed down. Errors the user can act on (a missing
binary, an unreachable backend) are printed as one clear line and exit 2, without a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot import alertmanager, audit_cli, console, digest_cli, forecast_cli, render_text, runtime
from bot import settings as settings_mod
from graph import chat, intents, router
from knowledge import cli as kb_cli
from tools import errors

__all__ = ["main"]

log = logging.getLogger("opsbot")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # Per-request chatter from libraries drowns the console.
    for noisy in ("mcp", "httpx", "urllib3", "redisvl", "langgraph", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# -- commands ------------------------------------------------------------------------------

# With no approvers configured the demo would have nobody to approve its cards: these
# sandbox-only names let one terminal play requester and approvers (`--as`).
DEMO_APPROVERS = {"low": ["console-user", "oncall-lead", "sre-bob"],
                  "medium": ["console-user", "oncall-lead", "sre-bob"],
                  "high": ["console-user", "oncall-lead", "sre-bob"],
                  "critical": ["console-user", "oncall-lead", "sre-bob"]}


async def _demo(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    print("Starting opsbot on its embedded default (this takes a few seconds)...",
          file=sys.stderr)
    if not settings.policy.approvers:
        settings.policy.approvers = DEMO_APPROVERS
    async with runtime.Runtime(settings, scenario=args.scenario) as rt:
        print("opsbot demo is running:", *("  " + line for line in rt.describe()), sep="\n")
        if rt.sandbox is not None:
            print(f"  try kubectl too: kubectl --kubeconfig {rt.kubeconfig} get pods -n shop")
        if settings.policy.approvers is DEMO_APPROVERS:
            print("  demo approvers: console-user, oncall-lead, sre-bob "
                  "(e.g. `approve ID --as oncall-lead`)")
        print()
        await console.run_console(rt, user=args.user)
    return 0


async def _console(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    async with runtime.Runtime(settings, scenario=args.scenario) as rt:
        for line in rt.describe():
            print(line, file=sys.stderr)
        await console.run_console(rt, user=args.user)
    return 0


async def _say_alert(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    """`opsbot say --alert FILE`: an Alertmanager payload, investigated as the webhook
    would, with the thread printed instead of posted."""
    payload = alertmanager.parse_payload(Path(args.alert).read_bytes())
    async with runtime.Runtime(settings, scenario=args.scenario) as rt:
        replies = await rt.alerts.process(payload) if rt.alerts else []
    if args.json:
        _print_json({"alert": payload.group_key, "status": payload.status,
                     "replies": [r.model_dump() for r in replies]})
    else:
        for reply in replies:
            print(render_text.render_reply(reply))
    return 0


async def _say(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    if args.alert:
        return await _say_alert(args, settings)
    if not args.text:
        print("opsbot say: give TEXT or --alert FILE", file=sys.stderr)
        return 2
    async with runtime.Runtime(settings, scenario=args.scenario) as rt:
        request = chat.ChatRequest(platform="cli", channel="say", thread=args.thread,
                                   user=args.user, text=args.text)
        result = await rt.handle(request)
    if args.json:
        _print_json({"text": args.text, "route": result.route, "target": result.target,
                     "tool_calls": result.tool_calls,
                     "replies": [r.model_dump() for r in result.replies]})
    else:
        for reply in result.replies:
            print(render_text.render_reply(reply))
            for button in reply.buttons:
                print(f"    action_id={button.action_id} value={button.value}")
    return 0


def _route(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    classifier = intents.IntentClassifier.load_default()
    for line in sys.stdin:
        text = line.strip()
        if not text:
            continue
        decided = router.route_message(text, classifier)
        row = {"text": text, "route": decided.route, "target": decided.target}
        if args.json:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{decided.route:<9} {decided.target or '-':<20} {text}\n")
    return 0


def _replay(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    from bot import replay

    return replay.run_replay(args, settings)


def _capture(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    from bot import backends
    from tools import capture

    with backends.Backends(settings, scenario=args.scenario) as live:
        assert live.kube_api is not None
        out, problems = capture.capture_bundle(live.kube_api, live.prom_api,
                                               namespace=args.namespace, out=args.out,
                                               question=args.question, minutes=args.minutes)
    print(f"bundle written to {out}")
    for problem in problems:
        print(f"  not captured: {problem}", file=sys.stderr)
    return 0


def _mcp(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    from bot import mcp_main

    return mcp_main.run(settings, transport=args.transport, host=args.host, port=args.port,
                        scenario=args.scenario)


async def _serve(args: argparse.Namespace, settings: settings_mod.Settings) -> int:
    from bot import serve

    if args.host:
        settings.serve.host = args.host
    if args.port:
        settings.serve.port = args.port
    async with runtime.Runtime(settings, scenario=args.scenario) as rt:
        for line in rt.describe():
            log.info("%s", line)
        await serve.serve(settings, rt, redis_url=rt.redis_url)
    return 0


# -- parser --------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsbot", description="On-call ChatOps teammate.")
    sub = parser.add_subparsers(dest="command", required=True)

    def scenario_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scenario", default=None,
                       help="sandbox scenario (healthy, crashloop, oom, bad-rollout)")

    p = sub.add_parser("demo", help="run everything embedded, then chat in the terminal")
    scenario_arg(p)
    p.add_argument("--user", default="console-user")
    p = sub.add_parser("console", help="chat in the terminal against configured backends")
    scenario_arg(p)
    p.add_argument("--user", default="console-user")
    p = sub.add_parser("say", help="run one message through the pipeline, print the replies")
    p.add_argument("text", nargs="?", default="")
    p.add_argument("--alert", default="", help="an Alertmanager webhook JSON file instead")
    p.add_argument("--as", dest="user", default="cli-user")
    p.add_argument("--thread", default="main")
    p.add_argument("--json", action="store_true")
    scenario_arg(p)
    p = sub.add_parser("route", help="route messages read from stdin, one a line")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("digest", help="build the health digest now; post it to the "
                       "configured digest channels")
    digest_cli.add_arguments(p)
    scenario_arg(p)
    kb_cli.add_parser(sub)
    p = sub.add_parser("forecast", help="forecast the points after a timestamp,value CSV")
    p.add_argument("--csv", required=True, help="timestamp,value rows (ISO 8601 or epoch)")
    p.add_argument("--horizon", type=int, required=True, help="points to forecast")
    p.add_argument("--interval", type=float, default=0.9, help="central interval (0.9)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("replay", help="replay an incident bundle and rank its causes")
    p.add_argument("bundle", help="folder with incident.yaml, cluster.yaml, logs/, metrics.om")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("capture", help="write an incident bundle from the live cluster")
    p.add_argument("--namespace", "-n", required=True)
    p.add_argument("--out", required=True, help="folder to write the bundle into")
    p.add_argument("--minutes", type=int, default=60, help="metric window before now")
    p.add_argument("--question", default="")
    scenario_arg(p)
    p = sub.add_parser("audit", help="read the audit log of requests, decisions, executions")
    p.add_argument("--since", default="", help="a duration (24h) or a time (RFC 3339)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("mcp", help="run the MCP tool server on its own")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    scenario_arg(p)
    p = sub.add_parser("serve", help="HTTP server: Slack, Feishu, Alertmanager webhook, probes")
    p.add_argument("--host", default="", help="bind address (default: SERVE_HOST or 0.0.0.0)")
    p.add_argument("--port", type=int, default=0, help="port (default: SERVE_PORT or 8080)")
    scenario_arg(p)
    return parser


_COMMANDS: dict[str, Callable[[argparse.Namespace, settings_mod.Settings], Any]] = {
    "demo": _demo, "console": _console, "say": _say, "route": _route, "mcp": _mcp,
    "serve": _serve, "audit": audit_cli.run_audit, "replay": _replay, "capture": _capture,
    "digest": digest_cli.run_digest, "forecast": forecast_cli.run_forecast,
    "kb": kb_cli.run_kb,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_mod.load_settings()
    except ValueError as exc:  # pydantic's ValidationError names the bad field
        print(f"opsbot: bad configuration: {exc}", file=sys.stderr)
        return 2
    _setup_logging("WARNING" if args.command in ("demo", "console", "say", "route")
                   else settings.log_level)
    handler = _COMMANDS[args.command]
    try:
        outcome = handler(args, settings)
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
    except KeyboardInterrupt:
        return 130
    except errors.OpsbotError as exc:
        print(f"opsbot: {exc}", file=sys.stderr)
        return 2
    return int(outcome or 0)


if __name__ == "__main__":
    sys.exit(main())
