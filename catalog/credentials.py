"""Upstream credentials: sealed at rest, turned into request headers only in memory."""
from __future__ import annotations

import base64
import json

from config.crypto import seal, unseal

PURPOSE = "catalog.upstream.credentials"


class CredentialError(ValueError):
    pass


def credentials_seal(auth_type: str, credentials: dict | None) -> str:
    """Validate credentials for ``auth_type`` and seal them. ``none`` stores nothing."""
    credentials = credentials or {}
    if auth_type == "none":
        return ""
    if auth_type == "bearer":
        if not isinstance(credentials.get("token"), str) or not credentials["token"]:
            raise CredentialError("Bearer authentication needs a non-empty 'token'.")
        data = {"token": credentials["token"]}
    elif auth_type == "basic":
        username, password = credentials.get("username"), credentials.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str) or ":" in username:
            raise CredentialError("Basic authentication needs 'username' (without ':') and 'password'.")
        data = {"username": username, "password": password}
    elif auth_type == "headers":
        headers = credentials.get("headers")
        if not isinstance(headers, dict) or not headers:
            raise CredentialError("Custom header authentication needs a non-empty 'headers' object.")
        for name, value in headers.items():
            if not isinstance(name, str) or not name.isascii() or not name.replace("-", "").isalnum():
                raise CredentialError(f"Header name {name!r} is not a valid HTTP header name.")
            if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00"):
                raise CredentialError(f"Header {name!r} needs a single-line string value.")
        data = {"headers": headers}
    else:
        raise CredentialError(f"Unknown authentication type {auth_type!r}.")
    return seal(json.dumps(data), purpose=PURPOSE)


def credentials_headers(auth_type: str, sealed: str) -> tuple[tuple[str, str], ...]:
    """The headers that authenticate Gatehouse to the upstream."""
    if auth_type == "none" or not sealed:
        return ()
    data = json.loads(unseal(sealed, purpose=PURPOSE))
    if auth_type == "bearer":
        return (("Authorization", f"Bearer {data['token']}"),)
    if auth_type == "basic":
        pair = base64.b64encode(f"{data['username']}:{data['password']}".encode()).decode()
        return (("Authorization", f"Basic {pair}"),)
    return tuple(sorted(data["headers"].items()))


ENV_PURPOSE = "catalog.upstream.env"


def env_seal(env: dict | None) -> str:
    """Seal the environment of a stdio command (it often carries API keys)."""
    if not env:
        return ""
    if not isinstance(env, dict) or not all(
        isinstance(name, str) and name.replace("_", "").isalnum() and isinstance(value, str) and "\x00" not in value
        for name, value in env.items()
    ):
        raise CredentialError("The environment must map variable names (letters, digits, '_') to strings.")
    return seal(json.dumps(env), purpose=ENV_PURPOSE)


def env_open(sealed: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(json.loads(unseal(sealed, purpose=ENV_PURPOSE)).items())) if sealed else ()


# Every sealed column of the catalog and the purpose it was sealed for: what key rotation re-encrypts.
SEALED_FIELDS = (("credentials_sealed", PURPOSE), ("env_sealed", ENV_PURPOSE))
