"""Secrets at rest: AES-256-GCM under the key ring GATEHOUSE_ENCRYPTION_KEYS.

A sealed value reads ``<key id>:<urlsafe base64 of nonce || ciphertext>``. The first key of the ring seals; any key of
the ring opens, so keys can be rotated by adding a new first entry. ``purpose`` is bound as associated data, so a
value sealed for one use cannot be replayed as another.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


class SecretDecryptionError(Exception):
    pass


def seal(plaintext: str, *, purpose: str) -> str:
    key_id, key = next(iter(settings.GATEHOUSE_ENCRYPTION_KEYS.items()))
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{key_id}:{base64.urlsafe_b64encode(nonce + ciphertext).decode()}"


def unseal(sealed: str, *, purpose: str) -> str:
    key_id, _, encoded = sealed.partition(":")
    key = settings.GATEHOUSE_ENCRYPTION_KEYS.get(key_id)
    if key is None:
        raise SecretDecryptionError(f"No encryption key with id {key_id!r} is configured.")
    try:
        raw = base64.urlsafe_b64decode(encoded)
        if base64.urlsafe_b64encode(raw).decode() != encoded:
            # Lenient base64 ignores anything after the padding; a sealed value has exactly one spelling.
            raise ValueError("not canonical base64")
        return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode()).decode()
    except (InvalidTag, ValueError):
        raise SecretDecryptionError(f"A secret sealed with key {key_id!r} could not be decrypted.") from None


def sealed_key_id(sealed: str) -> str:
    return sealed.partition(":")[0]


def active_key_id() -> str:
    return next(iter(settings.GATEHOUSE_ENCRYPTION_KEYS))


def reseal(sealed: str, *, purpose: str) -> str | None:
    """``sealed`` re-encrypted under the active key, or None when it already is (so rotation is idempotent).
    Raises SecretDecryptionError when no key of the ring opens it."""
    if not sealed or sealed_key_id(sealed) == active_key_id():
        return None
    return seal(unseal(sealed, purpose=purpose), purpose=purpose)
