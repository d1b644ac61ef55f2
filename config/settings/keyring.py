"""Parsing of the key rings read from the environment (encryption keys and token peppers)."""
from __future__ import annotations

import base64
import binascii
import re

from django.core.exceptions import ImproperlyConfigured

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# The decoder silently drops characters outside the alphabet (a stray '+', '/' or quote would change the key).
_URLSAFE_B64 = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def parse_key_ring(name: str, value: str, *, key_bytes: int | None = None, min_bytes: int = 32) -> dict[str, bytes]:
    """Parse ``id:urlsafe-base64`` entries, comma-separated. The first entry is the active key.

    Raises ImproperlyConfigured naming the variable and the bad entry (never the key material).
    """
    ring: dict[str, bytes] = {}
    for position, entry in enumerate((item.strip() for item in value.split(",") if item.strip()), start=1):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ImproperlyConfigured(f"{name}: entry {position} must look like 'id:urlsafe-base64-key'.")
        try:
            if not _URLSAFE_B64.match(encoded):
                raise ValueError
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{name}: key '{key_id}' is not valid urlsafe base64.") from None
        if key_bytes is not None and len(key) != key_bytes:
            raise ImproperlyConfigured(f"{name}: key '{key_id}' must decode to exactly {key_bytes} bytes.")
        if len(key) < min_bytes:
            raise ImproperlyConfigured(f"{name}: key '{key_id}' must decode to at least {min_bytes} bytes.")
        if key_id in ring:
            raise ImproperlyConfigured(f"{name}: key id '{key_id}' appears twice.")
        ring[key_id] = key
    if not ring:
        raise ImproperlyConfigured(f"{name} must hold at least one 'id:key' entry.")
    return ring


def new_key_entry(key_id: str) -> str:
    import os

    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"
