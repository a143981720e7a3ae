"""Feishu callback checks, against requests built from Feishu's documented rules."""

from __future__ import annotations

import json
import time

import pytest
from fakes.signing import feishu_encrypt, feishu_headers

from bot import feishu_crypto

KEY = "test key"
TOKEN = "tok"
EVENT = {"schema": "2.0", "header": {"event_id": "e1", "token": TOKEN,
                                     "event_type": "im.message.receive_v1"}, "event": {}}


def open_body(body: bytes, headers: dict[str, str], **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {"encrypt_key": KEY, "verification_token": TOKEN,
                                  "max_skew_s": 300}
    options.update(kwargs)
    return feishu_crypto.open_body(body, headers, **options)  # type: ignore[arg-type]


def test_decrypts_and_verifies() -> None:
    body = feishu_encrypt(EVENT, KEY)
    assert open_body(body, feishu_headers(KEY, body)) == EVENT


def test_known_vector_from_the_docs() -> None:
    # Feishu's documentation example: key "test key" decrypts this to "hello world".
    assert feishu_crypto.decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=",
                                 "test key") == "hello world"


@pytest.mark.parametrize(("mutate", "error"), [
    (lambda h, b: {**h, "x-lark-signature": "0" * 64}, "bad signature"),
    (lambda h, b: feishu_headers(KEY, b, timestamp=int(time.time()) - 301), "stale"),
    (lambda h, b: feishu_headers(KEY, b, timestamp=int(time.time()) + 301), "stale"),
    (lambda h, b: {k: v for k, v in h.items() if k != "x-lark-signature"}, "missing"),
    (lambda h, b: {**h, "x-lark-request-timestamp": "soon"}, "malformed"),
])
def test_refusals(mutate: object, error: str) -> None:
    body = feishu_encrypt(EVENT, KEY)
    headers = mutate(feishu_headers(KEY, body), body)  # type: ignore[operator]
    with pytest.raises(feishu_crypto.Unauthorized, match=error):
        open_body(body, headers)


def test_token_and_body_problems() -> None:
    forged = dict(EVENT, header={**EVENT["header"], "token": "forged"})  # type: ignore[dict-item]
    body = feishu_encrypt(forged, KEY)
    with pytest.raises(feishu_crypto.Unauthorized, match="verification token"):
        open_body(body, feishu_headers(KEY, body))
    body = feishu_encrypt(EVENT, "other key")
    with pytest.raises(feishu_crypto.BadRequest, match="decrypt"):
        open_body(body, feishu_headers(KEY, body))
    with pytest.raises(feishu_crypto.BadRequest, match="JSON"):
        open_body(b"{", {})
    plain = json.dumps(EVENT).encode()
    assert open_body(plain, {}, encrypt_key="") == EVENT
    with pytest.raises(feishu_crypto.Unauthorized, match="must be configured"):
        open_body(plain, {}, encrypt_key="", verification_token="")
