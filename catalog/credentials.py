"""Upstream credentials: sealed at rest, turned into request headers only in memory."""
from __future__ import annotations

import base64
import json

from config.crypto import seal, unseal

PURPOSE = "catalog.upstream.credentials"


OAUTH_USER = "oauth_user"
OAUTH_CLIENT_CREDENTIALS = "oauth_client_credentials"
OAUTH_TYPES = (OAUTH_USER, OAUTH_CLIENT_CREDENTIALS)
# What an administrator may set for an OAuth upstream. ``issuer`` skips the protected-resource metadata lookup;
# ``resource`` overrides the RFC 8707 resource indicator (the upstream's canonical URL by default).
_OAUTH_FIELDS = ("client_id", "client_secret", "scope", "issuer", "token_endpoint", "resource")


class CredentialError(ValueError):
    pass


def _oauth_settings(auth_type: str, credentials: dict) -> dict:
    unknown = set(credentials) - set(_OAUTH_FIELDS)
    if unknown:
        raise CredentialError(f"Unknown OAuth setting(s): {', '.join(sorted(unknown))}.")
    data = {}
    for name in _OAUTH_FIELDS:
        value = credentials.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > 2048 or any(ch in value for ch in "\r\n\x00"):
            raise CredentialError(f"The OAuth setting {name!r} must be a single-line string.")
        data[name] = value
    for name in ("issuer", "token_endpoint", "resource"):
        if name in data and not data[name].startswith(("https://", "http://")):
            raise CredentialError(f"The OAuth setting {name!r} must be an http(s) URL.")
    if "client_secret" in data and "client_id" not in data:
        raise CredentialError("An OAuth client secret needs its 'client_id'.")
    if auth_type == OAUTH_CLIENT_CREDENTIALS:
        if "client_id" not in data or "client_secret" not in data:
            raise CredentialError("OAuth client credentials need 'client_id' and 'client_secret'.")
        if "token_endpoint" not in data and "issuer" not in data:
            raise CredentialError("OAuth client credentials need a 'token_endpoint' or an 'issuer' to discover it.")
    return data


def oauth_settings_open(auth_type: str, sealed: str) -> dict:
    """The OAuth settings of an upstream (client id and secret, scope, issuer ...): in memory only."""
    if auth_type not in OAUTH_TYPES or not sealed:
        return {}
    return json.loads(unseal(sealed, purpose=PURPOSE))


def oauth_settings_seal(settings_: dict) -> str:
    """Re-seal OAuth settings Gatehouse changed itself (a dynamic client registration is added)."""
    return seal(json.dumps(settings_), purpose=PURPOSE)


def credentials_seal(auth_type: str, credentials: dict | None) -> str:
    """Validate credentials for ``auth_type`` and seal them. ``none`` stores nothing."""
    credentials = credentials or {}
    if auth_type == "none" or (auth_type == OAUTH_USER and not credentials):
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
    elif auth_type in OAUTH_TYPES:
        data = _oauth_settings(auth_type, credentials)
    else:
        raise CredentialError(f"Unknown authentication type {auth_type!r}.")
    return seal(json.dumps(data), purpose=PURPOSE)


def credentials_headers(auth_type: str, sealed: str) -> tuple[tuple[str, str], ...]:
    """The headers that authenticate Gatehouse to the upstream."""
    if auth_type == "none" or auth_type in OAUTH_TYPES or not sealed:
        # OAuth tokens are not fixed headers: proxy.upstream.oauth adds them per request.
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


CONNECTION_PURPOSE = "catalog.upstream.connection"


def connection_tokens_seal(access_token: str, refresh_token: str | None) -> str:
    tokens = {"access_token": access_token, "refresh_token": refresh_token or ""}
    return seal(json.dumps(tokens), purpose=CONNECTION_PURPOSE)


def connection_tokens_open(sealed: str) -> tuple[str, str]:
    """(access token, refresh token or "") of a user's upstream connection."""
    data = json.loads(unseal(sealed, purpose=CONNECTION_PURPOSE))
    return data["access_token"], data["refresh_token"]


# Every sealed column of the catalog and the purpose it was sealed for: what key rotation re-encrypts.
SEALED_FIELDS = (("credentials_sealed", PURPOSE), ("env_sealed", ENV_PURPOSE))
# The same for a user's upstream connection (catalog.models.UpstreamConnection).
CONNECTION_SEALED_FIELDS = (("tokens_sealed", CONNECTION_PURPOSE),)
