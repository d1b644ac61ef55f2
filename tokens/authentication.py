"""One authenticator for the REST API and the MCP endpoints: ``Authorization: Bearer gth_…``."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from config.memo import BoundedMemo
from teams.principal import Principal
from teams.selectors import principal_for_user
from tokens.models import ApiToken
from tokens.secrets import token_lookup, token_matches

LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def token_authenticate(raw: str) -> tuple[ApiToken, Principal] | None:
    """Check a token string against the database. None for anything not a live token of an active user."""
    lookup = token_lookup(raw)
    if lookup is None:
        return None
    token = ApiToken.objects.select_related("user").filter(lookup=lookup).first()
    if token is None or not token_matches(raw, pepper_id=token.pepper_id, digest=token.digest):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    server_ids = frozenset(token.servers.values_list("pk", flat=True)) if token.restricted_to_servers else None
    principal = principal_for_user(token.user, token_id=token.pk, server_ids=server_ids)
    return token, principal


# Data plane: principals are remembered per process, keyed by a hash of the token and the catalog version, so a
# revocation (which bumps the version) is honoured on the next request in every process.
_principals: BoundedMemo[tuple[str, int], tuple[Principal | None, float]] = BoundedMemo(50_000)


async def principal_for_bearer(header_value: str | None, *, version: int) -> Principal | None:
    raw = bearer_from_header(header_value)
    if raw is None:
        return None
    key = (hashlib.sha256(raw.encode()).hexdigest(), version)
    now = timezone.now().timestamp()
    remembered = _principals.get(key)
    if remembered is not None and remembered[1] > now:
        return remembered[0]
    found = await database_sync_to_async(token_authenticate)(raw)
    principal, until = None, now + settings.GATEHOUSE_PRINCIPAL_CACHE_SECONDS
    if found is not None:
        token, principal = found
        if token.expires_at is not None:
            until = min(until, token.expires_at.timestamp())
    _principals.put(key, (principal, until))
    return principal


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF: sets ``request.user`` to the token's user and ``request.auth`` to its Principal."""

    def authenticate(self, request):
        header = request.headers.get("Authorization")
        raw = bearer_from_header(header)
        if raw is None:
            return None
        found = token_authenticate(raw)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        token, principal = found
        return token.user, principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="gatehouse"'
