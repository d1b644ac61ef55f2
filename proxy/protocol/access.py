"""Who is calling: the bearer token checked against the current catalog version, then the token's per-request
scopes (client IP, time window, quota). Shared by every transport.

Behind an authenticating reverse proxy the user may instead be named in PROXY_USER_HEADER (see tokens.client).
A refusal is answered as the transport's 401 (no principal); a refusal of a known token is also recorded as a
blocked TokenUsage row, with its reason, through the usage buffer.
"""
from __future__ import annotations

from catalog.version import catalog_version_current
from teams.principal import Principal
from tokens.authentication import Refused, bearer_from_header, credential_admit, credential_for_bearer
from tokens.authentication import principal_for_proxy_user
from tokens.client import current_client
from tokens.models import TokenUsage
from tokens.usage import UsageEntry, usage_submit


async def authenticate(authorization: str | None) -> tuple[Principal | None, int]:
    """The principal for an ``Authorization`` header value (None if missing, invalid or out of scope) and the
    catalog version."""
    version = await catalog_version_current()
    client = current_client.get()
    if bearer_from_header(authorization) is None and client.via_trusted_proxy:
        # An authenticating reverse proxy (TRUST_PROXY_AUTH, from TRUSTED_PROXY_ADDRESSES only) named the user.
        return await principal_for_proxy_user(client, version=version), version
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
