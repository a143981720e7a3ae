"""Decide what a chat message asks for: slash commands first, then the intent classifier.

The router also pulls out the raw phrase naming the object of the message ("checkout-api",
"pod worker-7c9d") and an explicit namespace hint; turning the phrase into a live object
is the target resolver's job, against the real inventory.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, Protocol

from graph import intents

__all__ = [
    "SLASH_COMMANDS",
    "Classifier",
    "Route",
    "extract_namespace",
    "extract_target",
    "route_message",
    "strip_mentions",
]

# Slash command -> route. `/opsbot <sub> ...` means `/<sub> ...`.
SLASH_COMMANDS = {
    "rca": "rca", "fix": "fix", "ask": "ask", "predict": "predict", "forecast": "predict",
    "digest": "digest", "help": "help", "feedback": "feedback", "query": "query",
}
# Commands whose first argument is the object they act on.
_TARGETED = {"rca", "fix", "predict"}


class Classifier(Protocol):
    def predict(self, text: str) -> intents.Prediction: ...


@dataclass(frozen=True)
class Route:
    """Where a message goes.

    route: one of `intents.ROUTES`. target: the raw phrase naming the object, for the
    resolver (None when the message names none). args: the text the route works on (the
    message, or what follows the command and its target). confidence: the classifier's
    probability, 1.0 for slash commands. namespace: an explicit namespace hint.
    """

    route: str
    target: str | None
    args: str
    confidence: float
    source: Literal["slash", "classifier"]
    namespace: str | None = None


# --- mentions ---------------------------------------------------------------------------

_SLACK_USER = re.compile(r"<[@!][^>]*>")  # <@U123>, <@U123|bob>, <!here>, <!subteam^S1|@sre>
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]+))?>")
_SLACK_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_FEISHU_USER = re.compile(r"@_(?:user_\d+|all)\b")
_LEADING_BOT = re.compile(r"^\s*@opsbot\b[:,]?", re.IGNORECASE)


def strip_mentions(text: str) -> str:
    """Remove Slack and Feishu mentions; unwrap Slack links to their label."""
    text = _SLACK_LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _SLACK_CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else "", text)
    text = _FEISHU_USER.sub(" ", _SLACK_USER.sub(" ", text))
    text = _LEADING_BOT.sub(" ", text)
    return " ".join(text.split())


# --- vocabulary ---------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KINDS = frozenset({
    "pod", "po", "deployment", "deploy", "service", "svc", "statefulset", "sts", "daemonset",
    "ds", "node", "job", "cronjob", "replicaset", "rs", "pvc", "configmap", "cm", "hpa",
    "ingress"})
_KIND_PLURALS = frozenset({
    "pods", "deployments", "deploys", "services", "statefulsets", "daemonsets", "nodes",
    "jobs", "cronjobs", "replicasets", "pvcs", "configmaps"})
# Words that are never the name of a workload: grammar, chat filler, and the vocabulary
# of operations itself. Real software names (postgres, kafka, redis, etcd) stay out.
_STOPWORDS = _words("""
a an the this that these those it its it's my our your their his her them they we us you i
me he she one ones some any all every each both other another same such own whole entire
everything something anything nothing everyone someone anyone here there now then today
tonight tomorrow yesterday again still just only also too very really super so quite much
many more most less few lot lots bit please pls plz thx thanks thank ty ok okay yes no not
nope yep hi hey hello yo sir guys team folks bot opsbot
is are was were be been being am do does did done doing has have had having will would
shall should can could may might must need needs let lets make made get got gets go going
gone keep keeps kept
and or but if when while because as of for to from with without in on at by into onto out
up down over under about after before since until via per than like near off back
what what's whats which who whom whose why how where when's wat wtf y u ur
new old latest last previous current next first second third other recent earlier
stuck crashing crashed crashlooping crashloop failing failed broken down dead slow
sluggish flapping erroring evicted pending running ready healthy unhealthy degraded
hung wedged bad good wrong weird fine high low big small
restart restarts restarted restarting roll rollback rollout rollouts revert undo scale
scaled scaling drain cordon uncordon delete deleted kill remove bump raise increase lower
decrease double halve set patch recreate redeploy deployed flush fix fixed fixing
remediate mitigate apply rerun kick bounce reboot check show list describe tail view see
find look give tell investigate diagnose debug analyse analyze explain rca forecast
predict predicted estimate project expect
logs log events event status state health metrics metric graph dashboard alert alerts
cpu memory mem ram disk storage network latency p50 p90 p95 p99 qps rps traffic load
rate error errors 5xx 4xx 500s 502s 503s 504s timeouts timeout oom oomkilled
crashloopbackoff imagepullbackoff errimagepull notready containercreating image version
tag replicas replica instances instance container containers limit limits request
requests resources resource usage count capacity headroom quota throughput
cluster namespace namespaces ns app apps application service services workload workloads
system platform thing things stuff issue issues problem problems incident outage
root cause runbook runbooks docs doc kubectl k8s kube helm promql yaml json sre slo sla
timing throwing returning giving spiked spiking died dying hitting maxed growing filling
sev1 sev2 sev3 sev4 p0 p1 p2 p3 p4 java jvm golang python dns tls ssl http https grpc heap
dump gc e.g i.e etc vs tbd asap fyi eta rto rpo
on-call read-only follow-up x-ray day-to-day long-term short-term built-in real-time
end-to-end re-run roll-back hot-fix hotfix post-mortem postmortem black-friday double-11
e-mail opt-in check-in sign-off root-cause out-of-memory oom-killed crash-loop in-flight
up-to-date rate-limit rate-limits health-check health-checks one-by-one non-prod
newest oldest top bottom fully partly fail fails lag lagging sale sales peak peaks launch
monday tuesday wednesday thursday friday saturday sunday weekend week weeks month months
quarter year day days hour hours minute minutes night morning evening noon midnight
max min maximum minimum projected projection trend trends bigger smaller larger extra
additional config configuration change changes plan planning volume db database growth
exceed time times consumer consumers broker brokers connection connections probe probes
readiness liveness regression release releases build builds two three four five six
seven eight nine ten twice half everybody anybody lol hmm meh gpu gpus
help helping working using responding start starting connect connecting causing caused
happen happening happened understand behind intermittently
""")
_VERSION = re.compile(r"^v?\d+(?:\.\d+)+$")
_NUMBERISH = re.compile(r"^\d[\d.]*(?:[a-z]{0,3})$")

# --- namespace hints -----------------------------------------------------------------------

_NAME = r"([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_NAMESPACE_PATTERNS_TEXT = [
    rf"(?:^|\s)(?:-n\s*|--namespace[=\s]\s*){_NAME}(?![a-z0-9-])",
    rf"(?:\bin\s+(?:the\s+)?)?\b(?:namespace|ns)\b\s*[:=]?\s*{_NAME}(?![a-z0-9-])",
    rf"(?:\bin\s+(?:the\s+)?)?\b{_NAME}\s+(?:namespace|ns)\b",
    rf"在\s*{_NAME}\s*(?:命名空间|名字空间|namespace)",
    rf"(?:命名空间|名字空间)\s*{_NAME}(?![a-z0-9-])",
    rf"(?<![a-z0-9-]){_NAME}\s*(?:命名空间|名字空间)",
]
_NAMESPACE_PATTERNS = [re.compile(p, re.IGNORECASE) for p in _NAMESPACE_PATTERNS_TEXT]
# Words a namespace pattern may catch that are not namespaces ("which namespace", "ns is").
_NOT_NAMESPACES = _STOPWORDS - {"default"}


def extract_namespace(text: str) -> str | None:
    """An explicit namespace hint: `-n shop`, `in namespace shop`, `在 shop 命名空间`."""
    lowered = intents.normalize(text)
    for pattern in _NAMESPACE_PATTERNS:
        for match in pattern.finditer(lowered):
            name = match.group(1).lower()
            if name not in _NOT_NAMESPACES:
                return name
    return None


def _without_namespace(text: str) -> str:
    for pattern in _NAMESPACE_PATTERNS:
        text = pattern.sub(
            lambda m: " " if m.group(1).lower() not in _NOT_NAMESPACES else m.group(0), text)
    return text


# --- target phrase -----------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9][a-z0-9._/-]*[a-z0-9]|[a-z0-9]|[\u4e00-\u9fff]+")
_CODE = re.compile(r"`[^`]*`")
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Verbs and prepositions after which the next real word is what the message is about.
_SLOT_BEFORE = frozenset({
    "restart", "bounce", "reboot", "rollback", "revert", "undo", "scale", "drain", "cordon",
    "uncordon", "delete", "kill", "fix", "remediate", "investigate", "diagnose", "debug",
    "recreate", "flush", "redeploy", "forecast", "predict", "give", "kick", "back", "take",
    "add", "broke", "why",
    "of", "for", "on", "with", "is", "are", "was", "does", "did", "will", "can"})
# Words that may sit between a slot word and the name ("restart the gateway").
_SKIPPABLE = frozenset({"the", "a", "an", "our", "my", "all", "up", "down", "out", "of", "not",
                        "that", "this", "service", "deployment", "deploy", "statefulset"})
# What may follow a message's first word when that word is its subject ("orders 500ing").
_SUBJECT_FOLLOWERS = frozenset({
    "is", "are", "was", "keeps", "keep", "down", "failing", "failed", "broken", "slow",
    "crashing", "crashlooping", "erroring", "latency", "errors", "error", "cpu", "memory",
    "logs", "pods", "500ing", "502ing", "503ing", "timing", "dead", "stuck", "restarting",
    "flapping", "can", "cannot", "cant", "will", "wont", "5xx", "oom", "oomkilled", "giving",
    "returning", "throwing", "not", "qps", "traffic", "disk", "load", "needs"})


def extract_target(text: str) -> str | None:
    """The phrase most likely naming the workload or object a message is about, or None.

    Precision matters more than recall: with no phrase, the resolver looks for known
    names anywhere in the message, while a wrong phrase makes it answer "not found".
    """
    lowered = _without_namespace(_CODE.sub(" ", intents.normalize(strip_mentions(text))))
    lowered = re.sub(r"'s\b", "", lowered)  # geo-svc's -> geo-svc
    lowered = re.sub(r"\bwon't\b", "will not", re.sub(r"\bcan't\b", "can not", lowered))
    lowered = re.sub(r"n't\b", " not", lowered)  # doesn't -> does not
    tokens = _TOKEN.findall(lowered)
    words = [t for t in tokens if not _CJK.match(t)]
    for finder in (_after_kind, _identifier, _leading_subject, _after_slot):
        found = finder(tokens)
        if found:
            return found
    if _CJK.search(lowered):
        # Chinese messages embed the name as the only ASCII word that is not vocabulary.
        candidates = [w for w in words if _is_name(w)]
        if candidates:
            return candidates[0]
    return None


def _is_name(word: str, *, short_ok: bool = False) -> bool:
    return (word not in _STOPWORDS and word not in _KINDS and word not in _KIND_PLURALS
            and not _VERSION.match(word) and not _NUMBERISH.match(word)
            and not _CJK.search(word) and re.match("[a-z0-9]", word) is not None
            and re.search("[a-z]", word) is not None
            and (short_ok or len(word) > 1))


def _after_kind(tokens: list[str]) -> str | None:
    for i, token in enumerate(tokens):
        # "pod x", "deployment orders"; in Chinese "服务 orders", "shop 里的 frontend".
        if (token in _KINDS or token.endswith(("服务", "节点", "实例", "的"))) and (
                i + 1 < len(tokens) and _is_name(tokens[i + 1], short_ok=True)):
            return tokens[i + 1]
        if (token in _KINDS or token in _KIND_PLURALS) and i > 0 and _is_name(tokens[i - 1]):
            return tokens[i - 1]  # "the notifier pod", "kafka statefulset"
    return None


def _identifier(tokens: list[str]) -> str | None:
    for token in tokens:
        if re.search(r"[-_./]", token) and _is_name(token) and not token.startswith("/"):
            head = token.split("/", 1)[0]
            if "/" in token and head in ("cpu", "memory", "mem", "qps", "p99", "and", "or"):
                continue
            return token
    return None


def _after_slot(tokens: list[str]) -> str | None:
    for i, token in enumerate(tokens):
        if token not in _SLOT_BEFORE:
            continue
        j = i + 1
        while j < len(tokens) and tokens[j] in _SKIPPABLE:
            j += 1
        if j < len(tokens) and _is_name(tokens[j]):
            return tokens[j]
    return None


def _leading_subject(tokens: list[str]) -> str | None:
    if len(tokens) >= 2 and _is_name(tokens[0]) and tokens[1] in _SUBJECT_FOLLOWERS:
        return tokens[0]
    return None


# --- routing -----------------------------------------------------------------------------

_SLASH = re.compile(r"^[/、]([a-z][a-z0-9_-]*)(?:\s+|$)(.*)$", re.DOTALL | re.IGNORECASE)


def route_message(text: str, classifier: Classifier) -> Route:
    """Route one chat message: slash commands deterministically, the rest by classifier."""
    cleaned = unicodedata.normalize("NFKC", strip_mentions(text)).strip()
    slash = _SLASH.match(cleaned)
    # A Chinese input method types "、" for "/": accept it before a known command only.
    if slash and (cleaned.startswith("/") or slash.group(1).lower() in SLASH_COMMANDS
                  or slash.group(1).lower() == "opsbot"):
        return _route_slash(slash.group(1).lower(), slash.group(2).strip(), classifier)
    if not cleaned:
        return Route("help", None, "", 1.0, "classifier")
    return _classify(cleaned, classifier)


def _classify(text: str, classifier: Classifier) -> Route:
    prediction = classifier.predict(text)
    target = None if prediction.route == "help" else extract_target(text)
    return Route(prediction.route, target, text, prediction.confidence, "classifier",
                 extract_namespace(text))


_USAGE_QUESTION = re.compile(
    r"^(?:-h|--help|\?|help|usage|syntax)$|\b(?:usage|syntax)\b|how (?:do i|to) use|"
    r"格式|怎么用|咋用|用法|参数|帮助", re.IGNORECASE)


def _route_slash(command: str, rest: str, classifier: Classifier) -> Route:
    if command == "opsbot":
        sub, _, remainder = rest.partition(" ")
        if not sub:
            return Route("help", None, "", 1.0, "slash")
        if sub.lower() in SLASH_COMMANDS:
            return _route_slash(sub.lower(), remainder.strip(), classifier)
        if remainder.strip():
            # `/opsbot why is checkout failing?`: one registered command, free text after it.
            return _classify(rest, classifier)
        return Route("help", None, f"/opsbot {sub}", 1.0, "slash")
    route = SLASH_COMMANDS.get(command)
    if route is None:
        return Route("help", None, f"/{command}", 1.0, "slash")
    namespace = extract_namespace(rest)
    args = " ".join(_without_namespace(rest).split()) if namespace else rest
    if route == "help":
        # The supervisor reads help args starting with "/" as an unknown command.
        return Route("help", None, args.lstrip("/ "), 1.0, "slash")
    if route == "digest" or route == "feedback":
        return Route(route, None, args, 1.0, "slash", namespace)
    if route != "ask" and _USAGE_QUESTION.search(args) and not _is_name(
            args.partition(" ")[0].lower()):
        # "/fix help", "/predict 怎么用": a question about the command, not a request.
        return Route("help", None, command, 1.0, "slash")
    if route in _TARGETED:
        first, _, remainder = args.partition(" ")
        if first.lower() in _KINDS and remainder:
            kind_name, _, remainder = remainder.partition(" ")
            first = kind_name
        if first and _is_name(first.lower()):
            target = first
            if "/" in target and namespace is None:
                head = target.split("/")[0].lower()
                if head not in _KINDS and target.count("/") == 1:
                    namespace = head
            return Route(route, target, remainder.strip(), 1.0, "slash", namespace)
    return Route(route, extract_target(args), args, 1.0, "slash", namespace)
