from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from catalog.models import VirtualServer
from catalog.version import catalog_version_bump
from tokens.models import ApiToken
from tokens.secrets import token_digest, token_generate


class TokenError(ValueError):
    pass


@transaction.atomic
def token_create(
    *,
    user,
    name: str,
    servers: list[VirtualServer] | None = None,
    expires_days: int | None = None,
    actor=None,
) -> tuple[ApiToken, str]:
    """Create a token; the returned string is the only time the secret exists outside the caller's hands."""
    if not name or len(name) > 100:
        raise TokenError("A token needs a name of 1 to 100 characters.")
    if expires_days is not None and expires_days < 1:
        raise TokenError("Expiry must be at least one day.")
    raw, lookup = token_generate()
    pepper_id, digest = token_digest(raw)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        lookup=lookup,
        digest=digest,
        pepper_id=pepper_id,
        restricted_to_servers=bool(servers),
        expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    if servers:
        token.servers.set(servers)
    audit_record(
        "token.create",
        actor=actor or user,
        target=token,
        data={"name": name, "servers": [server.slug for server in servers or []], "expires_days": expires_days},
    )
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        # Cached principals are keyed by the catalog version: bumping it makes every process re-check the token.
        catalog_version_bump()
        audit_record("token.revoke", actor=actor, target=token)
    return token
