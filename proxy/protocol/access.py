"""Who is calling: the bearer token checked against the current catalog version. Shared by every transport."""
from __future__ import annotations

from channels.db import database_sync_to_async

from catalog.selectors import AGGREGATE_SLUG, server_anonymous_principal
from catalog.version import catalog_version_current
from config.memo import BoundedMemo
from teams.principal import Principal
from tokens.authentication import principal_for_bearer

_MISSING = object()
_anonymous: BoundedMemo[tuple[str, int], object] = BoundedMemo(10_000)


async def authenticate(authorization: str | None, *, server_slug: str = AGGREGATE_SLUG) -> tuple[Principal | None, int]:
    """The principal for an ``Authorization`` header value and the catalog version.

    None when the credential is invalid, or missing on a server that does not allow anonymous callers (an invalid
    token is never downgraded to anonymous).
    """
    version = await catalog_version_current()
    if authorization is None and server_slug != AGGREGATE_SLUG:
        return await _anonymous_principal(server_slug, version), version
    return await principal_for_bearer(authorization, version=version), version


async def _anonymous_principal(server_slug: str, version: int) -> Principal | None:
    key = (server_slug, version)
    principal = _anonymous.get(key)
    if principal is None:
        found = await database_sync_to_async(server_anonymous_principal)(slug=server_slug)
        principal = _MISSING if found is None else found
        _anonymous.put(key, principal)
    return None if principal is _MISSING else principal
