"""Access tokens of an external OAuth authorization server (Gatehouse as an OAuth 2.1 resource server).

Off unless ``OAUTH_ISSUER`` is set. A JWT whose (unverified) ``iss`` names that issuer is verified here instead of as
one of Gatehouse's own JWTs:

- the signature, with a key of the issuer's JWKS chosen by the token's ``kid``, under an algorithm of
  ``OAUTH_ALGORITHMS`` (asymmetric only, so a public key can never double as an HMAC secret);
- ``iss`` exactly, ``aud`` against ``OAUTH_AUDIENCE`` (default: Gatehouse's resource URL), ``exp`` (required) and
  ``nbf`` with ``OAUTH_LEEWAY_SECONDS`` of clock skew;
- the user is the active Gatehouse user whose email equals the ``OAUTH_USER_CLAIM`` claim; no user, no access;
- the ``scope`` claim narrows what the token may do (``oauth_permissions``): no scope, no permission.

The JWKS is fetched through the SSRF guard (config.egress), from ``OAUTH_JWKS_URL`` or the ``jwks_uri`` of the
issuer's metadata, kept ``OAUTH_JWKS_CACHE_SECONDS``, and fetched again when a token names an unknown ``kid`` (a key
rotation), at most once per ``OAUTH_JWKS_REFRESH_SECONDS`` so a flood of made-up kids cannot hammer the issuer.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import jwt
from django.conf import settings

from config.egress import EgressRefused, egress_client
from config.wellknown import public_url
from teams import roles
from tokens.jwt import ASYMMETRIC, JwtError, jwt_decode

logger = logging.getLogger(__name__)

# The OAuth scope a client asks for to use Gatehouse over MCP; any Gatehouse permission name is a scope too.
MCP_SCOPE = "mcp"
MCP_PERMISSIONS = frozenset({
    roles.SERVERS_USE, roles.TOOLS_READ, roles.TOOLS_EXECUTE, roles.RESOURCES_READ, roles.PROMPTS_READ,
})
_FETCH_TIMEOUT = 5.0
_MAX_DOCUMENT_BYTES = 256 * 1024


def oauth_enabled() -> bool:
    return bool(settings.OAUTH_ISSUER)


def oauth_issued(raw: str) -> bool:
    """Whether a JWT claims to come from the configured external issuer (nothing is verified yet)."""
    if not settings.OAUTH_ISSUER:
        return False
    try:
        claims = jwt.decode(raw, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return claims.get("iss") == settings.OAUTH_ISSUER


def oauth_audiences() -> list[str]:
    return list(settings.OAUTH_AUDIENCE) or [url for url in (public_url(),) if url]


def oauth_algorithms() -> list[str]:
    return [alg for alg in settings.OAUTH_ALGORITHMS if alg in ASYMMETRIC]


def configuration_errors() -> list[str]:
    """What is wrong with the OAUTH_* settings (start-up check tokens.E003)."""
    if not settings.OAUTH_ISSUER:
        return []
    errors = []
    refused = [alg for alg in settings.OAUTH_ALGORITHMS if alg not in ASYMMETRIC]
    if refused or not settings.OAUTH_ALGORITHMS:
        errors.append(f"OAUTH_ALGORITHMS must name asymmetric algorithms only ({', '.join(ASYMMETRIC)}); "
                      f"not {', '.join(refused) or 'nothing'}.")
    if not oauth_audiences():
        errors.append("OAUTH_ISSUER is set but neither OAUTH_AUDIENCE nor GATEHOUSE_PUBLIC_URL names this resource.")
    return errors


def oauth_permissions(claims: dict[str, Any]) -> frozenset[str]:
    """The Gatehouse permissions a token's ``scope`` claim grants (at most: the user's own permissions still apply).

    ``mcp`` grants MCP use (servers.use, tools.read, tools.execute, resources.read, prompts.read); a Gatehouse
    permission name (``servers.read``, ``upstreams.manage`` …) grants itself; other scopes grant nothing.
    """
    scope = claims.get("scope", "")
    # RFC 9068 says a space-separated string; some issuers send a list.
    if isinstance(scope, str):
        names = scope.split()
    else:
        names = [name for name in scope if isinstance(name, str)] if isinstance(scope, list) else []
    granted: set[str] = set()
    for name in names:
        if name == MCP_SCOPE:
            granted |= MCP_PERMISSIONS
        elif name in roles.PERMISSIONS:
            granted.add(name)
    return frozenset(granted)


@dataclass
class _KeySet:
    keys: dict[str, dict[str, Any]]
    fetched_at: float


_lock = threading.Lock()
_cached: _KeySet | None = None
_last_fetch_attempt = 0.0


def _get_json(client: httpx2.Client, url: str) -> dict[str, Any]:
    response = client.get(url, headers={"Accept": "application/json"})
    response.raise_for_status()
    if len(response.content) > _MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {_MAX_DOCUMENT_BYTES} bytes")
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


def _metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 (well-known segment before the issuer's path), then OpenID Connect discovery (after it)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return [
        urlunsplit((parts.scheme, parts.netloc, f"/.well-known/oauth-authorization-server{path}", "", "")),
        urlunsplit((parts.scheme, parts.netloc, f"{path}/.well-known/openid-configuration", "", "")),
    ]


def _jwks_url(client: httpx2.Client) -> str:
    if settings.OAUTH_JWKS_URL:
        return settings.OAUTH_JWKS_URL
    for url in _metadata_urls(settings.OAUTH_ISSUER):
        try:
            metadata = _get_json(client, url)
        except (httpx2.HTTPStatusError, ValueError):
            continue
        # RFC 8414 section 3.3: metadata that names another issuer must not be used.
        if metadata.get("issuer") == settings.OAUTH_ISSUER and isinstance(metadata.get("jwks_uri"), str):
            return metadata["jwks_uri"]
    raise ValueError(f"no usable authorization server metadata for {settings.OAUTH_ISSUER}")


def _fetch() -> _KeySet:
    with egress_client(timeout=_FETCH_TIMEOUT) as client:  # SSRF guard on every connection and redirect
        document = _get_json(client, _jwks_url(client))
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("the JWKS has no 'keys' list")
    usable = {
        str(key.get("kid", "")): key for key in keys
        if isinstance(key, dict) and key.get("use", "sig") == "sig" and key.get("kty") in ("RSA", "EC", "OKP")
    }
    return _KeySet(usable, time.monotonic())


def _key_for(kid: str) -> dict[str, Any]:
    """The JWK named ``kid``: from the cache, or from a fresh fetch when the cache is stale or lacks it."""
    global _cached, _last_fetch_attempt
    with _lock:
        now = time.monotonic()
        stale = _cached is None or now - _cached.fetched_at > settings.OAUTH_JWKS_CACHE_SECONDS
        unknown = _cached is not None and kid not in _cached.keys
        may_refetch = now - _last_fetch_attempt >= settings.OAUTH_JWKS_REFRESH_SECONDS
        if stale or (unknown and may_refetch):
            _last_fetch_attempt = now
            try:
                _cached = _fetch()
            except (httpx2.HTTPError, EgressRefused, ValueError) as exc:
                logger.warning("The keys of OAuth issuer %s cannot be fetched: %s", settings.OAUTH_ISSUER, exc)
                if _cached is None or stale:
                    raise JwtError("The token issuer's keys cannot be fetched.") from None
        key = _cached.keys.get(kid) if _cached is not None else None
    if key is None:
        raise JwtError("The JWT is signed with a key the issuer does not publish.")
    return key


def jwks_forget() -> None:
    """Drop the cached key set (tests, and after changing OAUTH_* settings)."""
    global _cached, _last_fetch_attempt
    with _lock:
        _cached, _last_fetch_attempt = None, 0.0


def oauth_verify(raw: str) -> dict[str, Any]:
    """The claims of a genuine, current access token of the external issuer; raises JwtError (reason safe to show)."""
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.InvalidTokenError:
        raise JwtError("The JWT is not valid.") from None
    algorithms = oauth_algorithms()
    if header.get("alg") not in algorithms:
        raise JwtError("The JWT is not signed with an allowed algorithm.")
    try:
        key = jwt.PyJWK(_key_for(str(header.get("kid", ""))), algorithm=header["alg"])
    except jwt.PyJWKError:
        raise JwtError("The JWT's key does not fit its algorithm.") from None
    return jwt_decode(
        raw, key, algorithms=algorithms, audience=oauth_audiences(), issuer=settings.OAUTH_ISSUER,
        required=["exp", "iss", "aud"], algorithm_refusal="an allowed algorithm", leeway=settings.OAUTH_LEEWAY_SECONDS,
    )


def oauth_user_identity(claims: dict[str, Any]) -> str | None:
    """The email the token names in ``OAUTH_USER_CLAIM``, normalised; None when absent."""
    value = claims.get(settings.OAUTH_USER_CLAIM)
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower()
