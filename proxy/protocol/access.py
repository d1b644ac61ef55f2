"""Who is calling: the bearer token checked against the current catalog version, then the token's per-request
scopes (client IP, time window, quota). Shared by every transport.

A refusal is answered as the transport's 401 (no principal); a refusal of a known token is also recorded as a
blocked TokenUsage row, with its reason, through the usage buffer.
"""
from __future__ import annotations

from catalog.version import catalog_version_current
from teams.principal import Principal
from tokens.authentication import Refused, credential_admit, credential_for_bearer
from tokens.client import current_client
from tokens.models import TokenUsage
from tokens.usage import UsageEntry, usage_submit


async def authenticate(authorization: str | None) -> tuple[Principal | None, int]:
    """The principal for an ``Authorization`` header value (None if missing, invalid or out of scope) and the
    catalog version."""
    version = await catalog_version_current()
    client = current_client.get()
    try:
        credential = await credential_for_bearer(authorization, version=version)
        credential_admit(credential, client=client)
    except Refused as refused:
        if refused.token_id is not None or refused.jti:
            await usage_submit(UsageEntry(
                method="mcp", outcome=TokenUsage.Outcome.BLOCKED, token_id=refused.token_id, jti=refused.jti,
                user_id=refused.user_id, ip=client.ip, user_agent=client.user_agent, reason=refused.reason,
                status=401,
            ))
        return None, version
    return credential.principal, version
