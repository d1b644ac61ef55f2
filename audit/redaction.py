"""Redacting secrets from captured MCP payloads before they are stored.

Two passes: values under secret-looking keys are replaced whole (at any depth), then every string is scanned for
credential-looking text (bearer and basic credentials, Gatehouse tokens, JWTs, well-known API key formats, private
keys, passwords in URLs and ``key=value`` pairs). A payload too large to parse is cut to the size limit first and
scanned as text, keys included.
"""
from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "[REDACTED]"

# Keys whose value is a secret whatever it looks like. Protocol keys that merely contain "token" are not secrets.
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|authori[sz]ation|credential"
    r"|cookie|session[-_]?id|signature",
    re.IGNORECASE,
)
_NOT_SECRET_KEYS = frozenset({"progressToken"})

_KEYS = r"(?:password|passwd|passphrase|secret|token|api[-_]?key|access[-_]?key|authorization|credentials?)"
_SECRET_TEXT = [
    # Authorization header values.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), r"\1 " + REDACTED),
    # Gatehouse API tokens (tokens.secrets.PREFIX).
    (re.compile(r"\bgth_[A-Za-z0-9_-]{4,}"), REDACTED),
    # JWTs, also cut short (header.payload[.signature]).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?"), REDACTED),
    # Well-known API key formats: OpenAI/Anthropic/Stripe, GitHub, Slack, AWS access keys, Google API keys.
    (re.compile(r"\b(?:sk|pk|rk)[-_](?:[A-Za-z0-9]+[-_])?[A-Za-z0-9_-]{12,}"), REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), REDACTED),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL), REDACTED),
    # user:password@ in URLs.
    (re.compile(r"(?<=://)[^/\s:@\"']+:[^/\s@\"']+@"), REDACTED + "@"),
    # password=..., "api_key": "...", token: ... inside free text or JSON text.
    (
        re.compile(rf"({_KEYS}\"?\s*[:=]\s*\"?)[^\s\"&,;}}]+", re.IGNORECASE),
        r"\1" + REDACTED,
    ),
]


def _secret_key(key: Any) -> bool:
    return isinstance(key, str) and key not in _NOT_SECRET_KEYS and _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets replaced by ``[REDACTED]``."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _secret_key(key) and item not in (None, "") else redact(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _clamped(text: str, max_bytes: int) -> tuple[str, bool]:
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text, False
    return raw[:max_bytes].decode("utf-8", errors="ignore"), True


def payload_redacted(text: str, *, max_bytes: int) -> tuple[str, bool]:
    """The JSON text of one message as stored: redacted and at most ``max_bytes`` long; True when it was cut."""
    if len(text) > 4 * max_bytes:
        # Too large to be worth parsing: only the stored part is scanned, as text.
        clamped, _ = _clamped(text, max_bytes)
        return redact_text(clamped), True
    try:
        stored = json.dumps(redact(json.loads(text)), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        stored = redact_text(text)
    return _clamped(stored, max_bytes)
