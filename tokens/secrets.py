"""Token strings: ``gth_<8-char lookup><secret>``, stored as lookup + HMAC-SHA256 under a rotatable pepper."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from django.conf import settings

PREFIX = "gth_"
LOOKUP_LENGTH = 8
_ALPHABET = string.ascii_lowercase + string.digits


def token_generate() -> tuple[str, str]:
    """A new token string and its lookup part."""
    lookup = "".join(secrets.choice(_ALPHABET) for _ in range(LOOKUP_LENGTH))
    return f"{PREFIX}{lookup}{secrets.token_urlsafe(32)}", lookup


def token_lookup(raw: str) -> str | None:
    """The lookup part of a well-formed token string, else None."""
    if not raw.startswith(PREFIX) or len(raw) < len(PREFIX) + LOOKUP_LENGTH + 32 or len(raw) > 128:
        return None
    lookup = raw[len(PREFIX) : len(PREFIX) + LOOKUP_LENGTH]
    return lookup if all(ch in _ALPHABET for ch in lookup) else None


def token_digest(raw: str, *, pepper_id: str | None = None) -> tuple[str, str]:
    """HMAC-SHA256 of the token under the given pepper (default: the active one). Returns (pepper id, hex)."""
    peppers = settings.GATEHOUSE_TOKEN_PEPPERS
    if pepper_id is None:
        pepper_id = next(iter(peppers))
    pepper = peppers.get(pepper_id)
    if pepper is None:
        raise KeyError(pepper_id)
    return pepper_id, hmac.new(pepper, raw.encode(), hashlib.sha256).hexdigest()


def token_matches(raw: str, *, pepper_id: str, digest: str) -> bool:
    try:
        _, computed = token_digest(raw, pepper_id=pepper_id)
    except KeyError:
        return False
    return hmac.compare_digest(computed, digest)
