"""Remove secrets from text and data before it reaches the model or the chat.

Logs, events, object descriptions and chat messages routinely carry credentials (a
connection string printed at start-up, an Authorization header in a debug log, an env
var in a pod spec). Nothing of that may leave for a third-party model endpoint or be
echoed into a channel, so every string on those paths goes through `redact`.
Patterns favour recall over precision: a false positive costs a few characters of
context, a miss leaks a credential.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from graph import chat

__all__ = ["MARK", "looks_secret_key", "redact", "redact_data", "redact_reply"]

MARK = "[REDACTED]"

_SECRET_WORDS = (r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|"
                 r"access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key")
# A key that names a secret, e.g. DB_PASSWORD, slackBotToken, aws_secret_access_key,
# matched on the key split into lower-case words so that "tokenizer" is not one.
_SECRET_KEY = re.compile(rf"(?:^|[^a-z0-9])(?:{_SECRET_WORDS})(?:$|[^a-z0-9])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
# Keys that contain a secret word but name something harmless.
_HARMLESS_KEYS = re.compile(r"(?:secret|token)(?:_?name|_?ref|key_?ref|s_?used|_?budget|"
                            r"_?count|_?limit|_?type|_?file|_?path)$|^max_?tokens$",
                            re.IGNORECASE)

_Sub = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

_PATTERNS: list[_Sub] = [
    # PEM blocks, also when a log cut one off before its END line.
    (re.compile(r"-----BEGIN [A-Z0-9 ]*-----[\s\S]*?(?:-----END [A-Z0-9 ]*-----|\Z)"),
     "[REDACTED PEM BLOCK]"),
    # Authorization headers keep their scheme so the text still reads.
    (re.compile(r"(?i)\b(authorization|proxy-authorization)(\s*[:=]\s*[\"']?)"
                r"(?:(bearer|basic|token|digest)\s+)?(?!(?:bearer|basic|token|digest)\b)"
                r"[A-Za-z0-9._~+/=:-]{6,}"),
     lambda m: f"{m.group(1)}{m.group(2)}{(m.group(3) or '').strip()} {MARK}".rstrip()),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{8,}=*"), f"Bearer {MARK}"),
    # Slack bot, user, app-level and configuration tokens.
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{6,}"), MARK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{6,}"), MARK),
    # AWS access key ids and the secret that goes with them.
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MARK),
    (re.compile(r"(?i)\b(aws_secret_access_key|aws_[a-z_]*token)(\s*[:=]\s*[\"']?)"
                r"[A-Za-z0-9/+=]{16,}"), lambda m: f"{m.group(1)}{m.group(2)}{MARK}"),
    # Well-known token shapes: OpenAI, GitHub, GitLab, Google, Stripe, JWTs.
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"), MARK),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), MARK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{16,}"), MARK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), MARK),
    (re.compile(r"\b[rs]k_live_[A-Za-z0-9]{16,}"), MARK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MARK),
    # user:password@ in URLs (postgres://app:hunter2@db/...).
    (re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,30}://[^\s/:@]{0,256}:)"
                r"[^\s@/]{1,256}@"),
     lambda m: f"{m.group(1)}{MARK}@"),
    # --password X, --token=X on command lines.
    (re.compile(rf"(?i)(--?(?:{_SECRET_WORDS})(?:[\w-]*)?)(=|\s+)(?!\[REDACTED)[^\s\"']+"),
     lambda m: f"{m.group(1)}{m.group(2)}{MARK}"),
    # key=value, key: value and "key": "value" where the key names a secret.
    # The key starts where a token starts and is short: an unbounded key would make
    # this quadratic on long tokens (minified JSON, base64 in logs).
    (re.compile(rf"(?i)([\"']?)(?<![\w.-])([\w.-]{{0,48}}?(?:{_SECRET_WORDS}))\1"
                r"(\s*(?:=|:)\s*)([\"']?)"
                r"(?!\[REDACTED)([^\s\"'&,;}\]]+)"),
     lambda m: m.group(0) if _HARMLESS_KEYS.search(m.group(2)) else
     f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MARK}"),
]


def redact(text: str) -> str:
    """`text` with every credential-looking part replaced by ``[REDACTED]``."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def looks_secret_key(key: str) -> bool:
    """Whether a mapping key or an env var name names a secret."""
    words = _CAMEL.sub(r"\1_\2", key).lower()
    return bool(_SECRET_KEY.search(words)) and not _HARMLESS_KEYS.search(key)


def redact_data(value: Any) -> Any:
    """A copy of JSON-like data with secrets removed from keys' values and from strings.

    Kubernetes lists env vars as ``{"name": "DB_PASSWORD", "value": "..."}``: the value
    is dropped when the name looks secret, whatever the value looks like.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    if isinstance(value, dict):
        named = value.get("name")
        secret_pair = isinstance(named, str) and looks_secret_key(named) and "value" in value
        out: dict[str, Any] = {}
        for key, item in value.items():
            if (secret_pair and key == "value") or (
                    isinstance(key, str) and looks_secret_key(key)
                    and isinstance(item, str | int | float) and not isinstance(item, bool)):
                out[key] = MARK
            else:
                out[key] = redact_data(item)
        return out
    return value


def redact_reply(reply: chat.ChatReply) -> chat.ChatReply:
    """A copy of a chat reply with secrets removed from everything a person reads.

    Logs and object descriptions reach the chat through offline answers too, not only
    through the model. Button values stay as they are: the bot reads them back to act.
    """
    sections = [section.model_copy(update={
        "title": redact(section.title), "text": redact(section.text),
        "fields": [_field(f) for f in section.fields]}) for section in reply.sections]
    return reply.model_copy(update={
        "text": redact(reply.text), "title": redact(reply.title),
        "footnote": redact(reply.footnote), "sections": sections,
        "fields": [_field(f) for f in reply.fields],
        "buttons": [b.model_copy(update={"label": redact(b.label)}) for b in reply.buttons]})


def _field(item: chat.ReplyField) -> chat.ReplyField:
    return item.model_copy(update={"label": redact(item.label), "value": redact(item.value)})
