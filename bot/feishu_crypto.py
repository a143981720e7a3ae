"""Feishu/Lark callback security: signature, timestamp skew, token and decryption.

Done here rather than by lark-oapi's dispatcher because the dispatcher answers 500 on a
bad signature (Feishu then retries a forged request) and never checks the timestamp,
so a captured request could be replayed forever.

Feishu's rules, when an encrypt key is configured:

- ``X-Lark-Signature`` is ``sha256_hex(timestamp + nonce + encrypt_key + raw_body)``
  with ``X-Lark-Request-Timestamp`` and ``X-Lark-Request-Nonce``;
- the body is ``{"encrypt": base64(iv + AES-256-CBC(plaintext))}`` with the key
  ``sha256(encrypt_key)`` and PKCS#7 padding.

Without an encrypt key Feishu signs nothing and the verification token in the body is
the only proof of origin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from Crypto.Cipher import AES

from tools import errors

__all__ = ["BadRequest", "Unauthorized", "decrypt", "open_body", "signature", "verify_token"]

_BLOCK = 16


class Unauthorized(errors.OpsbotError):
    """Signature, timestamp or token check failed: answer 401."""


class BadRequest(errors.OpsbotError):
    """The body cannot be read (not JSON, not decryptable): answer 400."""


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def decrypt(encrypted: str, encrypt_key: str) -> str:
    """Plaintext of an ``encrypt`` field."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"encrypt field is not base64: {exc}") from exc
    if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
        raise BadRequest("encrypt field has the wrong length for AES-CBC")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    padded = AES.new(key, AES.MODE_CBC, raw[:_BLOCK]).decrypt(raw[_BLOCK:])
    pad = padded[-1]
    if not 1 <= pad <= _BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise BadRequest("cannot decrypt the event: wrong encrypt key?")
    try:
        return padded[:-pad].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("cannot decrypt the event: wrong encrypt key?") from exc


def _check_signature(headers: Mapping[str, str], body: bytes, encrypt_key: str,
                     max_skew_s: int, now: float) -> None:
    timestamp = headers.get("x-lark-request-timestamp", "")
    nonce = headers.get("x-lark-request-nonce", "")
    sent = headers.get("x-lark-signature", "")
    if not (timestamp and sent):
        raise Unauthorized("missing X-Lark-Request-Timestamp or X-Lark-Signature")
    try:
        skew = abs(now - int(timestamp))
    except ValueError as exc:
        raise Unauthorized("malformed X-Lark-Request-Timestamp") from exc
    if skew > max_skew_s:
        raise Unauthorized(f"stale request timestamp ({int(skew)} s from our clock)")
    if not hmac.compare_digest(signature(timestamp, nonce, encrypt_key, body), sent):
        raise Unauthorized("bad signature")


def verify_token(document: Mapping[str, Any], verification_token: str) -> None:
    """The token is in ``header.token`` (schema 2.0) or at the top (1.0, challenges)."""
    if not verification_token:
        return
    header = document.get("header")
    token = header.get("token") if isinstance(header, dict) else document.get("token")
    if not isinstance(token, str) or not hmac.compare_digest(token, verification_token):
        raise Unauthorized("bad verification token")


def open_body(body: bytes, headers: Mapping[str, str], *, encrypt_key: str,
              verification_token: str, max_skew_s: int,
              now: float | None = None) -> dict[str, Any]:
    """Check and decode one callback; returns the plaintext document.

    ``headers`` must have lower-case names. A ``url_verification`` challenge is let
    through unsigned (Feishu does not always sign it and it changes nothing) but still
    needs the verification token.
    """
    try:
        outer = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(outer, dict):
        raise BadRequest("body must be a JSON object")
    signed = "x-lark-signature" in headers
    if encrypt_key and signed:
        _check_signature(headers, body, encrypt_key, max_skew_s,
                         time.time() if now is None else now)
    if "encrypt" in outer:
        if not encrypt_key:
            raise BadRequest("encrypted event but no encrypt key is configured")
        try:
            document = json.loads(decrypt(str(outer["encrypt"]), encrypt_key))
        except json.JSONDecodeError as exc:
            raise BadRequest(f"decrypted event is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise BadRequest("decrypted event must be a JSON object")
    else:
        document = outer
    verify_token(document, verification_token)
    if encrypt_key and not signed and document.get("type") != "url_verification":
        raise Unauthorized("missing X-Lark-Signature")
    if not (encrypt_key or verification_token):
        raise Unauthorized("feishu verification token or encrypt key must be configured")
    return document
