"""Requests as Slack and Feishu send them: signed, and for Feishu optionally encrypted.

Written from the platforms' documentation, independently of bot/, so that the tests
check the adapters against the rules rather than against themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any
from urllib.parse import urlencode

from Crypto.Cipher import AES

__all__ = ["feishu_encrypt", "feishu_headers", "slack_form", "slack_headers", "slack_json"]


def slack_headers(secret: str, body: bytes, *, timestamp: int | None = None,
                  content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"content-type": content_type, "x-slack-request-timestamp": ts,
            "x-slack-signature": signature}


def slack_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def slack_form(fields: dict[str, Any]) -> bytes:
    return urlencode({k: json.dumps(v) if isinstance(v, dict) else v
                      for k, v in fields.items()}).encode()


def feishu_encrypt(document: dict[str, Any], key: str) -> bytes:
    """``{"encrypt": base64(iv + AES-256-CBC(sha256(key), PKCS#7(json)))}``."""
    plain = json.dumps(document).encode()
    pad = 16 - len(plain) % 16
    iv = os.urandom(16)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    secret = cipher.encrypt(plain + bytes([pad]) * pad)
    return json.dumps({"encrypt": base64.b64encode(iv + secret).decode()}).encode()


def feishu_headers(key: str, body: bytes, *, timestamp: int | None = None,
                   nonce: str = "n0nce") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = hashlib.sha256((ts + nonce + key).encode() + body).hexdigest()
    return {"content-type": "application/json", "x-lark-request-timestamp": ts,
            "x-lark-request-nonce": nonce, "x-lark-signature": signature}
