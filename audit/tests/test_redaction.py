from __future__ import annotations

import json

import pytest

from audit.redaction import REDACTED, payload_redacted

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def _stored(message: dict, max_bytes: int = 65536) -> str:
    return payload_redacted(json.dumps(message), max_bytes=max_bytes)[0]


@pytest.mark.parametrize("key", ["password", "client_secret", "api_key", "apiKey", "Authorization", "refresh_token",
                                 "credentials", "X-Api-Key"])
def test_values_of_secret_keys_are_redacted_at_any_depth(key):
    stored = json.loads(_stored({"params": {"arguments": {"nested": [{key: "hunter2-value"}]}}}))
    assert stored["params"]["arguments"]["nested"][0][key] == REDACTED


@pytest.mark.parametrize("secret", [
    "Bearer abcdef.ghijkl-123456", "gth_ABCDEFGH" + "x" * 43, JWT, "sk-proj-abcdefghijklmnopqrstuv",
    "ghp_" + "a1" * 18, "AKIAABCDEFGHIJKLMNOP", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
])
def test_credential_looking_text_is_redacted_inside_strings(secret):
    stored = _stored({"params": {"arguments": {"text": f"please use {secret} now"}}})
    assert secret.split()[-1] not in stored
    assert REDACTED in stored


def test_password_in_urls_and_key_value_text_is_redacted():
    stored = _stored({"text": "connect https://bob:s3cret@db.example.com/x with password=hunter2;"})
    assert "s3cret" not in stored and "hunter2" not in stored
    assert "db.example.com" in stored


def test_ordinary_content_and_progress_tokens_survive():
    message = {"params": {"name": "fixture__echo", "arguments": {"text": "hello world"}, "_meta": {"progressToken": 7}}}
    assert json.loads(_stored(message)) == message


def test_payload_is_clamped_and_flagged():
    stored, truncated = payload_redacted(json.dumps({"text": "é" * 10_000}), max_bytes=1000)
    assert truncated and len(stored.encode()) <= 1000


def test_oversized_payload_is_redacted_as_text():
    text = json.dumps({"api_key": "sk-live-abcdefghijklmnopqrstuvwxyz", "filler": "x" * 10_000})
    stored, truncated = payload_redacted(text, max_bytes=300)
    assert truncated and "abcdefghijklmnop" not in stored
