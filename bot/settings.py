"""Typed settings for opsbot, grouped by backend.

Loaded once in `bot.cli.main` and passed down; nothing imports a global config.
Every group reads plain environment variables named GROUP_FIELD (for example
``REDIS_URL``, ``SLACK_BOT_TOKEN``, ``LLM_BASE_URL``), an optional ``.env`` file and
an optional YAML file (``OPSBOT_CONFIG``). An empty value means "use the embedded or
sandbox default".
"""

from __future__ import annotations

import os
import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

__all__ = [
    "DigestSchedule",
    "DigestSettings",
    "FeishuSettings",
    "KubernetesSettings",
    "LLMSettings",
    "McpSettings",
    "PolicySettings",
    "PrometheusSettings",
    "RedisSettings",
    "ServeSettings",
    "Settings",
    "SlackSettings",
    "load_settings",
]


class RedisSettings(BaseModel):
    url: str = Field("", description="redis:// URL of a Redis 8 with the Query Engine; "
                     "empty starts the embedded Redis under the state dir.")


class PrometheusSettings(BaseModel):
    url: str = Field("", description="Base URL of Prometheus; empty starts a local "
                     "Prometheus over the sandbox's metric history.")
    timeout_s: float = Field(10.0, description="Timeout of one PromQL request, seconds.")


class KubernetesSettings(BaseModel):
    kubeconfig: str = Field("", description="Path of a kubeconfig; empty uses in-cluster "
                            "config when running in a pod, else the sandbox cluster.")
    context: str = Field("", description="kubeconfig context to use; empty is the current one.")
    in_cluster: bool = Field(False, description="Use the pod's service account.")
    sandbox_scenario: str = Field("crashloop", description="Scenario the sandbox cluster "
                                  "starts with when no real cluster is configured.")
    namespaces: list[str] = Field(default_factory=list, description="Namespaces opsbot may "
                                  "read; empty means all. Changes are limited by "
                                  "POLICY_NAMESPACES.")
    timeout_s: float = Field(10.0, description="Timeout of one Kubernetes API request, seconds.")


class LLMSettings(BaseModel):
    base_url: str = Field("", description="OpenAI-compatible base URL (OpenAI, Ollama, vLLM, "
                          "...); empty runs every feature offline.")
    api_key: str = Field("", description="API key for the LLM endpoint.")
    model: str = Field("", description="Chat model name.")
    embeddings_model: str = Field("", description="Embeddings model; empty uses the offline "
                                  "embedder.")
    timeout_s: float = Field(30.0, description="Timeout of one model call, seconds.")
    max_retries: int = Field(1, ge=0, description="Retries of a model call after a timeout, "
                             "connection error, 429 or 5xx, with exponential backoff.")
    retry_backoff_s: float = Field(0.5, ge=0, description="Wait before the first retry, "
                                   "seconds; doubled for each further retry.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature; 0 keeps answers "
                               "repeatable.")
    max_output_tokens: int = Field(800, ge=16, description="Longest answer of one model "
                                   "call, tokens.")
    request_token_budget: int = Field(16000, ge=256, description="Tokens one chat request "
                                      "may spend over all its model calls (input and "
                                      "output); the tool loop answers with what it has when "
                                      "the next call would exceed it.")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failed model calls that "
                                  "open the circuit: calls then fail at once and every "
                                  "feature answers offline.")
    breaker_reset_s: float = Field(60.0, ge=0, description="Seconds the circuit stays open "
                                   "before one trial call is let through.")
    route_below: float = Field(0.6, ge=0, le=1, description="The model routes a message "
                               "when the offline classifier's confidence is below this.")
    agent_max_steps: int = Field(5, ge=1, description="Rounds of read-only tool calls the "
                                 "model may make for one question.")
    tool_output_chars: int = Field(3000, ge=200, description="Characters of one tool result "
                                   "shown to the model (head and tail are kept).")
    history_tokens: int = Field(600, ge=0, description="Tokens of the chat thread's recent "
                                "turns given to the model as context.")

    @property
    def enabled(self) -> bool:
        """LLM mode is on when both an endpoint and a model are configured."""
        return bool(self.base_url and self.model)


class SlackSettings(BaseModel):
    bot_token: str = Field("", description="xoxb- token; empty turns Slack off.")
    signing_secret: str = Field("", description="Signing secret for HTTP requests from Slack.")
    app_token: str = Field("", description="xapp- token; set it to use Socket Mode.")
    api_base_url: str = Field("https://slack.com/api/", description="Slack Web API base URL.")
    digest_channel: str = Field("", description="Channel id the daily digest goes to.")
    alert_channel: str = Field("", description="Channel id where Alertmanager notifications "
                               "open investigated threads.")
    rate_limit_retries: int = Field(3, description="How often one Web API call is retried "
                                    "after a 429, waiting the Retry-After Slack sends.")


class FeishuSettings(BaseModel):
    app_id: str = Field("", description="Feishu/Lark app id; empty turns Feishu off.")
    app_secret: str = Field("", description="Feishu/Lark app secret.")
    verification_token: str = Field("", description="Event verification token.")
    encrypt_key: str = Field("", description="Event encrypt key (also signs callbacks).")
    api_base_url: str = Field("https://open.feishu.cn", description="Open API base URL; "
                              "https://open.larksuite.com for Lark.")
    long_connection: bool = Field(False, description="Receive events over the long "
                                  "connection instead of HTTP callbacks.")
    digest_chat_id: str = Field("", description="Chat id the daily digest goes to.")
    alert_chat_id: str = Field("", description="Chat id where Alertmanager notifications "
                               "open investigated threads.")
    max_clock_skew_s: int = Field(300, description="Callbacks whose X-Lark-Request-Timestamp "
                                  "is further than this from our clock are refused (replays).")
    timeout_s: float = Field(10.0, description="Timeout of one Open API request, seconds.")


class ServeSettings(BaseModel):
    """`opsbot serve`: the HTTP listener and how chat turns are delivered."""

    host: str = Field("0.0.0.0", description="Address the HTTP server binds.")
    port: int = Field(8080, description="Port the HTTP server listens on.")
    platforms: list[str] = Field(default_factory=list, description="Chat platforms to serve "
                                 "(slack, feishu); empty serves every one whose credentials "
                                 "are set.")
    progress_after_s: float = Field(1.5, description="Post a 'Working on it…' message when a "
                                    "turn takes longer than this; the first reply replaces it.")
    card_answer_s: float = Field(2.5, description="How long a Feishu card click may wait for "
                                 "the result before answering with a toast alone (Feishu "
                                 "allows 3 s).")
    dedupe_ttl_s: int = Field(86400, description="How long a delivered event id is remembered "
                              "so that platform retries are dropped.")
    thread_ttl_s: int = Field(7 * 86400, description="How long opsbot keeps answering plain "
                              "messages in a Slack thread it took part in.")
    alerts_token: str = Field("", description="Bearer token Alertmanager must send to POST "
                              "/alerts (http_config.authorization); empty accepts any caller.")
    shutdown_grace_s: float = Field(20.0, description="On shutdown, how long turns in flight "
                                    "may run to completion.")


class PolicySettings(BaseModel):
    approvers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Risk level (low, medium, high, critical) -> user ids or group:NAME "
        "allowed to approve it. Empty allows nobody: remediation cannot be approved.",
    )
    groups: dict[str, list[str]] = Field(default_factory=dict,
                                         description="Group name -> member user ids.")
    namespaces: list[str] = Field(default_factory=list, description="Namespaces where "
                                  "remediation may run; empty means all but kube-system.")
    approval_ttl_minutes: int = Field(30, description="Minutes before an approval card expires.")
    auto_approve_low: bool = Field(False, description="Run low-risk actions without approval.")


class McpSettings(BaseModel):
    url: str = Field("", description="Streamable-HTTP URL of a separately deployed opsbot MCP "
                     "server; empty runs the tools in-process.")


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {"daily": "mon-sun", "every day": "mon-sun", "*": "mon-sun",
                "weekdays": "mon-fri", "weekends": "sat,sun"}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _day(token: str) -> str:
    name = token.strip().lower()
    for day in _DAYS:
        # "mon" and "monday" both name Monday; numbers are refused on purpose because
        # cron counts Sunday as 0 and APScheduler counts Monday as 0.
        if name == day or (len(name) > 3 and name.startswith(day) and name.endswith("day")):
            return day
    raise ValueError(f"unknown day {token.strip()!r}: use mon, tue, wed, thu, fri, sat, sun, "
                     "ranges such as mon-fri, or daily / weekdays / weekends")


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Asia/Shanghai, "
                         "Europe/Berlin, UTC)") from exc
    return value


class DigestSchedule(BaseModel):
    """One channel's daily digest: where it goes, and when in the channel's own time."""

    model_config = ConfigDict(extra="forbid")

    platform: Literal["slack", "feishu", "console"] = Field(
        description="Chat platform of the channel; console prints the digest.")
    channel: str = Field(min_length=1, description="Slack channel id or Feishu chat id.")
    time: str = Field("09:00", description="Local time of day, HH:MM (24 h).")
    timezone: str = Field("UTC", description="IANA time zone of `time`, e.g. Asia/Shanghai; "
                          "daylight saving time is followed.")
    days: str = Field("mon-fri", description="Days to post: mon..sun, ranges and lists "
                      "(mon-fri, mon,wed,fri), or daily / weekdays / weekends.")
    namespace: str = Field("", description="Limit the digest to one namespace; empty covers "
                           "every namespace opsbot can see.")

    @field_validator("time")
    @classmethod
    def _valid_time(cls, value: str) -> str:
        match = _CLOCK.match(value.strip())
        if not match:
            raise ValueError(f"time must be HH:MM (24 h), got {value!r}")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        return _check_timezone(value.strip())

    @field_validator("days")
    @classmethod
    def _valid_days(cls, value: str) -> str:
        text = _DAY_ALIASES.get(value.strip().lower(), value)
        parts = []
        for item in text.split(","):
            first, dash, last = item.partition("-")
            parts.append(f"{_day(first)}-{_day(last)}" if dash else _day(first))
        return ",".join(parts)

    @property
    def hour(self) -> int:
        return int(self.time[:2])

    @property
    def minute(self) -> int:
        return int(self.time[3:])

    @property
    def label(self) -> str:
        """How logs and errors name the schedule."""
        return f"{self.platform}:{self.channel} at {self.time} {self.timezone} ({self.days})"


class DigestSettings(BaseModel):
    """The daily health digest and when it is posted."""

    schedules: list[DigestSchedule] = Field(
        default_factory=list,
        description="JSON list of {platform, channel, time, timezone, days, namespace}. "
        "Channels named only by SLACK_DIGEST_CHANNEL or FEISHU_DIGEST_CHAT_ID are posted at "
        "09:00 UTC on weekdays.")
    grace_hours: float = Field(6.0, ge=0, description="A digest missed while opsbot was not "
                               "running is posted late, once, if opsbot is back within this "
                               "many hours of the scheduled time.")
    scheduler: bool = Field(True, description="Post scheduled digests from `opsbot serve`; "
                            "turn off when the Kubernetes CronJob (`opsbot digest --once`) "
                            "posts them instead.")
    timezone: str = Field("UTC", description="Time zone of the day boundary for `/digest` in "
                          "chat and `opsbot digest` without a scheduled channel.")
    services: list[str] = Field(default_factory=list, description="Key services to forecast "
                                "(namespace/service or service); empty takes the three "
                                "busiest.")
    chart: bool = Field(True, description="Attach a chart (restarts per namespace or 5xx "
                        "ratio per service over 24 h) when something is flagged.")

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        return _check_timezone(value.strip())


def _yaml_file() -> str | None:
    path = os.environ.get("OPSBOT_CONFIG", "")
    return path or None


class Settings(BaseSettings):
    """All of opsbot's configuration. Read :mod:`README` for the table of variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    state_dir: str = Field("", description="Where embedded Redis and Prometheus keep data; "
                           "empty is ~/.local/state/opsbot.", alias="OPSBOT_STATE_DIR")
    log_level: str = Field("INFO", alias="OPSBOT_LOG_LEVEL",
                           description="Python logging level.")
    redis: RedisSettings = Field(default_factory=RedisSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    feishu: FeishuSettings = Field(default_factory=FeishuSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings,
                                                     dotenv_settings]
        yaml_file = _yaml_file()
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)

    @property
    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        return Path("~/.local/state/opsbot").expanduser()

    def uses_sandbox_cluster(self) -> bool:
        return not (self.kubernetes.kubeconfig or self.kubernetes.in_cluster)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, ``.env`` and ``OPSBOT_CONFIG``."""
    return Settings(**overrides)

