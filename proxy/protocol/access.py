"""Who is calling: the bearer token checked against the current catalog version, then the token's per-request
scopes (client IP, time window, quota). Shared by every transport.

Behind an authenticating reverse proxy the user may instead be named in PROXY_USER_HEADER (see tokens.client).
A refusal is answered as the transport's 401 (no principal); a refusal of a known token is also recorded as a
blocked TokenUsage row, with its reason, through the usage buffer.
"""
from __future__ import annotations

from channels.db import database_sync_to_async

from catalog.selectors import AGGREGATE_SLUG, server_anonymous_principal
from catalog.version import catalog_version_current
from config.memo import BoundedMemo
from teams.principal import Principal
from tokens.authentication import Refused, bearer_from_header, credential_admit, credential_for_bearer
from tokens.authentication import principal_for_proxy_user
from tokens.client import current_client
from tokens.models import TokenUsage
from tokens.usage import UsageEntry, usage_submit

_MISSING = object()
_anonymous: BoundedMemo[tuple[str, int], object] = BoundedMemo(10_000)


async def authenticate(authorization: str | None, *, server_slug: str = AGGREGATE_SLUG) -> tuple[Principal | None, int]:
    """The principal for an ``Authorization`` header value and the catalog version.

    None when the credential is missing, invalid or out of scope. Without any ``Authorization`` header, a virtual
    server that allows anonymous callers admits the client as anonymous (an invalid token is never downgraded).
    """
    version = await catalog_version_current()
    client = current_client.get()
    if bearer_from_header(authorization) is None:
        if client.via_trusted_proxy:
            # An authenticating reverse proxy (TRUST_PROXY_AUTH, from TRUSTED_PROXY_ADDRESSES only) named the user.
            return await principal_for_proxy_user(client, version=version), version
        if authorization is None and server_slug != AGGREGATE_SLUG:
            return await _anonymous_principal(server_slug, version), version
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


async def _anonymous_principal(server_slug: str, version: int) -> Principal | None:
    key = (server_slug, version)
    principal = _anonymous.get(key)
    if principal is None:
        found = await database_sync_to_async(server_anonymous_principal)(slug=server_slug)
        principal = _MISSING if found is None else found
        _anonymous.put(key, principal)
    return None if principal is _MISSING else principal
