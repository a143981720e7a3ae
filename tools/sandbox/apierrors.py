"""API errors as Kubernetes `Status` objects, so clients raise with the right code."""

from __future__ import annotations

from typing import Any

from tools import errors

__all__ = [
    "ApiError",
    "SandboxError",
    "already_exists",
    "bad_request",
    "conflict",
    "forbidden",
    "invalid",
    "not_found",
]


class SandboxError(errors.OpsbotError):
    """The sandbox cluster was used wrongly (unknown scenario, bad object)."""


class ApiError(SandboxError):
    """An error answer of the API server: HTTP code, machine reason, human message."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _resource(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_resource(plural, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": plural})


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists",
                    f'{_resource(plural, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": plural})


def conflict(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {_resource(plural, group)} "{name}": the object '
        "has been modified; please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": plural})


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> ApiError:
    """422 with one cause per (field, message)."""
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    resource = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{resource} "{name}" is invalid: {text}', {
        "name": name, "group": group, "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                   for f, m in causes],
    })


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)
