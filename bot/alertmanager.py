"""The Alertmanager webhook payload (version 4), validated at the edge.

Alertmanager posts one JSON document per notification group. Only the fields opsbot
relies on are required; unknown fields are kept (Alertmanager adds fields over time)
so that nothing a later reader might want is thrown away.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools import errors

__all__ = ["Alert", "AlertPayload", "InvalidPayload", "parse_payload"]


class InvalidPayload(errors.OpsbotError):
    """The body is not JSON or not an Alertmanager v4 notification; says which part."""


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    # Alertmanager sends "0001-01-01T00:00:00Z" for alerts that have not ended.
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = ""


class AlertPayload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict,
                                               alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)


def _describe(exc: ValidationError) -> str:
    # One line per problem, with the JSON path, so an operator can fix the sender.
    parts = []
    for error in exc.errors()[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "(document)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse_payload(body: bytes) -> AlertPayload:
    """Parse and validate a webhook body; raises :class:`InvalidPayload` with the reason."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object (Alertmanager webhook v4)")
    try:
        return AlertPayload.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(f"not an Alertmanager v4 payload: {_describe(exc)}") from exc
